import Foundation

/// The IAM store: the embedded SQLite file or a shared PostgreSQL database. One conformance suite runs against
/// every implementation.
///
/// Every method is scoped by tenant where the data belongs to one: an id of another tenant behaves as not found.
/// Changes that can alter anyone's effective permissions bump the `policy_version` of the workspaces concerned in
/// the same transaction. Errors meant for clients are ``GatewayError`` (`conflict`, `not_found`).
public protocol GatewayStore: Sendable {
    /// A short description for logs (`sqlite:data/gateway.sqlite`); never credentials.
    var description: String { get }
    /// Answers when the store can serve queries; throws otherwise (readiness).
    func ping() async throws
    /// The highest schema migration applied.
    func schemaVersion() async throws -> Int
    /// Releases connections.
    func close() async throws
    /// Runs `body` while no other admin-plane write of `tenantID` runs, in this process or (on a shared store) in
    /// any replica: each authorization check and the write it guards are one serializable unit (SPEC 4.1).
    func serializingTenant<T: Sendable>(_ tenantID: String, _ body: @Sendable () async throws -> T) async throws -> T

    // MARK: Tenants and workspaces

    /// True when no tenant exists yet (first start).
    func isEmpty() async throws -> Bool
    /// Creates a tenant with its `default` workspace. `conflict` when the id exists.
    func createTenant(_ tenant: Tenant) async throws
    func tenant(_ tenantID: String) async throws -> Tenant?
    func tenants() async throws -> [Tenant]
    /// `not_found` for an unknown tenant, `conflict` for an existing workspace id.
    func createWorkspace(_ workspace: Workspace) async throws
    func workspace(tenantID: String, workspaceID: String) async throws -> Workspace?
    func workspaces(tenantID: String) async throws -> [Workspace]

    // MARK: Users

    /// `conflict` when the username exists in the tenant, or the id is or was a principal's of the tenant (user,
    /// key or client: principal ids are unique across kinds and never reused).
    func createUser(_ user: UserRecord) async throws
    func user(tenantID: String, userID: String) async throws -> UserRecord?
    func user(tenantID: String, username: String) async throws -> UserRecord?
    func users(tenantID: String) async throws -> [UserRecord]
    /// Returns false when the user does not exist in the tenant. Sessions are revoked separately
    /// (``revokeSessions(tenantID:principalID:except:now:)``).
    func updatePassword(tenantID: String, userID: String, passwordHash: String) async throws -> Bool
    /// Deletes the user, its assignments and sessions; `nil` when it does not exist in the tenant.
    func deleteUser(tenantID: String, userID: String, now: Date) async throws -> DeletedPrincipal?

    // MARK: API keys

    func createAPIKey(_ key: APIKeyRecord) async throws
    /// Looks a key up by its globally unique id (the id is part of the presented secret).
    func apiKey(keyID: String) async throws -> APIKeyRecord?
    func apiKeys(tenantID: String) async throws -> [APIKeyRecord]
    func deleteAPIKey(tenantID: String, keyID: String, now: Date) async throws -> DeletedPrincipal?
    /// Binds a key to the service name it registers under: true when it was unbound (now bound) or already bound
    /// to `service`, false when bound to another name or unknown.
    func bindAPIKeyService(keyID: String, service: String) async throws -> Bool

    // MARK: OAuth clients

    /// The session (refresh family) a refresh token, live or spent, belongs to.
    func session(refreshTokenHash: String) async throws -> SessionRecord?
    func createAuthorizationCode(_ code: AuthorizationCodeRecord) async throws
    /// Spends a code atomically and, in the same transaction, creates its session (`sessionID`, ending at
    /// `sessionExpiresAt`, bound to the code's client) with a first refresh token: `redeemed` once, `reused` after
    /// that (until purged a day later), `invalid` for an unknown or expired code.
    func redeemAuthorizationCode(
        hash: String, now: Date, sessionID: String, sessionExpiresAt: Date, refreshTokenHash: String
    ) async throws -> CodeRedemption

    /// Creates a client and claims its id as a principal id of its tenant (`conflict` when taken).
    func createClient(_ client: OAuthClientRecord) async throws
    /// Looks a client up by its id, unique across tenants.
    func client(clientID: String) async throws -> OAuthClientRecord?
    func clients(tenantID: String) async throws -> [OAuthClientRecord]
    /// Deletes a client with its assignments and sessions, like a principal.
    func deleteClient(tenantID: String, clientID: String, now: Date) async throws -> DeletedPrincipal?

    // MARK: Sessions and refresh tokens

    /// Stores a new session (= refresh family) with its first refresh token's hash.
    func createSession(_ session: SessionRecord, refreshTokenHash: String) async throws
    func session(_ sessionID: String) async throws -> SessionRecord?
    /// Spends the presented refresh token and stores its successor, atomically: of two concurrent presentations
    /// of one token, one rotates and the other is treated as reuse, which revokes the family.
    func rotateRefreshToken(presentedHash: String, successorHash: String, now: Date) async throws -> RefreshOutcome
    /// Revokes a session and its refresh family; false when unknown or already revoked.
    func revokeSession(_ sessionID: String, now: Date) async throws -> Bool
    /// Revokes every live session (and refresh family) of a principal but `except`; returns their ids.
    func revokeSessions(tenantID: String, principalID: String, except: String?, now: Date) async throws -> [String]
    /// Sessions revoked at or after `since` (access tokens of older revocations have expired).
    func revokedSessionIDs(since: Date) async throws -> [String]

    // MARK: Roles, assignments, permissions

    /// `conflict` when the role id or name exists in the tenant.
    func createRole(_ role: RoleRecord) async throws
    func role(tenantID: String, roleID: String) async throws -> RoleRecord?
    func roles(tenantID: String) async throws -> [RoleRecord]
    /// Replaces name, description and permissions; false when the role does not exist in the tenant.
    func updateRole(_ role: RoleRecord) async throws -> Bool
    /// `conflict` while the role is assigned; false when it does not exist in the tenant.
    func deleteRole(tenantID: String, roleID: String) async throws -> Bool
    /// `conflict` when the same principal already has the role in the workspace. A tenant-wide assignment
    /// (`workspaceID` `*`) bumps every workspace of the tenant.
    func createAssignment(_ assignment: Assignment) async throws
    func deleteAssignment(tenantID: String, assignmentID: String) async throws -> Assignment?
    func assignments(tenantID: String, principalID: String?, workspaceID: String?) async throws -> [Assignment]
    /// Registers or relabels `entries` for `service`; `conflict` when a name belongs to another service.
    func registerPermissions(service: String, entries: [PermissionCatalog.Entry]) async throws
    func permissions() async throws -> [PermissionCatalog.Entry]

    // MARK: Login throttle

    /// Records one failed password check under each of `keys` (opaque digests), shared by every replica on the store,
    /// and forgets that key's failures older than `forgetBefore`.
    func recordLoginFailure(keys: [String], at: Date, forgetBefore: Date) async throws
    /// Forgets every failure recorded under `keys` (a successful login clears its account+address key).
    func clearLoginFailures(keys: [String]) async throws
    /// For each of `keys`, the failures recorded since `since` and the newest one's time.
    func loginFailures(keys: [String], since: Date) async throws -> [String: LoginFailures]

    // MARK: Policy versions and audit

    func policyVersion(tenantID: String, workspaceID: String) async throws -> Int64
    /// Versions changed after `sequence` (all without one), optionally of one tenant, and the new cursor.
    func policyVersions(after sequence: Int64?, tenantID: String?) async throws -> (
        entries: [PolicyVersionEntry], cursor: Int64
    )
    func appendAudit(_ event: AuditEvent) async throws
    /// Events matching `query`, newest first.
    func auditEvents(_ query: AuditQuery) async throws -> [AuditEvent]
}

/// Store failures that are not the caller's fault (every store throws these, so the HTTP layer maps them to 503
/// without knowing the stores).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public static func unavailable(_ message: String) -> Self { .init(message: message) }
    /// A stored row that does not hold what its schema says.
    public static func corrupt(_ message: String) -> Self { .init(message: "corrupt row: " + message) }
    public var description: String { message }
}
