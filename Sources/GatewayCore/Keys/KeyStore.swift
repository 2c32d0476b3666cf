/// Durable storage of the key ring. Implementations: the file store under `keys.directory` (embedded default) and
/// the PostgreSQL store shared by replicas, which keeps private keys encrypted.
public protocol KeyStore: Sendable {
    /// A human-readable location for messages (a directory, a table).
    var location: String { get }

    /// Loads and validates the stored ring; `nil` when the store holds none at all.
    /// - Throws: ``KeyRingError`` naming the file or key when anything stored is unreadable or inconsistent.
    func load() async throws -> StoredKeyRing?

    /// Reads the stored ring under the store's exclusive lock, applies `transform`, and persists its result
    /// atomically before releasing the lock. `transform` returns `nil` to change nothing.
    /// - Returns: the ring as stored afterwards.
    func update(_ transform: (KeyRingState?) throws -> KeyRingState?) async throws -> StoredKeyRing

    /// A cheap value that changes whenever the stored ring changes (another process rotated).
    func revision() async throws -> String
}

/// A ring as read from a store, with the revision it was read at.
public struct StoredKeyRing: Sendable {
    public var state: KeyRingState
    /// Changes whenever the stored ring changes; compared with ``KeyStore/revision()``.
    public var revision: String

    public init(state: KeyRingState, revision: String) {
        self.state = state
        self.revision = revision
    }
}
