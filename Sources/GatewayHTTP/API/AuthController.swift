import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import IAMEnforcement

/// `/v1/auth/login`, `/v1/auth/refresh`, `/v1/auth/logout`, `/v1/auth/token` and `PUT /v1/me/password`.
struct AuthController<Context: RequestContext & RemoteAddressRequestContext> {
    let auth: AuthService
    let authenticator: RequestAuthenticator
    let configuration: GatewayConfiguration

    struct LoginBody: Decodable {
        var tenant_id: String
        var workspace_id: String
        var username: String
        var password: String
        var session_cookie: Bool?
    }

    struct RefreshBody: Decodable {
        var refresh_token: String
    }

    struct TokenBody: Decodable {
        var audience: String
    }

    struct PasswordChangeBody: Decodable {
        var current_password: String
        var new_password: String
    }

    struct TokenPair: Encodable {
        var accessToken: String
        var tokenType = "Bearer"
        var expiresIn: Int
        var refreshToken: String
        var refreshExpiresIn: Int
    }

    struct ExchangedToken: Encodable {
        var accessToken: String
        var tokenType = "Bearer"
        var expiresIn: Int
        var issuedTokenType = "urn:ietf:params:oauth:token-type:access_token"
    }

    /// The client's address for the login throttle and the audit: the peer, or behind a trusted load balancer the
    /// client it names in `X-Forwarded-For`.
    static func clientAddress(_ request: Request, context: Context, trusted: TrustedProxies) -> String {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        guard !trusted.isEmpty else { return peer }
        return trusted.clientAddress(peer: peer, forwardedFor: request.headers[values: .xForwardedFor])
    }

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/auth/login") { request, context -> Response in
            let body = try await request.decodeJSON(LoginBody.self, context: context)
            let address = Self.clientAddress(request, context: context, trusted: configuration.http.trustedProxies)
            let issued = try await auth.login(
                tenantID: body.tenant_id, workspaceID: body.workspace_id, username: body.username,
                password: body.password,
                clientAddress: address, requestID: request.headers[.xRequestID]
            )
            var headers: HTTPFields = [:]
            if body.session_cookie == true {
                headers[.setCookie] =
                    "\(SessionCookie.name)=\(issued.accessToken.token); Path=/; Max-Age=\(issued.accessToken.expiresIn); HttpOnly; Secure; SameSite=Strict"
            }
            return try JSONResponse.make(Self.pair(issued), headers: headers)
        }
        router.post("/v1/auth/refresh") { request, context -> Response in
            let body = try await request.decodeJSON(RefreshBody.self, context: context)
            return try JSONResponse.make(
                Self.pair(try await auth.refresh(body.refresh_token, requestID: request.headers[.xRequestID])))
        }
        router.post("/v1/auth/logout") { request, context -> Response in
            let principal = try await authenticator.authenticate(request, context: context)
            try await auth.logout(principal, requestID: request.headers[.xRequestID])
            var response = JSONResponse.noContent()
            if request.cookies[SessionCookie.name] != nil {
                response.headers[.setCookie] =
                    "\(SessionCookie.name)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
            }
            return response
        }
        router.post("/v1/auth/token") { request, context -> Response in
            let principal = try await authenticator.authenticate(request, context: context)
            let body = try await request.decodeJSON(TokenBody.self, context: context)
            let access = try await auth.accessResolver.resolve(
                tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
            let minted = try await auth.exchange(principal, access: access, audience: body.audience)
            return try JSONResponse.make(ExchangedToken(accessToken: minted.token, expiresIn: minted.expiresIn))
        }
        router.put("/v1/me/password") { request, context -> Response in
            let principal = try await authenticator.authenticate(request, context: context)
            let body = try await request.decodeJSON(PasswordChangeBody.self, context: context)
            try await auth.changeOwnPassword(
                principal, current: body.current_password, new: body.new_password,
                clientAddress: Self.clientAddress(
                    request, context: context, trusted: configuration.http.trustedProxies),
                requestID: request.headers[.xRequestID]
            )
            return JSONResponse.noContent()
        }
    }

    static func pair(_ issued: IssuedTokens) -> TokenPair {
        TokenPair(
            accessToken: issued.accessToken.token, expiresIn: issued.accessToken.expiresIn,
            refreshToken: issued.refreshToken, refreshExpiresIn: issued.refreshExpiresIn)
    }
}
