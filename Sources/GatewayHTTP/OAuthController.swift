import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import IAMEnforcement
import NIOCore

/// `POST /oauth/token` (SPEC 5.1, RFC 6749): form-encoded, client authentication by `client_secret_basic`,
/// `client_secret_post` or none (public clients), RFC 6749 5.2 errors, `Cache-Control: no-store`.
struct OAuthController<Context: RequestContext> {
    let oauth: OAuthService

    /// Form bodies of the token endpoint are small; more is refused.
    static var maximumFormBytes: Int { 64 * 1024 }

    func addRoutes(to router: Router<Context>) {
        // RFC 7662, for confidential clients of the token's tenant.
        router.post("/oauth/introspect") { request, _ -> Response in
            do {
                let form = try await Self.form(request)
                let client = try await oauth.authenticate(try Self.clientCredentials(request.headers, form: form))
                return try Self.answer(try await oauth.introspect(client, token: form["token"]))
            } catch let error as OAuthError {
                return Self.answer(error)
            }
        }
        router.post("/oauth/token") { request, context -> Response in
            do {
                let form = try await Self.form(request)
                let credentials = try Self.clientCredentials(request.headers, form: form)
                switch form["grant_type"] {
                case nil:
                    throw OAuthError(.invalidRequest, "grant_type is required.")
                case OAuthGrant.clientCredentials?:
                    let client = try await oauth.authenticate(credentials)
                    let minted = try await oauth.clientCredentials(client, scope: form["scope"])
                    return try Self.answer(["access_token": minted.token, "token_type": "Bearer", "expires_in": minted.expiresIn] as [String: any Sendable])
                case OAuthGrant.tokenExchange?:
                    let client = try await oauth.authenticate(credentials)
                    let minted = try await oauth.tokenExchange(client, form: form)
                    return try Self.answer([
                        "access_token": minted.token, "issued_token_type": OAuthGrant.accessTokenType, "token_type": "Bearer", "expires_in": minted.expiresIn,
                    ] as [String: any Sendable])
                default:
                    throw OAuthError(.unsupportedGrantType, "Supported grant types: \(OAuthGrant.supported.joined(separator: ", ")).")
                }
            } catch let error as OAuthError {
                return Self.answer(error)
            }
        }
    }

    // MARK: Request

    /// The `application/x-www-form-urlencoded` body as a dictionary; a parameter given twice is `invalid_request`
    /// (RFC 6749 3.2).
    static func form(_ request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/x-www-form-urlencoded" else {
            throw OAuthError(.invalidRequest, "The token endpoint takes an application/x-www-form-urlencoded body.")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumFormBytes)
        } catch {
            throw OAuthError(.invalidRequest, "The form body is larger than \(maximumFormBytes) bytes.")
        }
        return try parse(String(buffer: body))
    }

    static func parse(_ text: String) throws -> [String: String] {
        var form: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else {
                throw OAuthError(.invalidRequest, "The form body is not valid percent-encoding.")
            }
            guard form[name] == nil else { throw OAuthError(.invalidRequest, "The parameter \(name.prefix(40)) is given more than once.") }
            form[name] = value
        }
        return form
    }

    static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// How the client authenticated: HTTP Basic (both parts form-encoded, RFC 6749 2.3.1), or `client_id` and
    /// `client_secret` in the body; using both is `invalid_request`.
    static func clientCredentials(_ headers: HTTPFields, form: [String: String]) throws -> ClientCredentials {
        let authorization = headers[.authorization]
        if let authorization, authorization.count > 6, authorization.prefix(6).lowercased() == "basic " {
            guard form["client_secret"] == nil else { throw OAuthError(.invalidRequest, "Use one client authentication method.") }
            guard let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                let id = decode(text[..<colon]), let secret = decode(text[text.index(after: colon)...])
            else { throw OAuthError(.invalidClient, "Client authentication failed.") }
            if let named = form["client_id"], named != id { throw OAuthError(.invalidRequest, "client_id differs from the authenticated client.") }
            return ClientCredentials(clientID: id, secret: secret, method: .basic)
        }
        guard let id = form["client_id"] else { throw OAuthError(.invalidClient, "Client authentication failed.") }
        if let secret = form["client_secret"] { return ClientCredentials(clientID: id, secret: secret, method: .post) }
        return ClientCredentials(clientID: id, secret: nil, method: .none)
    }

    // MARK: Response

    static var noStore: HTTPFields { [.contentType: "application/json", .cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"] }

    static func answer(_ object: [String: any Sendable]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: .ok, headers: noStore, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func answer(_ error: OAuthError) -> Response {
        var headers = noStore
        if error.code == .invalidClient { headers[.wwwAuthenticate] = #"Basic realm="iam-gateway", charset="UTF-8""# }
        let object = ["error": error.code.rawValue, "error_description": error.description]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: .init(code: error.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
