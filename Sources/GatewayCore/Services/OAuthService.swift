import Foundation
import IAMEnforcement

/// An OAuth 2.0 error as RFC 6749 5.2 words it: `{error, error_description}`, 400 (401 for `invalid_client`).
public struct OAuthError: Error, Sendable, Equatable {
    public enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case invalidTarget = "invalid_target"
        case unsupportedResponseType = "unsupported_response_type"
    }

    public var code: Code
    public var description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    public var status: Int { code == .invalidClient ? 401 : 400 }
}

/// The credentials a client presented at the token endpoint, however it sent them.
public struct ClientCredentials: Sendable, Equatable {
    public enum Method: String, Sendable {
        case basic = "client_secret_basic"
        case post = "client_secret_post"
        case none
    }

    public var clientID: String
    public var secret: String?
    public var method: Method

    public init(clientID: String, secret: String?, method: Method) {
        self.clientID = clientID
        self.secret = secret
        self.method = method
    }
}

/// The OAuth 2.0 token endpoint's decisions (SPEC 5.1), one minting path with `/v1/auth/*` (``TokenMinter``).
public struct OAuthService: Sendable {
    let store: any GatewayStore
    let resolver: AccessResolver
    let minter: TokenMinter
    let configuration: GatewayConfiguration
    let auth: AuthService

    public init(
        store: any GatewayStore, resolver: AccessResolver, auth: AuthService, configuration: GatewayConfiguration
    ) {
        self.store = store
        self.resolver = resolver
        self.minter = auth.tokenMinter
        self.auth = auth
        self.configuration = configuration
    }

    static let unknownClient = OAuthError(.invalidClient, "Client authentication failed.")

    /// The built-in public client of the admin console (SPEC 9), present in every tenant: its redirect URI is
    /// `{issuer}/console/callback`, and its tenant is the one signed in to (carried by its codes and sessions), so
    /// its record names no tenant.
    public static let consoleClientID = "console"

    public var consoleClient: OAuthClientRecord {
        OAuthClientRecord(
            tenantID: "", clientID: Self.consoleClientID, name: "IAM Gateway console", workspaceID: "default",
            type: .public, secretHash: nil,
            redirectURIs: [configuration.issuerBase + "/console/callback"],
            postLogoutRedirectURIs: [configuration.issuerBase + "/console/"],
            grantTypes: [OAuthGrant.authorizationCode, OAuthGrant.refreshToken],
            createdAt: Date(timeIntervalSince1970: 0)
        )
    }

    /// A client by id: the built-in console, or a registered one.
    public func client(_ clientID: String) async throws -> OAuthClientRecord? {
        if clientID == Self.consoleClientID { return consoleClient }
        guard Identifier.isValid(clientID) else { return nil }
        return try await store.client(clientID: clientID)
    }

    /// The client `credentials` name, authenticated: a confidential client must present its secret (basic or post);
    /// a public client presents none. Every failure is the same `invalid_client`, whatever was wrong.
    public func authenticate(_ credentials: ClientCredentials) async throws -> OAuthClientRecord {
        guard let client = try await client(credentials.clientID) else {
            throw Self.unknownClient
        }
        switch client.type {
        case .confidential:
            guard let secret = credentials.secret, let stored = client.secretHash, credentials.method != .none,
                SecretToken.constantTimeEquals(Array(SecretToken.hash(secret).utf8), Array(stored.utf8))
            else { throw Self.unknownClient }
        case .public:
            guard credentials.secret == nil else { throw Self.unknownClient }
        }
        return client
    }

    /// RFC 6749 4.4: a token for the client itself (`sub` = `client_id`, no `sid`), with the roles it holds in its
    /// workspace. A client that may not use the grant, or holds no role there, is `unauthorized_client`.
    public func clientCredentials(_ client: OAuthClientRecord, scope: String?) async throws -> MintedToken {
        guard client.type == .confidential, client.grantTypes.contains(OAuthGrant.clientCredentials) else {
            throw OAuthError(.unauthorizedClient, "This client may not use the client_credentials grant.")
        }
        if let scope, !scope.trimmingCharacters(in: .whitespaces).isEmpty {
            throw OAuthError(
                .invalidScope,
                "The client_credentials grant takes no scope; the token carries the client's permissions.")
        }
        let access = try await resolver.resolve(
            tenantID: client.tenantID, workspaceID: client.workspaceID, principalID: client.clientID)
        guard !access.roles.isEmpty else {
            throw OAuthError(.unauthorizedClient, "The client has no role in its workspace.")
        }
        return try minter.mint(
            TokenRequest(
                subject: client.clientID, tenantID: client.tenantID, workspaceID: client.workspaceID,
                roles: access.roles,
                permissions: access.sortedPermissions, policyVersion: access.policyVersion,
                audience: configuration.gatewayAudience,
                ttl: configuration.tokens.accessTTL, sessionID: nil, clientID: client.clientID
            ))
    }

    /// RFC 8693: a downstream token for `audience` from a client access token of the client's tenant, by the same
    /// code as `/v1/auth/token` (the edge permission of the audience's routes), its `client_id` the exchanging
    /// client's.
    public func tokenExchange(_ client: OAuthClientRecord, form: [String: String]) async throws -> MintedToken {
        guard client.grantTypes.contains(OAuthGrant.tokenExchange) else {
            throw OAuthError(.unauthorizedClient, "This client may not use the token-exchange grant.")
        }
        guard let subjectToken = form["subject_token"], !subjectToken.isEmpty else {
            throw OAuthError(.invalidRequest, "subject_token is required.")
        }
        guard form["subject_token_type"] == OAuthGrant.accessTokenType else {
            throw OAuthError(.invalidRequest, "subject_token_type must be \(OAuthGrant.accessTokenType).")
        }
        if let requested = form["requested_token_type"], requested != OAuthGrant.accessTokenType {
            throw OAuthError(
                .invalidRequest, "Only access tokens are issued (requested_token_type \(OAuthGrant.accessTokenType)).")
        }
        guard form["actor_token"] == nil else {
            throw OAuthError(.invalidRequest, "Delegation (actor_token) is not supported.")
        }
        guard form["resource"] == nil else {
            throw OAuthError(.invalidTarget, "Name the downstream service with audience, not resource.")
        }
        guard let audience = form["audience"], !audience.isEmpty else {
            throw OAuthError(.invalidTarget, "audience is required.")
        }
        if let scope = form["scope"], !scope.trimmingCharacters(in: .whitespaces).isEmpty {
            throw OAuthError(
                .invalidScope,
                "Token exchange takes no scope; the token carries the caller's permissions for the audience.")
        }
        // A client access token (aud = gateway audience) of this client's tenant; a downstream token fails here.
        var principal: Principal
        do {
            principal = try auth.authenticate(bearer: subjectToken).0
        } catch {
            throw OAuthError(.invalidRequest, "The subject_token is not a valid, current access token of this gateway.")
        }
        guard principal.tenantID == client.tenantID else {
            throw OAuthError(.invalidRequest, "The subject_token is not a valid, current access token of this gateway.")
        }
        principal.clientID = client.clientID
        let access = try await resolver.resolve(
            tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
        do {
            return try await auth.exchange(principal, access: access, audience: audience)
        } catch let error as GatewayError where error.code == .invalidRequest || error.code == .forbidden {
            throw OAuthError(.invalidTarget, error.detail)
        }
    }

    /// RFC 7662 for an authenticated confidential client: what the gateway knows of an access token it issued to a
    /// caller of the client's tenant; anything else (unknown, expired, revoked, another tenant, not a gateway access
    /// token) is only `active: false`.
    public func introspect(_ client: OAuthClientRecord, token: String?) async throws -> [String: any Sendable] {
        guard client.type == .confidential else {
            throw OAuthError(.unauthorizedClient, "Introspection is for confidential clients.")
        }
        guard let token, !token.isEmpty else { throw OAuthError(.invalidRequest, "token is required.") }
        guard let (principal, claims) = try? auth.authenticate(bearer: token), principal.tenantID == client.tenantID
        else {
            return ["active": false]
        }
        var answer: [String: any Sendable] = [
            "active": true, "sub": claims.sub, "client_id": claims.clientID ?? Principal.firstParty,
            "aud": claims.aud.count == 1 ? claims.aud[0] : claims.aud,
            "iss": claims.iss, "exp": claims.exp, "iat": claims.iat, "nbf": claims.nbf, "jti": claims.jti,
            "token_type": "Bearer",
            "tenant_id": claims.tenantID, "workspace_id": claims.workspaceID, "roles": claims.roles,
            "permissions": claims.permissions,
            "policy_version": claims.policyVersion,
        ]
        if let sid = claims.sid { answer["sid"] = sid }
        if let scope = claims.scope { answer["scope"] = scope }
        return answer
    }
}
