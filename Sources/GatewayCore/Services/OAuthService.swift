import Foundation

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

    public init(store: any GatewayStore, resolver: AccessResolver, minter: TokenMinter, configuration: GatewayConfiguration) {
        self.store = store
        self.resolver = resolver
        self.minter = minter
        self.configuration = configuration
    }

    static let unknownClient = OAuthError(.invalidClient, "Client authentication failed.")

    /// The client `credentials` name, authenticated: a confidential client must present its secret (basic or post);
    /// a public client presents none. Every failure is the same `invalid_client`, whatever was wrong.
    public func authenticate(_ credentials: ClientCredentials) async throws -> OAuthClientRecord {
        guard Identifier.isValid(credentials.clientID), let client = try await store.client(clientID: credentials.clientID) else {
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
            throw OAuthError(.invalidScope, "The client_credentials grant takes no scope; the token carries the client's permissions.")
        }
        let access = try await resolver.resolve(tenantID: client.tenantID, workspaceID: client.workspaceID, principalID: client.clientID)
        guard !access.roles.isEmpty else {
            throw OAuthError(.unauthorizedClient, "The client has no role in its workspace.")
        }
        return try minter.mint(TokenRequest(
            subject: client.clientID, tenantID: client.tenantID, workspaceID: client.workspaceID, roles: access.roles,
            permissions: access.sortedPermissions, policyVersion: access.policyVersion, audience: configuration.gatewayAudience,
            ttl: configuration.tokens.accessTTL, sessionID: nil, clientID: client.clientID
        ))
    }
}
