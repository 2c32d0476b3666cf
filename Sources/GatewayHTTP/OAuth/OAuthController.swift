import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import IAMEnforcement
import NIOCore

/// `POST /oauth/token` (SPEC 5.1, RFC 6749): form-encoded, client authentication by `client_secret_basic`,
/// `client_secret_post` or none (public clients), RFC 6749 5.2 errors, `Cache-Control: no-store`.
struct OAuthController<Context: RequestContext & RemoteAddressRequestContext> {
    let oauth: OAuthService
    let configuration: GatewayConfiguration
    let authenticator: RequestAuthenticator

    /// Form bodies of the token endpoint are small; more is refused.
    static var maximumFormBytes: Int { 64 * 1024 }

    func addRoutes(to router: Router<Context>) {
        // The authorization endpoint: the request in the query (GET) or a form (POST); a POST with a username is
        // the sign-in form's submission.
        router.get("/oauth/authorize") { request, _ -> Response in
            let parameters: [String: String]
            do {
                parameters = try Self.parse(request.uri.query ?? "")
            } catch {
                return Self.errorPage(
                    "This sign-in link is malformed (a parameter is repeated or badly encoded).", status: .badRequest)
            }
            return await authorize(request, parameters: parameters)
        }
        router.post("/oauth/authorize") { request, context -> Response in
            let form: [String: String]
            do {
                form = try await Self.form(request)
            } catch {
                return Self.errorPage("The sign-in form is malformed.", status: .badRequest)
            }
            guard form["username"] != nil || form["password"] != nil else {
                return await authorize(request, parameters: form)
            }
            return await signIn(request, context: context, form: form)
        }
        // OpenID Connect RP-Initiated Logout.
        router.get("/oauth/logout") { request, _ -> Response in
            guard let parameters = try? Self.parse(request.uri.query ?? "") else {
                return Self.errorPage("This sign-out link is malformed.", status: .badRequest)
            }
            return await logout(parameters)
        }
        router.post("/oauth/logout") { request, _ -> Response in
            guard let parameters = try? await Self.form(request) else {
                return Self.errorPage("The sign-out form is malformed.", status: .badRequest)
            }
            return await logout(parameters)
        }
        // RFC 7009.
        router.post("/oauth/revoke") { request, _ -> Response in
            do {
                let form = try await Self.form(request)
                let client = try await oauth.authenticate(try Self.clientCredentials(request.headers, form: form))
                try await oauth.revoke(client, token: form["token"])
                return Response(status: .ok, headers: [.cacheControl: "no-store"])
            } catch let error as OAuthError {
                return Self.answer(error)
            }
        }
        // OpenID Connect userinfo, with a user's access token.
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/oauth/userinfo", method: method) { request, context -> Response in
                let principal = try await authenticator.authenticate(request, context: context)
                return try Self.answer(try await oauth.userinfo(principal))
            }
        }
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
                    return try Self.answer(
                        ["access_token": minted.token, "token_type": "Bearer", "expires_in": minted.expiresIn]
                            as [String: any Sendable])
                case OAuthGrant.authorizationCode?:
                    let client = try await oauth.authenticate(credentials)
                    return try Self.answer(try await oauth.authorizationCode(client, form: form))
                case OAuthGrant.refreshToken?:
                    let client = try await oauth.authenticate(credentials)
                    return try Self.answer(try await oauth.refreshToken(client, form: form))
                case OAuthGrant.tokenExchange?:
                    let client = try await oauth.authenticate(credentials)
                    let minted = try await oauth.tokenExchange(client, form: form)
                    return try Self.answer(
                        [
                            "access_token": minted.token, "issued_token_type": OAuthGrant.accessTokenType,
                            "token_type": "Bearer", "expires_in": minted.expiresIn,
                        ] as [String: any Sendable])
                default:
                    throw OAuthError(
                        .unsupportedGrantType, "Supported grant types: \(OAuthGrant.supported.joined(separator: ", "))."
                    )
                }
            } catch let error as OAuthError {
                return Self.answer(error)
            }
        }
    }

    // MARK: Authorization endpoint

    static var csrfCookie: String { "iam-csrf" }

    /// The double-submit token of the sign-in form: a random value in a cookie scoped to this path and the same in
    /// the form. A page from anywhere else cannot read the cookie, so cannot post a matching form.
    func csrfToken(_ request: Request) -> (token: String, setCookie: String?) {
        if let existing = Self.cookie(Self.csrfCookie, in: request.headers), existing.utf8.count == 43 {
            return (existing, nil)
        }
        let token = SecretToken.random()
        let secure = configuration.issuer.lowercased().hasPrefix("https:") ? "; Secure" : ""
        return (
            token,
            "\(Self.csrfCookie)=\(token); Path=/oauth/authorize; HttpOnly; SameSite=Strict; Max-Age=3600\(secure)"
        )
    }

    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        RequestAuthenticator.cookie(name, in: headers)
    }

    /// The validated authorization request, or the answer refusing it: an error page, or the redirect with the error.
    func validate(_ parameters: [String: String]) async -> Result<AuthorizationRequest, RefusedAuthorization> {
        do {
            return .success(try await oauth.authorizationRequest(parameters))
        } catch AuthorizationRefusal.page(let message) {
            return .failure(RefusedAuthorization(response: Self.errorPage(message, status: .badRequest)))
        } catch AuthorizationRefusal.redirect(let location, _) {
            return .failure(
                RefusedAuthorization(
                    response: Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])))
        } catch {
            return .failure(
                RefusedAuthorization(
                    response: Self.errorPage(
                        "The sign-in service is unavailable; try again shortly.", status: .serviceUnavailable)))
        }
    }

    func authorize(_ request: Request, parameters: [String: String]) async -> Response {
        switch await validate(parameters) {
        case .success(let validated): page(request, validated, parameters: parameters, error: nil, status: .ok)
        case .failure(let refused): refused.response
        }
    }

    func page(
        _ request: Request, _ validated: AuthorizationRequest, parameters: [String: String], error: String?,
        status: HTTPResponse.Status,
        tenant: String? = nil, workspace: String? = nil, username: String? = nil, extra: HTTPFields = [:]
    ) -> Response {
        let (csrf, setCookie) = csrfToken(request)
        var headers = SignInPage.headers(formTarget: validated.redirectURI)
        if let setCookie { headers[.setCookie] = setCookie }
        for field in extra { headers[field.name] = field.value }
        let html = SignInPage.page(
            validated, parameters: parameters, csrf: csrf, error: error, tenant: tenant ?? validated.tenantHint,
            workspace: workspace ?? validated.workspaceHint,
            username: username
        )
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func errorPage(_ message: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: SignInPage.headers(formTarget: nil),
            body: .init(byteBuffer: ByteBuffer(string: SignInPage.errorPage(message))))
    }

    func signIn(_ request: Request, context: Context, form: [String: String]) async -> Response {
        let validated: AuthorizationRequest
        switch await validate(form) {
        case .success(let request): validated = request
        case .failure(let refused): return refused.response
        }
        guard let sent = form["csrf_token"], let expected = Self.cookie(Self.csrfCookie, in: request.headers),
            SecretToken.constantTimeEquals(Array(sent.utf8), Array(expected.utf8))
        else {
            return Self.errorPage(
                "The sign-in form expired or did not come from this page. Go back to the application and start again.",
                status: .badRequest)
        }
        let tenant = form["tenant_id"] ?? ""
        let workspace = form["workspace_id"] ?? ""
        let username = form["username"] ?? ""
        do {
            let location = try await oauth.signIn(
                validated, tenantID: tenant, workspaceID: workspace, username: username,
                password: form["password"] ?? "",
                clientAddress: AuthController<Context>.clientAddress(
                    request, context: context, trusted: configuration.http.trustedProxies),
                requestID: request.headers[.xRequestID]
            )
            return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
        } catch let error as GatewayError {
            var extra: HTTPFields = [:]
            if let retry = error.retryAfter { extra[.retryAfter] = String(retry) }
            return page(
                request, validated, parameters: form, error: error.detail, status: error.status, tenant: tenant,
                workspace: workspace, username: username, extra: extra)
        } catch {
            return page(
                request, validated, parameters: form, error: "The sign-in service is unavailable; try again shortly.",
                status: .serviceUnavailable,
                tenant: tenant, workspace: workspace, username: username)
        }
    }

    func logout(_ parameters: [String: String]) async -> Response {
        do {
            if let location = try await oauth.logout(parameters) {
                return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
            }
            let html = SignInPage.signedOutPage()
            return Response(
                status: .ok, headers: SignInPage.headers(formTarget: nil),
                body: .init(byteBuffer: ByteBuffer(string: html)))
        } catch AuthorizationRefusal.page(let message) {
            return Self.errorPage(message, status: .badRequest)
        } catch {
            return Self.errorPage(
                "The sign-out service is unavailable; try again shortly.", status: .serviceUnavailable)
        }
    }

    // MARK: Request

    /// The `application/x-www-form-urlencoded` body as a dictionary; a parameter given twice is `invalid_request`
    /// (RFC 6749 3.2).
    static func form(_ request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
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
            guard form[name] == nil else {
                throw OAuthError(.invalidRequest, "The parameter \(name.prefix(40)) is given more than once.")
            }
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
            guard form["client_secret"] == nil else {
                throw OAuthError(.invalidRequest, "Use one client authentication method.")
            }
            guard
                let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                let id = decode(text[..<colon]), let secret = decode(text[text.index(after: colon)...])
            else { throw OAuthError(.invalidClient, "Client authentication failed.") }
            if let named = form["client_id"], named != id {
                throw OAuthError(.invalidRequest, "client_id differs from the authenticated client.")
            }
            return ClientCredentials(clientID: id, secret: secret, method: .basic)
        }
        guard let id = form["client_id"] else { throw OAuthError(.invalidClient, "Client authentication failed.") }
        if let secret = form["client_secret"] { return ClientCredentials(clientID: id, secret: secret, method: .post) }
        return ClientCredentials(clientID: id, secret: nil, method: .none)
    }

    // MARK: Response

    static var noStore: HTTPFields {
        [.contentType: "application/json", .cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"]
    }

    static func answer(_ object: [String: any Sendable]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: .ok, headers: noStore, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func answer(_ error: OAuthError) -> Response {
        var headers = noStore
        if error.code == .invalidClient { headers[.wwwAuthenticate] = #"Basic realm="iam-gateway", charset="UTF-8""# }
        let object = ["error": error.code.rawValue, "error_description": error.description]
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return Response(
            status: .init(code: error.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An answer refusing an authorization request (an error page or a redirect carrying the error).
struct RefusedAuthorization: Error {
    var response: Response
}
