import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import IAMEnforcement
import IAMEnforcementHummingbird
import NIOCore
import NIOHTTP1

/// The one place where domain errors become HTTP answers: `application/problem+json` (RFC 9457) with a stable
/// `code`, `WWW-Authenticate` on 401s where a bearer token was presented (RFC 6750) and `Retry-After` on 429s.
extension GatewayError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch code {
        case .invalidRequest: .badRequest
        case .invalidCredentials, .invalidToken, .tokenRevoked, .stalePolicy: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .requestHeaderFieldsTooLarge: .init(code: 431, reasonPhrase: "Request Header Fields Too Large")
        case .rateLimited: .tooManyRequests
        case .upstreamUnavailable: .badGateway
        case .upstreamTimeout: .gatewayTimeout
        case .unavailable: .serviceUnavailable
        case .internal: .internalServerError
        }
    }

    var title: String {
        switch code {
        case .invalidRequest: "Invalid request"
        case .invalidCredentials: "Invalid credentials"
        case .invalidToken: "Invalid token"
        case .tokenRevoked: "Token revoked"
        case .stalePolicy: "Stale policy version"
        case .forbidden: "Forbidden"
        case .notFound: "Not found"
        case .conflict: "Conflict"
        case .payloadTooLarge: "Payload too large"
        case .unsupportedMediaType: "Unsupported media type"
        case .requestHeaderFieldsTooLarge: "Request header fields too large"
        case .rateLimited: "Too many requests"
        case .upstreamUnavailable: "Upstream unavailable"
        case .upstreamTimeout: "Upstream timeout"
        case .unavailable: "Service unavailable"
        case .internal: "Internal error"
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        problemResponse()
    }

    /// The problem+json response for this error.
    public func problemResponse() -> Response {
        let (headers, body) = problemParts()
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// The headers and body of ``problemResponse()``, for writers below Hummingbird (the proxy's event-loop path).
    func problemParts() -> (HTTPFields, ByteBuffer) {
        let problem = IAMProblem(
            code: code.rawValue, status: Int(status.code), title: title, detail: detail,
            bearerTokenPresented: bearerPresented)
        var (headers, body) = problem.parts()
        if let retryAfter {
            headers[.retryAfter] = String(retryAfter)
        }
        return (headers, body)
    }

    /// Maps any error to a gateway error: Hummingbird's own HTTP errors by status, a store that cannot be reached
    /// (``StoreError``: database down, connection lost, no answer in time) to 503 `unavailable`, everything else to
    /// `internal`.
    static func from(_ error: any Error) -> GatewayError {
        switch error {
        case let error as GatewayError:
            return error
        case is StoreError:
            return .unavailable("The gateway's store is unavailable; retry shortly.")
        case let error as HTTPError:
            return from(status: error.status)
        case let error as any HTTPResponseError:
            return from(status: error.status)
        case is DecodingError:
            return .invalidRequest("The request body is not valid JSON of the expected shape.")
        case let error as HTTPParserError:
            // Bad framing met while reading a body (an invalid chunk size, say): the client's fault, never a 500.
            return malformed(error)
        default:
            return .internal()
        }
    }

    /// The answer to bytes that are not an HTTP/1.1 request: 431 for a header over the decoder's limits, 400 otherwise.
    static func malformed(_ error: HTTPParserError) -> GatewayError {
        error == .headerOverflow
            ? .init(.requestHeaderFieldsTooLarge, "The request headers are too large.")
            : .invalidRequest("The request is not valid HTTP/1.1.")
    }

    /// ``problemParts()`` with `Content-Length` set, for writers that frame the message themselves.
    func framedProblemParts() -> (HTTPFields, ByteBuffer) {
        var (fields, body) = problemParts()
        fields[.contentLength] = String(body.readableBytes)
        return (fields, body)
    }

    /// A path with dot segments, encoded separators or malformed escapes: refused before routing.
    static func unsafePath() -> GatewayError {
        .invalidRequest("The path has dot segments, encoded slashes or malformed escapes.")
    }

    /// This error as NIOHTTP1 response parts that close the connection, for handlers in front of Hummingbird's codec.
    func closingResponseParts() -> [HTTPServerResponsePart] {
        var (fields, body) = framedProblemParts()
        fields[.connection] = "close"
        let headers = HTTPHeaders(fields.map { ($0.name.canonicalName, $0.value) })
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: Int(status.code)), headers: headers)
        return [.head(head), .body(.byteBuffer(body)), .end(nil)]
    }

    static func from(status: HTTPResponse.Status) -> GatewayError {
        switch status.code {
        case 400: .invalidRequest("The request is malformed.")
        case 401: .init(.invalidToken, "Authentication is required.")
        case 403: .forbidden()
        case 404: .notFound("No route or endpoint matches this path and method.")
        case 405: .notFound("No route or endpoint matches this path and method.")
        case 409: .conflict("The request conflicts with the current state.")
        case 413: .init(.payloadTooLarge, "The request body is larger than this endpoint accepts.")
        case 431: .init(.requestHeaderFieldsTooLarge, "The request headers are too large.")
        case 429: .init(.rateLimited, "Too many requests.")
        case 503: .unavailable("The gateway cannot serve this request now.")
        default: status.code < 500 ? .invalidRequest("The request was refused.") : .internal()
        }
    }
}
