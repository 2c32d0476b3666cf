import Foundation

/// An `application/problem+json` answer (RFC 9457) in the gateway's shape (SPEC section 3), written the same way
/// by the gateway and by services using this library. Details never carry token content or verification internals.
///
/// A plain value, for any framework: ``status``, ``headers`` and ``body`` are all an adapter writes.
public struct IAMProblem: Encodable, Sendable, Equatable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var code: String
    /// RFC 6750: name `error="invalid_token"` in the challenge only when a bearer token was presented.
    public var bearerTokenPresented = false

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, code
    }

    public init(code: String, status: Int, title: String, detail: String, bearerTokenPresented: Bool = false) {
        self.type = "urn:iam-gateway:problem:\(code)"
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
        self.bearerTokenPresented = bearerTokenPresented
    }

    /// 401 `invalid_token`: no token, or one that failed verification.
    public static func invalidToken(_ error: VerificationError) -> Self {
        let detail =
            error.bearerTokenPresented
            ? "The bearer token could not be verified." : "This request needs a bearer token."
        return Self(
            code: "invalid_token", status: 401, title: "Invalid token", detail: detail,
            bearerTokenPresented: error.bearerTokenPresented)
    }

    /// 401 `stale_policy`: a valid token older than its workspace's policy.
    public static let stalePolicy = Self(
        code: "stale_policy", status: 401, title: "Stale policy version",
        detail: "The token predates a change of roles or permissions; obtain a new token.", bearerTokenPresented: true
    )

    /// 403 `forbidden`: a valid token without what the requirement asks.
    public static func forbidden(_ requirement: PermissionRequirement) -> Self {
        Self(
            code: "forbidden", status: 403, title: "Forbidden",
            detail: "The token does not grant the permission this request needs: \(requirement).")
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 6750), `nil` for other statuses.
    public var wwwAuthenticate: String? {
        guard status == 401 else { return nil }
        return bearerTokenPresented
            ? #"Bearer realm="iam-gateway", error="invalid_token""# : #"Bearer realm="iam-gateway""#
    }

    /// The answer's headers, in order: `Content-Type: application/problem+json`, `Cache-Control: no-store`, and on
    /// a 401 the bearer challenge.
    public var headers: [(name: String, value: String)] {
        var headers = [
            (name: "Content-Type", value: "application/problem+json"), (name: "Cache-Control", value: "no-store"),
        ]
        if let wwwAuthenticate {
            headers.append((name: "WWW-Authenticate", value: wwwAuthenticate))
        }
        return headers
    }

    /// The problem JSON (sorted keys, slashes unescaped).
    public var body: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(self)) ?? Data(#"{"code":"internal","status":500}"#.utf8)
        return Array(body)
    }
}
