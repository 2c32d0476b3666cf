import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An `application/problem+json` answer (RFC 9457) in the gateway's shape (SPEC section 3), written the same way
/// by the gateway and by services using this library. Details never carry token content or verification internals.
public struct IAMProblem: Encodable, Sendable {
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

    static func invalidToken(_ error: VerificationError) -> Self {
        let detail =
            error.bearerTokenPresented
            ? "The bearer token could not be verified." : "This request needs a bearer token."
        return Self(
            code: "invalid_token", status: 401, title: "Invalid token", detail: detail,
            bearerTokenPresented: error.bearerTokenPresented)
    }

    static let stalePolicy = Self(
        code: "stale_policy", status: 401, title: "Stale policy version",
        detail: "The token predates a change of roles or permissions; obtain a new token.", bearerTokenPresented: true
    )

    static func forbidden(_ requirement: PermissionRequirement) -> Self {
        Self(
            code: "forbidden", status: 403, title: "Forbidden",
            detail: "The token does not grant the permission this request needs: \(requirement).")
    }

    /// The HTTP answer: problem JSON, `Cache-Control: no-store`, and on a 401 the bearer challenge.
    func response() -> Response {
        let (headers, body) = parts()
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
    }

    /// The headers and body of ``response()``, for writers that set the status themselves.
    public func parts() -> (HTTPFields, ByteBuffer) {
        var headers: HTTPFields = [.contentType: "application/problem+json", .cacheControl: "no-store"]
        if status == 401 {
            headers[.wwwAuthenticate] =
                bearerTokenPresented
                ? #"Bearer realm="iam-gateway", error="invalid_token""# : #"Bearer realm="iam-gateway""#
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(self)) ?? Data(#"{"code":"internal","status":500}"#.utf8)
        return (headers, ByteBuffer(bytes: body))
    }
}
