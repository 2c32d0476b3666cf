import Foundation

/// OAuth clients (SPEC 5.1): principals of their tenant, managed with `clients.manage` through the same policy as
/// API keys.
extension DirectoryService {
    public struct ClientDraft: Sendable {
        public var name: String
        public var type: String
        public var workspaceID: String
        public var redirectURIs: [String]
        public var postLogoutRedirectURIs: [String]
        public var grantTypes: [String]

        public init(
            name: String, type: String, workspaceID: String, redirectURIs: [String], postLogoutRedirectURIs: [String],
            grantTypes: [String]
        ) {
            self.name = name
            self.type = type
            self.workspaceID = workspaceID
            self.redirectURIs = redirectURIs
            self.postLogoutRedirectURIs = postLogoutRedirectURIs
            self.grantTypes = grantTypes
        }
    }

    /// Creates a client in a workspace (`clients.manage` there); returns the record and, for a confidential client,
    /// the secret to show once.
    public func createClient(_ scope: CallerScope, _ draft: ClientDraft) async throws -> (OAuthClientRecord, String?) {
        let name = try Validation.name(draft.name, field: "name")
        let workspaceID = try Validation.id(draft.workspaceID, field: "workspace_id")
        guard let type = OAuthClientRecord.ClientType(rawValue: draft.type) else {
            throw GatewayError.invalidRequest("type must be public or confidential.")
        }
        let grants = try OAuthGrant.validated(draft.grantTypes, for: type)
        let redirects = try OAuthRedirect.validated(draft.redirectURIs, field: "redirect_uris")
        if grants.contains(OAuthGrant.authorizationCode), redirects.isEmpty {
            throw GatewayError.invalidRequest("The authorization_code grant needs at least one redirect URI.")
        }
        let logoutRedirects = try OAuthRedirect.validated(
            draft.postLogoutRedirectURIs, field: "post_logout_redirect_uris")
        guard try await store.workspace(tenantID: scope.tenantID, workspaceID: workspaceID) != nil else {
            throw GatewayError.invalidRequest("The workspace does not exist in this tenant.")
        }
        let secret = type == .confidential ? OAuthGrant.clientSecretPrefix + SecretToken.random() : nil
        let record = OAuthClientRecord(
            tenantID: scope.tenantID, clientID: SecretToken.identifier(prefix: "cl-"), name: name,
            workspaceID: workspaceID, type: type,
            secretHash: secret.map { SecretToken.hash($0) }, redirectURIs: redirects,
            postLogoutRedirectURIs: logoutRedirects, grantTypes: grants,
            createdAt: clock.now()
        )
        try await store.serializingTenant(scope.tenantID) {
            try await iam.authorize(scope, .createPrincipal(.clientsManage, workspace: workspaceID))
            try await store.createClient(record)
        }
        await audit.record(scope, "client.create", target: "client:\(record.clientID)", workspaceID: workspaceID)
        return (record, secret)
    }

    public func clients(_ scope: CallerScope) async throws -> [OAuthClientRecord] {
        try scope.require(.clientsManage)
        return try await store.clients(tenantID: scope.tenantID)
    }

    public func client(_ scope: CallerScope, clientID: String) async throws -> OAuthClientRecord {
        try scope.require(.clientsManage)
        guard Identifier.isValid(clientID), let client = try await store.client(clientID: clientID),
            client.tenantID == scope.tenantID
        else {
            throw GatewayError.notFound("No such client in this tenant.")
        }
        return client
    }

    /// Deletes a client like any principal: `clients.manage` wherever it holds access, its sessions revoked.
    public func deleteClient(_ scope: CallerScope, clientID: String) async throws {
        _ = try Validation.id(clientID, field: "client_id")
        let deleted = try await store.serializingTenant(scope.tenantID) { () -> DeletedPrincipal? in
            guard let client = try await store.client(clientID: clientID), client.tenantID == scope.tenantID else {
                return nil
            }
            let target = try await resolver.effectiveAccess(tenantID: scope.tenantID, principalID: clientID)
            try await iam.authorize(
                scope, .actOnPrincipal(.clientsManage, target: target, unassignedScope: .workspace(client.workspaceID)))
            return try await store.deleteClient(tenantID: scope.tenantID, clientID: clientID, now: clock.now())
        }
        try await settle(
            scope, deleted, action: "client.delete", target: "client:\(clientID)",
            missing: "No such client in this tenant.")
    }
}

/// The grant types the token endpoint serves, as registered on clients and advertised in discovery.
public enum OAuthGrant {
    public static let clientCredentials = "client_credentials"
    public static let authorizationCode = "authorization_code"
    public static let refreshToken = "refresh_token"
    public static let tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    /// Grant types `/oauth/token` serves today; a client registers a subset. Discovery lists exactly these.
    public static let supported = [authorizationCode, clientCredentials, refreshToken, tokenExchange]
    public static let clientSecretPrefix = "iamc_"

    static func validated(_ grants: [String], for type: OAuthClientRecord.ClientType) throws -> [String] {
        guard !grants.isEmpty, grants.count <= 8 else {
            throw GatewayError.invalidRequest("grant_types must list 1 to 8 grant types.")
        }
        for grant in grants where !supported.contains(grant) {
            throw GatewayError.invalidRequest(
                "Unsupported grant type \(grant.prefix(80)); supported: \(supported.joined(separator: ", ")).")
        }
        if type == .public, grants.contains(clientCredentials) {
            throw GatewayError.invalidRequest("client_credentials needs a confidential client.")
        }
        var granted = Set(grants)
        // The code flow issues a refresh token (SPEC 5.1), which the client must be able to use.
        if granted.contains(authorizationCode) { granted.insert(refreshToken) }
        return granted.sorted()
    }
}

/// Redirect URIs as registered: absolute `https` URLs, or `http` to a loopback address (RFC 8252), no fragment.
public enum OAuthRedirect {
    /// Loopback IP literals (as `URLComponents.host` gives them): a public client's redirect to one may use any
    /// port (RFC 8252 7.3).
    static let loopbackAddresses: Set<String> = ["127.0.0.1", "::1", "[::1]"]

    static func validated(_ uris: [String], field: String) throws -> [String] {
        guard uris.count <= 10 else { throw GatewayError.invalidRequest("\(field) holds at most 10 URIs.") }
        for uri in uris {
            guard uri.utf8.count <= 2000, let components = URLComponents(string: uri),
                let scheme = components.scheme?.lowercased(),
                let host = components.host?.lowercased(), !host.isEmpty, components.fragment == nil,
                components.user == nil
            else {
                throw GatewayError.invalidRequest(
                    "\(field): \(uri.prefix(80)) is not an absolute URL without a fragment.")
            }
            let loopback = loopbackAddresses.contains(host) || host == "localhost"
            guard scheme == "https" || (scheme == "http" && loopback) else {
                throw GatewayError.invalidRequest(
                    "\(field): \(uri.prefix(80)) must use https (http only to a loopback address).")
            }
        }
        return uris
    }
}
