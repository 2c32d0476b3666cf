/// The IAM store: the embedded SQLite file or a shared PostgreSQL database. One conformance suite runs against
/// every implementation.
public protocol GatewayStore: Sendable {
    /// A short description for logs (`sqlite:data/gateway.sqlite`); never credentials.
    var description: String { get }
    /// Answers when the store can serve queries; throws otherwise (readiness).
    func ping() async throws
    /// The highest schema migration applied.
    func schemaVersion() async throws -> Int
    /// Releases connections.
    func close() async throws
}
