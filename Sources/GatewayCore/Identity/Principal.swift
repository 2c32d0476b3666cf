import IAMEnforcement

/// An authenticated caller: a user (by access token or session cookie), an API key, or an OAuth client acting for
/// itself (client credentials).
public struct Principal: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case user
        case apiKey = "api_key"
        case client
    }

    /// The `client_id` of tokens from `/v1/auth/login`, refresh of those, and API keys (SPEC 6).
    public static let firstParty = "first-party"

    public var kind: Kind
    /// `sub`: the user id or the API key id.
    public var subject: String
    public var tenantID: String
    public var workspaceID: String
    /// The session (`sid`) of a user's access token.
    public var sessionID: String?
    /// The OAuth client the caller's token was obtained by (RFC 9068 `client_id`).
    public var clientID: String

    public init(
        kind: Kind, subject: String, tenantID: String, workspaceID: String, sessionID: String?,
        clientID: String = Principal.firstParty
    ) {
        self.kind = kind
        self.clientID = clientID
        self.subject = subject
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.sessionID = sessionID
    }

    /// How the audit log names this caller: `tenant/subject`.
    public var auditName: String { "\(tenantID)/\(subject)" }
}

/// A principal's resolved authorization in one workspace.
public struct ResolvedAccess: Sendable, Equatable {
    public var roles: [String]
    public var permissions: Set<String>
    public var policyVersion: Int64
    /// Holds `platform_admin` in tenant `platform`: every tenant-scope permission in every tenant.
    public var isPlatformAdmin: Bool

    public init(roles: [String], permissions: Set<String>, policyVersion: Int64, isPlatformAdmin: Bool) {
        self.roles = roles
        self.permissions = permissions
        self.policyVersion = policyVersion
        self.isPlatformAdmin = isPlatformAdmin
    }

    public var sortedPermissions: [String] { permissions.sorted() }
}
