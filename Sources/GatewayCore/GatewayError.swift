/// A domain error with a stable `code` (SPEC section 3). Mapped to HTTP in one place of the HTTP layer.
///
/// `detail` is shown to clients: it never holds secrets, tokens, hashes or internal error text.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidRequest = "invalid_request"
        case invalidCredentials = "invalid_credentials"
        case invalidToken = "invalid_token"
        case tokenRevoked = "token_revoked"
        case stalePolicy = "stale_policy"
        case forbidden
        case notFound = "not_found"
        case conflict
        case payloadTooLarge = "payload_too_large"
        case unsupportedMediaType = "unsupported_media_type"
        case requestHeaderFieldsTooLarge = "request_header_fields_too_large"
        case rateLimited = "rate_limited"
        case upstreamUnavailable = "upstream_unavailable"
        case upstreamTimeout = "upstream_timeout"
        case unavailable
        case `internal`
    }

    public var code: Code
    public var detail: String
    /// Seconds to wait, for `rate_limited`.
    public var retryAfter: Int?
    /// Set when a bearer token was presented, so a 401 names `invalid_token` in `WWW-Authenticate`.
    public var bearerPresented: Bool

    public init(_ code: Code, _ detail: String, retryAfter: Int? = nil, bearerPresented: Bool = false) {
        self.code = code
        self.detail = detail
        self.retryAfter = retryAfter
        self.bearerPresented = bearerPresented
    }

    public static func invalidRequest(_ detail: String) -> Self { .init(.invalidRequest, detail) }
    public static func notFound(_ detail: String = "The resource does not exist.") -> Self { .init(.notFound, detail) }
    public static func forbidden(_ detail: String = "The caller lacks the permission this needs.") -> Self {
        .init(.forbidden, detail)
    }
    public static func conflict(_ detail: String) -> Self { .init(.conflict, detail) }
    public static func invalidToken(
        _ detail: String = "The access token is missing, malformed, expired or not valid here."
    ) -> Self {
        .init(.invalidToken, detail, bearerPresented: true)
    }
    public static func `internal`() -> Self { .init(.internal, "The gateway could not complete the request.") }
    public static func unavailable(_ detail: String) -> Self { .init(.unavailable, detail) }

    public var description: String { "\(code.rawValue): \(detail)" }
}
