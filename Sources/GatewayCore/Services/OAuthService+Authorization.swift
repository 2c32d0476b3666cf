import Crypto
import Foundation
import IAMEnforcement

/// A validated authorization request (RFC 6749 4.1.1 with PKCE, SPEC 5.1).
public struct AuthorizationRequest: Sendable, Equatable {
    public var client: OAuthClientRecord
    public var redirectURI: String
    public var state: String?
    public var codeChallenge: String?
    public var scopes: [String]
    public var nonce: String?
    public var tenantHint: String?
    public var workspaceHint: String?
}

/// Why an authorization request is refused: before the client and its redirect URI are known good, on an error
/// page (never a redirect: no open redirector); after, by a redirect carrying the error.
public enum AuthorizationRefusal: Error, Sendable, Equatable {
    case page(String)
    case redirect(to: String, error: OAuthError)
}

extension OAuthService {
    public static let supportedScopes = ["openid", "profile", "offline_access"]
    static let codePrefix = "iamac_"

    /// Validates the parameters of `GET|POST /oauth/authorize`.
    public func authorizationRequest(_ parameters: [String: String]) async throws -> AuthorizationRequest {
        guard let clientID = parameters["client_id"], let client = try await client(clientID) else {
            throw AuthorizationRefusal.page("This sign-in link names an application that is not registered.")
        }
        let redirectURI: String
        if let given = parameters["redirect_uri"] {
            guard Self.redirectMatches(given, client: client) else {
                throw AuthorizationRefusal.page(
                    "This sign-in link asks to return to an address \(client.name) did not register.")
            }
            redirectURI = given
        } else if client.redirectURIs.count == 1 {
            redirectURI = client.redirectURIs[0]
        } else {
            throw AuthorizationRefusal.page("This sign-in link does not say where to return to.")
        }
        let state = parameters["state"]
        func refuse(_ code: OAuthError.Code, _ description: String) -> AuthorizationRefusal {
            .redirect(
                to: Self.redirect(
                    redirectURI,
                    [
                        "error": code.rawValue, "error_description": description, "state": state,
                        "iss": configuration.issuer,
                    ]), error: OAuthError(code, description))
        }
        guard client.grantTypes.contains(OAuthGrant.authorizationCode) else {
            throw refuse(.unauthorizedClient, "This client may not use the authorization code flow.")
        }
        guard parameters["response_type"] == "code" else {
            throw refuse(.unsupportedResponseType, "Only response_type=code is supported.")
        }
        if let state, state.utf8.count > 1024 { throw refuse(.invalidRequest, "state is longer than 1024 bytes.") }
        let challenge = parameters["code_challenge"]
        switch (challenge, parameters["code_challenge_method"]) {
        case (nil, nil):
            guard client.type == .confidential else {
                throw refuse(.invalidRequest, "PKCE (code_challenge with S256) is required for public clients.")
            }
        case (let challenge?, "S256"?):
            guard Self.isPKCEValue(challenge) else {
                throw refuse(.invalidRequest, "code_challenge must be 43 to 128 base64url characters.")
            }
        case (_?, nil):
            throw refuse(.invalidRequest, "code_challenge_method is required (S256).")
        default:
            throw refuse(.invalidRequest, "code_challenge_method must be S256.")
        }
        let scopes = (parameters["scope"] ?? "").split(separator: " ").map(String.init)
        for scope in scopes where !Self.supportedScopes.contains(scope) {
            throw refuse(
                .invalidScope,
                "Unsupported scope \(scope.prefix(40)); supported: \(Self.supportedScopes.joined(separator: " ")).")
        }
        let nonce = parameters["nonce"]
        if let nonce, nonce.utf8.count > 255 { throw refuse(.invalidRequest, "nonce is longer than 255 bytes.") }
        return AuthorizationRequest(
            client: client, redirectURI: redirectURI, state: state, codeChallenge: challenge,
            scopes: Array(Set(scopes)).sorted(), nonce: nonce,
            tenantHint: parameters["tenant_id"], workspaceHint: parameters["workspace_id"]
        )
    }

    /// Exact match, except that a public client's loopback redirect may use any port (RFC 8252 7.3).
    static func redirectMatches(_ given: String, client: OAuthClientRecord) -> Bool {
        if client.redirectURIs.contains(given) { return true }
        guard client.type == .public, var components = URLComponents(string: given), components.scheme == "http",
            OAuthRedirect.loopbackAddresses.contains(components.host ?? "")
        else { return false }
        components.port = nil
        return client.redirectURIs.contains { registered in
            guard var candidate = URLComponents(string: registered) else { return false }
            candidate.port = nil
            return candidate == components
        }
    }

    static func isPKCEValue(_ text: String) -> Bool {
        (43...128).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x2E || byte == 0x5F
                    || byte == 0x7E
            }
    }

    /// `uri` with `parameters` added to its query (nil values left out).
    static func redirect(_ uri: String, _ parameters: [String: String?]) -> String {
        var components = URLComponents(string: uri) ?? URLComponents()
        var items = components.queryItems ?? []
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            if let value { items.append(URLQueryItem(name: name, value: value)) }
        }
        components.percentEncodedQueryItems = items.map {
            URLQueryItem(
                name: $0.name, value: $0.value?.addingPercentEncoding(withAllowedCharacters: Self.queryValueCharacters))
        }
        return components.string ?? uri
    }

    static let queryValueCharacters = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))

    /// The sign-in of the sign-in page: the user's password (with the login throttle), then a code for the client,
    /// returned as the redirect to send the browser to. A registered client signs in only users of its tenant.
    public func signIn(
        _ request: AuthorizationRequest, tenantID: String, workspaceID: String, username: String, password: String,
        clientAddress: String, requestID: String?
    ) async throws -> String {
        // The console belongs to every tenant; a registered client to its own.
        guard request.client.clientID == Self.consoleClientID || tenantID == request.client.tenantID else {
            throw GatewayError.forbidden(
                "\(request.client.name) signs in users of tenant \(request.client.tenantID) only.")
        }
        let (user, _) = try await auth.checkPassword(
            tenantID: tenantID, workspaceID: workspaceID, username: username, password: password,
            clientAddress: clientAddress, requestID: requestID
        )
        let code = Self.codePrefix + SecretToken.random()
        let now = auth.clock.now()
        try await store.createAuthorizationCode(
            AuthorizationCodeRecord(
                codeHash: SecretToken.hash(code), tenantID: tenantID, workspaceID: workspaceID,
                principalID: user.userID, clientID: request.client.clientID,
                redirectURI: request.redirectURI, codeChallenge: request.codeChallenge,
                scope: request.scopes.joined(separator: " "), nonce: request.nonce,
                authTime: now, expiresAt: now.addingTimeInterval(60)
            ))
        await auth.audit.record(
            actor: "\(tenantID)/\(user.userID)", tenantID: tenantID, workspaceID: workspaceID, action: "oauth.sign_in",
            target: "client:\(request.client.clientID)",
            requestID: requestID
        )
        return Self.redirect(request.redirectURI, ["code": code, "state": request.state, "iss": configuration.issuer])
    }

    /// RFC 6749 4.1.3 with PKCE: the code's session's tokens, an ID token with scope `openid`. A reused code revokes
    /// what it issued; a code of another client, another redirect URI or a wrong verifier is spent for nothing.
    public func authorizationCode(_ client: OAuthClientRecord, form: [String: String]) async throws -> [String:
        any Sendable]
    {
        guard client.grantTypes.contains(OAuthGrant.authorizationCode) else {
            throw OAuthError(.unauthorizedClient, "This client may not use the authorization_code grant.")
        }
        guard let code = form["code"], code.hasPrefix(Self.codePrefix), code.utf8.count <= 128 else {
            throw OAuthError(.invalidGrant, "The code is invalid.")
        }
        let now = auth.clock.now()
        let refresh = AuthService.refreshTokenPrefix + SecretToken.random()
        let outcome = try await store.redeemAuthorizationCode(
            hash: SecretToken.hash(code), now: now, sessionID: SecretToken.random(bytes: 16),
            sessionExpiresAt: now.addingTimeInterval(TimeInterval(configuration.tokens.refreshTTL)),
            refreshTokenHash: SecretToken.hash(refresh)
        )
        switch outcome {
        case .invalid:
            throw OAuthError(.invalidGrant, "The code is invalid or expired.")
        case .reused(let record):
            if let sessionID = record.sessionID { try await auth.revoke(sessionID: sessionID) }
            await auth.audit.record(
                actor: "\(record.tenantID)/\(record.principalID)", tenantID: record.tenantID,
                workspaceID: record.workspaceID, action: "oauth.code_reuse",
                target: "client:\(record.clientID)", requestID: nil
            )
            throw OAuthError(.invalidGrant, "The code was already used; what it issued is revoked.")
        case .redeemed(let record, let session):
            var refusal: String?
            if record.clientID != client.clientID {
                refusal = "The code was issued to another client."
            } else if form["redirect_uri"] != record.redirectURI {
                refusal = "redirect_uri differs from the authorization request's."
            } else if let challenge = record.codeChallenge {
                let verifier = form["code_verifier"] ?? ""
                if !Self.isPKCEValue(verifier)
                    || Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))) != challenge
                {
                    refusal = "The code_verifier does not match the code_challenge."
                }
            } else if form["code_verifier"] != nil {
                refusal = "The authorization request had no code_challenge."
            }
            if let refusal {
                try await auth.revoke(sessionID: session.sessionID)
                throw OAuthError(.invalidGrant, refusal)
            }
            let minted: MintedToken
            do {
                minted = try await auth.accessToken(for: session)
            } catch let error as GatewayError where error.code == .forbidden {
                try await auth.revoke(sessionID: session.sessionID)
                throw OAuthError(.invalidGrant, "The user has no role in the workspace any more.")
            }
            var answer: [String: any Sendable] = [
                "access_token": minted.token, "token_type": "Bearer", "expires_in": minted.expiresIn,
                "refresh_token": refresh,
                "scope": record.scope,
            ]
            auth.metrics.minted(.refresh)
            if record.scope.split(separator: " ").contains("openid") {
                answer["id_token"] = try idToken(session: session, code: record, accessToken: minted.token)
            }
            return answer
        }
    }

    /// The refresh_token grant: the same rotation and family revocation as `/v1/auth/refresh`, for the client the
    /// token was issued to only.
    public func refreshToken(_ client: OAuthClientRecord, form: [String: String]) async throws -> [String: any Sendable]
    {
        guard client.grantTypes.contains(OAuthGrant.refreshToken) else {
            throw OAuthError(.unauthorizedClient, "This client may not use the refresh_token grant.")
        }
        guard let presented = form["refresh_token"] else {
            throw OAuthError(.invalidRequest, "refresh_token is required.")
        }
        // RFC 6749 6: a client may repeat (a subset of) the granted scope. Scopes do not narrow permissions and a
        // refresh issues no ID token, so the parameter changes nothing; only an unknown scope is refused.
        for scope in (form["scope"] ?? "").split(separator: " ") where !Self.supportedScopes.contains(String(scope)) {
            throw OAuthError(.invalidScope, "Unsupported scope \(scope.prefix(40)).")
        }
        do {
            let issued = try await auth.refresh(presented, requestID: nil, client: client.clientID)
            return [
                "access_token": issued.accessToken.token, "token_type": "Bearer",
                "expires_in": issued.accessToken.expiresIn,
                "refresh_token": issued.refreshToken,
            ]
        } catch let error as GatewayError where error.code == .invalidToken || error.code == .forbidden {
            throw OAuthError(.invalidGrant, "The refresh token is invalid, expired, revoked or not this client's.")
        }
    }

    /// OpenID Connect Core 2: `sub` is `tenant_id:user_id` (unique across the issuer's tenants), `aud` the client.
    func idToken(session: SessionRecord, code: AuthorizationCodeRecord, accessToken: String) throws -> String {
        let now = auth.clock.now().unixSeconds
        let digest = Array(SHA256.hash(data: Array(accessToken.utf8)))
        let claims = IDTokenClaims(
            iss: configuration.issuer, sub: "\(session.tenantID):\(session.principalID)", aud: code.clientID,
            exp: now + Int64(configuration.tokens.accessTTL),
            iat: now, authTime: code.authTime.unixSeconds, nonce: code.nonce, sid: session.sessionID,
            atHash: Base64URL.encode(Array(digest.prefix(16))),
            tenantID: session.tenantID, workspaceID: session.workspaceID
        )
        let key = auth.keyRing.snapshot.active
        let header = Base64URL.encode(
            try TokenMinter.encoder.encode(JWSHeader(alg: "RS256", kid: key.kid, typ: Self.idTokenType)))
        let token = try TokenMinter.sign(claims, headerSegment: header, with: key)
        auth.metrics.minted(.id)
        return token
    }

    /// The `typ` of ID tokens (OpenID Connect), against access tokens' `at+jwt`.
    static let idTokenType = "JWT"
}

extension OAuthService {
    /// RFC 7009: a refresh token revokes its family (the session), an access token its session; both only for the
    /// client they were issued to. An unknown, expired or already revoked token is a success that changes nothing.
    public func revoke(_ client: OAuthClientRecord, token: String?) async throws {
        guard let token, !token.isEmpty, token.utf8.count <= 8192 else {
            throw OAuthError(.invalidRequest, "token is required.")
        }
        let session: SessionRecord?
        let tokenClient: String?
        if token.hasPrefix(AuthService.refreshTokenPrefix) {
            session = try await store.session(refreshTokenHash: SecretToken.hash(token))
            tokenClient = session?.clientID ?? Principal.firstParty
        } else if let (principal, _) = try? auth.authenticate(bearer: token), let sessionID = principal.sessionID {
            session = try await store.session(sessionID)
            tokenClient = principal.clientID
        } else {
            return
        }
        guard let session, session.revokedAt == nil else { return }
        guard tokenClient == client.clientID else {
            throw OAuthError(.unauthorizedClient, "The token was not issued to this client.")
        }
        try await auth.revoke(sessionID: session.sessionID)
        await auth.audit.record(
            actor: "\(session.tenantID)/\(session.principalID)", tenantID: session.tenantID,
            workspaceID: session.workspaceID,
            action: "oauth.revoke", target: "session:\(session.sessionID)", requestID: nil)
    }

    /// OpenID Connect userinfo for a user's access token.
    public func userinfo(_ principal: Principal) async throws -> [String: any Sendable] {
        guard principal.kind == .user,
            let user = try await store.user(tenantID: principal.tenantID, userID: principal.subject)
        else {
            throw GatewayError.forbidden("Userinfo is for a user's access token.")
        }
        return [
            "sub": "\(principal.tenantID):\(principal.subject)", "preferred_username": user.username,
            "tenant_id": principal.tenantID,
            "workspace_id": principal.workspaceID,
        ]
    }
}

extension OAuthService {
    struct IDTokenHint: Decodable {
        var iss: String
        var aud: String
        var sid: String?
    }

    /// An ID token this gateway signed (signature and issuer checked; accepted after it expired, as RP-initiated
    /// logout requires), or `nil`.
    func idTokenHint(_ token: String) -> IDTokenHint? {
        let keys = auth.keyRing.snapshot.publicKeys
        guard
            let payload = try? TokenVerifier.verifiedPayload(
                token, types: [Self.idTokenType.lowercased()], key: { keys[$0] }),
            let claims = try? JSONDecoder().decode(IDTokenHint.self, from: payload), claims.iss == configuration.issuer
        else { return nil }
        return claims
    }

    /// OpenID Connect RP-Initiated Logout: ends the session named by `id_token_hint` and returns where to send the
    /// browser (a registered `post_logout_redirect_uri` of the token's client, with `state`), or `nil` for the
    /// gateway's own signed-out page. A redirect that is not registered is refused on a page, never followed.
    public func logout(_ parameters: [String: String]) async throws -> String? {
        guard let hint = parameters["id_token_hint"].flatMap(idTokenHint) else {
            throw AuthorizationRefusal.page(
                "Signing out needs the id_token_hint of the session (an ID token this gateway issued).")
        }
        if let clientID = parameters["client_id"], clientID != hint.aud {
            throw AuthorizationRefusal.page("client_id does not match the ID token.")
        }
        var location: String?
        if let target = parameters["post_logout_redirect_uri"] {
            guard let client = try await client(hint.aud), client.postLogoutRedirectURIs.contains(target) else {
                throw AuthorizationRefusal.page(
                    "The address to return to after signing out is not registered for this application.")
            }
            location = Self.redirect(target, ["state": parameters["state"]])
        }
        if let sid = hint.sid, let session = try await store.session(sid), session.revokedAt == nil {
            try await auth.revoke(sessionID: sid)
            await auth.audit.record(
                actor: "\(session.tenantID)/\(session.principalID)", tenantID: session.tenantID,
                workspaceID: session.workspaceID, action: "logout", target: "session:\(sid)", requestID: nil)
        }
        return location
    }
}

struct IDTokenClaims: Encodable {
    var iss: String
    var sub: String
    var aud: String
    var exp: Int64
    var iat: Int64
    var authTime: Int64
    var nonce: String?
    var sid: String
    var atHash: String
    var tenantID: String
    var workspaceID: String

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, nonce, sid
        case authTime = "auth_time"
        case atHash = "at_hash"
        case tenantID = "tenant_id"
        case workspaceID = "workspace_id"
    }
}
