import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import IAMEnforcement

extension HTTPField.Name {
    static let xAPIKey = Self("X-API-Key")!
    static let xTenantID = Self("X-Tenant-Id")!
    static let xWorkspaceID = Self("X-Workspace-Id")!
    static let xRequestID = Self("X-Request-Id")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xForwardedHost = Self("X-Forwarded-Host")!
}

/// The gateway's session cookie (`HttpOnly; Secure; SameSite=Strict`), holding a client access token.
public enum SessionCookie {
    public static let name = "__Host-iam-session"
}

/// Authenticates a request from `Authorization: Bearer`, `Authorization: ApiKey`, `X-API-Key` or the session cookie.
/// Shared by the API and the proxy.
public struct RequestAuthenticator: Sendable {
    let auth: AuthService

    public init(auth: AuthService) {
        self.auth = auth
    }

    /// `text` without leading and trailing spaces and tabs, on bytes (Foundation's `trimmingCharacters` goes through
    /// UTF-16; what that cost is in Benchmarks/PROFILE.md).
    static func trimmed(_ text: Substring) -> String {
        let isBlank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let bytes = text.utf8
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return String(Substring(bytes[first...last]))
    }

    static let missing = GatewayError(
        .invalidToken, "Authentication is required: a bearer token, an API key or the session cookie.")

    /// The caller, or 401; recorded for the request's access line.
    public func authenticate(_ request: Request, context: some RequestContext) async throws -> Principal {
        let principal = try await authenticate(headers: request.headers)
        (context as? any ObservedRequestContext)?.observation.caller(principal)
        return principal
    }

    /// A request's one credential.
    enum Credential {
        /// A signed token: `Authorization: Bearer` or the session cookie.
        case bearer(String)
        /// `Authorization: ApiKey` or `X-API-Key`.
        case apiKey(String)
    }

    /// The credential of a request with these headers: `Authorization` first, then `X-API-Key`, then the session
    /// cookie; 400 for two of a kind, 401 for a malformed or missing one.
    static func credential(in headers: HTTPFields) throws -> Credential {
        let authorizations = headers[values: .authorization]
        guard authorizations.count <= 1, headers[values: .xAPIKey].count <= 1 else {
            throw GatewayError.invalidRequest("Send one credential only.")
        }
        if let authorization = authorizations.first {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2 else { throw GatewayError.invalidToken() }
            let value = trimmed(parts[1])
            switch parts[0].lowercased() {
            case "bearer":
                return .bearer(value)
            case "apikey":
                return .apiKey(value)
            default:
                throw GatewayError.invalidToken("Unsupported authorization scheme; use Bearer or ApiKey.")
            }
        }
        if let key = headers[.xAPIKey] {
            return .apiKey(trimmed(Substring(key)))
        }
        if let token = sessionCookie(in: headers), !token.isEmpty {
            return .bearer(token)
        }
        throw missing
    }

    /// The caller of a request with these headers, or 401 (also used before a WebSocket upgrade).
    public func authenticate(headers: HTTPFields) async throws -> Principal {
        switch try Self.credential(in: headers) {
        case .bearer(let token):
            return try auth.authenticate(bearer: token).0
        case .apiKey(let key):
            return try await auth.authenticate(apiKey: key)
        }
    }

    /// The caller when the request's credential verifies without the store (a bearer token or the session cookie:
    /// both are signed tokens, usually already in the verified-token cache); `nil` for an API key, a bad credential
    /// or anything else, which ``authenticate(headers:)`` then handles and answers.
    func authenticateInProcess(headers: HTTPFields) -> Principal? {
        guard case .bearer(let token)? = try? Self.credential(in: headers) else { return nil }
        return try? auth.authenticate(bearer: token).0
    }

    /// The value of the gateway's session cookie among the request's `Cookie` headers.
    static func sessionCookie(in headers: HTTPFields) -> String? {
        cookie(SessionCookie.name, in: headers)
    }

    /// The value of the cookie `name` among the request's `Cookie` headers.
    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        let prefix = name + "="
        for value in headers[values: .cookie] {
            for pair in value.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                if trimmed.hasPrefix(prefix) { return String(trimmed.dropFirst(prefix.count)) }
            }
        }
        return nil
    }
}
