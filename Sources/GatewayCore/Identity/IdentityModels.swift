import Foundation

/// A tenant: contains workspaces, users, API keys and custom roles.
public struct Tenant: Codable, Sendable, Equatable {
    public var tenantID: String
    public var name: String
    public var createdAt: Date

    public init(tenantID: String, name: String, createdAt: Date) {
        self.tenantID = tenantID
        self.name = name
        self.createdAt = createdAt
    }

    /// The reserved tenant of platform operators.
    public static let platformID = "platform"
    /// The workspace every tenant starts with.
    public static let defaultWorkspaceID = "default"
}

/// A workspace of a tenant.
public struct Workspace: Codable, Sendable, Equatable {
    public var tenantID: String
    public var workspaceID: String
    public var name: String
    public var createdAt: Date

    public init(tenantID: String, workspaceID: String, name: String, createdAt: Date) {
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.name = name
        self.createdAt = createdAt
    }
}

/// A user of a tenant. `passwordHash` is a self-describing KDF string (see ``PasswordHasher``).
public struct UserRecord: Sendable, Equatable {
    public var tenantID: String
    public var userID: String
    public var username: String
    public var passwordHash: String
    public var createdAt: Date

    public init(tenantID: String, userID: String, username: String, passwordHash: String, createdAt: Date) {
        self.tenantID = tenantID
        self.userID = userID
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// An API key: a principal of its own (`sub` = `keyID`) in one workspace. Only the secret's hash is stored.
public struct APIKeyRecord: Sendable, Equatable {
    public var tenantID: String
    public var keyID: String
    public var name: String
    public var workspaceID: String
    public var secretHash: String
    public var createdAt: Date
    public var expiresAt: Date?
    /// The one service name this key may register permissions under (SPEC 4.1); `nil` until set or first used.
    public var service: String?

    public init(
        tenantID: String, keyID: String, name: String, workspaceID: String, secretHash: String, createdAt: Date,
        expiresAt: Date?, service: String? = nil
    ) {
        self.service = service
        self.tenantID = tenantID
        self.keyID = keyID
        self.name = name
        self.workspaceID = workspaceID
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// An OAuth 2.0 client of a tenant (SPEC 5.1). Like an API key it is a principal of its tenant, in its workspace,
/// that takes assignments (`sub` = `client_id` for client credentials). Its id is unique across tenants.
public struct OAuthClientRecord: Sendable, Equatable {
    public enum ClientType: String, Sendable, CaseIterable {
        case `public`
        case confidential
    }

    public var tenantID: String
    public var clientID: String
    public var name: String
    public var workspaceID: String
    public var type: ClientType
    /// SHA-256 of the secret (confidential clients only; the secret is shown once).
    public var secretHash: String?
    public var redirectURIs: [String]
    public var postLogoutRedirectURIs: [String]
    public var grantTypes: [String]
    public var createdAt: Date

    public init(
        tenantID: String, clientID: String, name: String, workspaceID: String, type: ClientType, secretHash: String?,
        redirectURIs: [String],
        postLogoutRedirectURIs: [String], grantTypes: [String], createdAt: Date
    ) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.name = name
        self.workspaceID = workspaceID
        self.type = type
        self.secretHash = secretHash
        self.redirectURIs = redirectURIs
        self.postLogoutRedirectURIs = postLogoutRedirectURIs
        self.grantTypes = grantTypes
        self.createdAt = createdAt
    }
}

/// A login session; it is also the refresh-token family of that login. Its `sessionID` is the `sid` claim.
public struct SessionRecord: Sendable, Equatable {
    public var sessionID: String
    public var tenantID: String
    public var workspaceID: String
    public var principalID: String
    public var createdAt: Date
    /// Absolute end of the family (`tokens.refresh_ttl` after login).
    public var expiresAt: Date
    public var revokedAt: Date?
    /// The OAuth client the session was signed in through (its refresh tokens are bound to it); `nil` for
    /// `/v1/auth/login` (first-party).
    public var clientID: String?
    /// The scopes granted at the OAuth sign-in (space-separated), carried by every access token of the session.
    public var scope: String?

    public init(
        sessionID: String, tenantID: String, workspaceID: String, principalID: String, createdAt: Date, expiresAt: Date,
        revokedAt: Date? = nil,
        clientID: String? = nil, scope: String? = nil
    ) {
        self.clientID = clientID
        self.scope = scope
        self.sessionID = sessionID
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.principalID = principalID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}

/// An authorization code (SPEC 5.1): single use, 60 s, stored only as its SHA-256. Its redemption creates the
/// session (in the same store transaction that spends it), so a reuse finds that session and revokes it.
public struct AuthorizationCodeRecord: Sendable, Equatable {
    public var codeHash: String
    public var tenantID: String
    public var workspaceID: String
    /// The signed-in user.
    public var principalID: String
    public var clientID: String
    public var redirectURI: String
    /// PKCE S256 challenge (`nil` only for a confidential client that sent none).
    public var codeChallenge: String?
    public var scope: String
    public var nonce: String?
    public var authTime: Date
    public var expiresAt: Date
    /// The session its redemption created (`nil` until redeemed).
    public var sessionID: String?

    public init(
        codeHash: String, tenantID: String, workspaceID: String, principalID: String, clientID: String,
        redirectURI: String, codeChallenge: String?,
        scope: String, nonce: String?, authTime: Date, expiresAt: Date, sessionID: String? = nil
    ) {
        self.codeHash = codeHash
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.principalID = principalID
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.codeChallenge = codeChallenge
        self.scope = scope
        self.nonce = nonce
        self.authTime = authTime
        self.expiresAt = expiresAt
        self.sessionID = sessionID
    }
}

/// What presenting an authorization code did.
public enum CodeRedemption: Sendable, Equatable {
    /// The code was live and is now spent; the session (with its first refresh token) was created.
    case redeemed(AuthorizationCodeRecord, SessionRecord)
    /// The code had been redeemed before: the session it created (its `sessionID`) must be revoked.
    case reused(AuthorizationCodeRecord)
    /// No such code, or expired.
    case invalid
}

/// What presenting a refresh token did.
public enum RefreshOutcome: Sendable, Equatable {
    /// The token was live and is now spent; a successor was stored.
    case rotated(SessionRecord)
    /// The token was already spent: the whole family is now revoked (RFC 9700 4.14.2).
    case reused(SessionRecord)
    /// Unknown, expired, or of a revoked family.
    case invalid
}

/// A role assignment: one principal, one role, one workspace.
public struct Assignment: Codable, Sendable, Equatable {
    public var assignmentID: String
    public var tenantID: String
    public var workspaceID: String
    public var principalID: String
    public var roleID: String
    public var createdAt: Date

    public init(
        assignmentID: String, tenantID: String, workspaceID: String, principalID: String, roleID: String,
        createdAt: Date
    ) {
        self.assignmentID = assignmentID
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.principalID = principalID
        self.roleID = roleID
        self.createdAt = createdAt
    }
}

/// One entry of the append-only audit log.
public struct AuditEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var tenantID: String
    public var workspaceID: String?
    public var action: String
    public var target: String?
    public var requestID: String?
    /// For a cross-workspace operation, the caller's own workspace (`workspaceID` is the one acted on).
    public var originWorkspaceID: String?

    public init(
        id: Int64 = 0, at: Date, actor: String, tenantID: String, workspaceID: String?, action: String, target: String?,
        requestID: String?, originWorkspaceID: String? = nil
    ) {
        self.originWorkspaceID = originWorkspaceID
        self.id = id
        self.at = at
        self.actor = actor
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.action = action
        self.target = target
        self.requestID = requestID
    }
}

/// A page of the audit log: one tenant's events (all tenants when `tenantID` is nil), optionally of one workspace,
/// filtered, newest first, before the cursor `before` (an event id).
public struct AuditQuery: Sendable, Equatable {
    public var tenantID: String?
    /// Only events in this workspace (acted on or acted from).
    public var workspaceID: String?
    public var action: String?
    public var actor: String?
    public var since: Date?
    public var until: Date?
    /// Only events with an id below this (the previous page's last id).
    public var before: Int64?
    public var limit: Int

    public init(
        tenantID: String?, workspaceID: String? = nil, action: String? = nil, actor: String? = nil, since: Date? = nil,
        until: Date? = nil, before: Int64? = nil, limit: Int = 100
    ) {
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.action = action
        self.actor = actor
        self.since = since
        self.until = until
        self.before = before
        self.limit = limit
    }
}

/// Failed password checks of one throttle key, as the shared store counts them.
public struct LoginFailures: Sendable, Equatable {
    public var count: Int
    public var last: Date

    public init(count: Int, last: Date) {
        self.count = count
        self.last = last
    }
}
