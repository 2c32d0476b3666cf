/// Why a call to the gateway (JWKS, policy versions, permission registration) failed. Equal by code.
///
/// `description` is meant for logs: it names the failure and, for an HTTP error, the status; never a body.
public struct GatewayFetchError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: String, Sendable, Hashable {
        case unreachable
        case timedOut
        case httpStatus
        case tooLarge
        case invalidBody
        case emptyKeySet
    }

    let code: Code
    /// The HTTP status of an `httpStatus` error.
    public let status: Int?

    private init(_ code: Code, status: Int? = nil) {
        self.code = code
        self.status = status
    }

    /// The connection failed (refused, reset, DNS). AsyncHTTPClient retries refused connections until the
    /// deadline by default, so a gateway that is down often shows as ``timedOut`` instead.
    public static let unreachable = Self(.unreachable)
    /// No complete answer within the configured timeout.
    public static let timedOut = Self(.timedOut)
    /// The gateway answered with a status other than 2xx.
    public static let httpStatus = Self(.httpStatus)
    /// The answer was larger than the configured cap.
    public static let tooLarge = Self(.tooLarge)
    /// The answer was not the expected JSON document.
    public static let invalidBody = Self(.invalidBody)
    /// The JWKS held no usable RS256 key.
    public static let emptyKeySet = Self(.emptyKeySet)

    static func httpStatus(_ status: Int) -> Self { Self(.httpStatus, status: status) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        if let status { return "gateway request failed: \(code.rawValue) \(status)" }
        return "gateway request failed: \(code.rawValue)"
    }

    /// A stable identifier of the failure, for logs and metrics.
    public var reason: String { code.rawValue }
}
