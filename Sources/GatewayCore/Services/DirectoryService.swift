import Foundation
import NIOPosix

/// Tenants, workspaces, users and API keys (SPEC 4, 4.1, 4.2, 5 IAM), for a caller.
///
/// Acting on an existing principal (password reset, deletion, session revocation) needs the management permission
/// in every workspace where that principal has an assignment and every permission it holds there, decided by
/// ``AuthorizationPolicy`` inside ``GatewayStore/serializingTenant(_:_:)``. A password reset or deletion revokes
/// every session and refresh family of the principal at once (the revocation list and the store).
public struct DirectoryService: Sendable {
    let store: any GatewayStore
    let iam: IAMService
    let resolver: AccessResolver
    let revocations: RevocationList
    let audit: AuditLog
    let hasher: PasswordHasher
    let clock: any GatewayClock

    public init(
        store: any GatewayStore, iam: IAMService, resolver: AccessResolver, revocations: RevocationList,
        audit: AuditLog, hasher: PasswordHasher, clock: any GatewayClock
    ) {
        self.store = store
        self.iam = iam
        self.resolver = resolver
        self.revocations = revocations
        self.audit = audit
        self.hasher = hasher
        self.clock = clock
    }

    /// Hashes off the event loops (bcrypt/scrypt block their thread) after the password rules pass.
    public func hash(_ password: String) async throws -> String {
        try PasswordHasher.validate(password)
        let hasher = self.hasher
        return try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
    }

    // MARK: - Tenants

    public struct FirstAdmin: Sendable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    /// Creates a tenant (`tenants.manage`) and, when asked, its first user with `admin` assigned tenant-wide.
    /// Everything is validated (and the password hashed) before anything is written.
    public func createTenant(_ scope: CallerScope, tenantID: String, name: String, admin: FirstAdmin?) async throws -> (
        Tenant, UserRecord?
    ) {
        try scope.require(.tenantsManage)
        let tenant = Tenant(
            tenantID: try Validation.id(tenantID, field: "tenant_id"), name: try Validation.name(name, field: "name"),
            createdAt: clock.now())
        var user: UserRecord?
        if let admin {
            let username = try Validation.name(admin.username, field: "admin.username")
            user = UserRecord(
                tenantID: tenant.tenantID, userID: SecretToken.identifier(prefix: "u-"), username: username,
                passwordHash: try await hash(admin.password), createdAt: tenant.createdAt)
        }
        try await store.createTenant(tenant)
        await audit.record(
            actor: scope.actor, tenantID: tenant.tenantID, workspaceID: nil, action: "tenant.create",
            target: "tenant:\(tenant.tenantID)", requestID: scope.requestID)
        if let user {
            try await store.createUser(user)
            try await store.createAssignment(
                Assignment(
                    assignmentID: SecretToken.identifier(prefix: "as-"), tenantID: tenant.tenantID,
                    workspaceID: WorkspaceScope.tenantWideID,
                    principalID: user.userID, roleID: PermissionCatalog.adminRole, createdAt: tenant.createdAt
                ))
            try await resolver.refreshVersions()
            await audit.record(
                actor: scope.actor, tenantID: tenant.tenantID, workspaceID: WorkspaceScope.tenantWideID,
                action: "tenant.admin", target: "user:\(user.userID)", requestID: scope.requestID)
        }
        return (tenant, user)
    }

    public func tenants(_ scope: CallerScope) async throws -> [Tenant] {
        try scope.require(.tenantsManage)
        return try await store.tenants()
    }

    // MARK: - Workspaces

    /// Creates a workspace: `workspaces.manage` tenant-wide.
    public func createWorkspace(_ scope: CallerScope, workspaceID: String, name: String) async throws -> Workspace {
        let workspace = Workspace(
            tenantID: scope.tenantID, workspaceID: try Validation.id(workspaceID, field: "workspace_id"),
            name: try Validation.name(name, field: "name"), createdAt: clock.now())
        try await store.serializingTenant(scope.tenantID) {
            try await iam.authorize(scope, .manageWorkspaces)
            try await store.createWorkspace(workspace)
        }
        try await resolver.refreshVersions()
        await audit.record(
            scope, "workspace.create", target: "workspace:\(workspace.workspaceID)", workspaceID: workspace.workspaceID)
        return workspace
    }

    /// The tenant's workspaces: any principal of the tenant may list them.
    public func workspaces(_ scope: CallerScope) async throws -> [Workspace] {
        try await store.workspaces(tenantID: scope.tenantID)
    }

    // MARK: - Users

    /// Creates a user: `users.manage` in the caller's workspace. Ids are unique across users, keys and clients.
    public func createUser(_ scope: CallerScope, username: String, password: String, userID: String?) async throws
        -> UserRecord
    {
        let username = try Validation.name(username, field: "username")
        let userID = try userID.map { try Validation.id($0, field: "user_id") } ?? SecretToken.identifier(prefix: "u-")
        guard !PermissionCatalog.reservedPrincipalIDs.contains(userID) else {
            throw GatewayError.invalidRequest("The id \(userID) is reserved.")
        }
        try await iam.authorize(scope, .createPrincipal(.usersManage, workspace: scope.workspaceID))
        let user = UserRecord(
            tenantID: scope.tenantID, userID: userID, username: username, passwordHash: try await hash(password),
            createdAt: clock.now())
        try await store.serializingTenant(scope.tenantID) {
            try await iam.authorize(scope, .createPrincipal(.usersManage, workspace: scope.workspaceID))
            try await store.createUser(user)
        }
        await audit.record(scope, "user.create", target: "user:\(userID)")
        return user
    }

    public func users(_ scope: CallerScope) async throws -> [UserRecord] {
        try scope.require(.usersManage)
        return try await store.users(tenantID: scope.tenantID)
    }

    /// 403 unless the caller may act on user `userID` (SPEC 4.1); 404 when the tenant has no such user.
    func authorizeActing(on userID: String, _ scope: CallerScope) async throws {
        guard try await store.user(tenantID: scope.tenantID, userID: userID) != nil else {
            throw GatewayError.notFound("No such user in this tenant.")
        }
        let target = try await resolver.effectiveAccess(tenantID: scope.tenantID, principalID: userID)
        try await iam.authorize(scope, .actOnPrincipal(.usersManage, target: target, unassignedScope: .tenantWide))
    }

    public func deleteUser(_ scope: CallerScope, userID: String) async throws {
        _ = try Validation.id(userID, field: "user_id")
        let deleted = try await store.serializingTenant(scope.tenantID) { () -> DeletedPrincipal? in
            try await authorizeActing(on: userID, scope)
            return try await store.deleteUser(tenantID: scope.tenantID, userID: userID, now: clock.now())
        }
        try await settle(
            scope, deleted, action: "user.delete", target: "user:\(userID)", missing: "No such user in this tenant.")
    }

    /// Sets a user's password and revokes every session and refresh family of that user.
    public func resetPassword(_ scope: CallerScope, userID: String, password: String) async throws {
        _ = try Validation.id(userID, field: "user_id")
        try await authorizeActing(on: userID, scope)
        let hash = try await hash(password)
        let revoked = try await store.serializingTenant(scope.tenantID) { () -> [String] in
            try await authorizeActing(on: userID, scope)
            guard try await store.updatePassword(tenantID: scope.tenantID, userID: userID, passwordHash: hash) else {
                throw GatewayError.notFound("No such user in this tenant.")
            }
            return try await store.revokeSessions(
                tenantID: scope.tenantID, principalID: userID, except: nil, now: clock.now())
        }
        revocations.add(revoked)
        await audit.record(scope, "user.password", target: "user:\(userID)")
    }

    /// Revokes every session and refresh family of a user.
    public func revokeSessions(_ scope: CallerScope, userID: String) async throws -> Int {
        _ = try Validation.id(userID, field: "user_id")
        let revoked = try await store.serializingTenant(scope.tenantID) { () -> [String] in
            try await authorizeActing(on: userID, scope)
            return try await store.revokeSessions(
                tenantID: scope.tenantID, principalID: userID, except: nil, now: clock.now())
        }
        revocations.add(revoked)
        await audit.record(scope, "user.sessions_revoke", target: "user:\(userID)")
        return revoked.count
    }

    // MARK: - API keys

    public struct KeyDraft: Sendable {
        public var name: String
        public var workspaceID: String
        public var expiresIn: Int?
        public var service: String?

        public init(name: String, workspaceID: String, expiresIn: Int?, service: String?) {
            self.name = name
            self.workspaceID = workspaceID
            self.expiresIn = expiresIn
            self.service = service
        }
    }

    /// Creates an API key in a workspace (`apikeys.manage` there); returns the record and the secret to show once.
    public func createAPIKey(_ scope: CallerScope, _ draft: KeyDraft) async throws -> (APIKeyRecord, String) {
        let name = try Validation.name(draft.name, field: "name")
        let workspaceID = try Validation.id(draft.workspaceID, field: "workspace_id")
        let service = try draft.service.map { try Validation.id($0, field: "service") }
        if let expiresIn = draft.expiresIn, !(60...(10 * 365 * 86400)).contains(expiresIn) {
            throw GatewayError.invalidRequest("expires_in must be between 60 seconds and 10 years.")
        }
        guard try await store.workspace(tenantID: scope.tenantID, workspaceID: workspaceID) != nil else {
            throw GatewayError.invalidRequest("The workspace does not exist in this tenant.")
        }
        var (draftRecord, secret) = AuthService.newAPIKey(
            tenantID: scope.tenantID, name: name, workspaceID: workspaceID, expiresIn: draft.expiresIn, now: clock.now()
        )
        draftRecord.service = service
        let record = draftRecord
        try await store.serializingTenant(scope.tenantID) {
            try await iam.authorize(scope, .createPrincipal(.apiKeysManage, workspace: workspaceID))
            try await store.createAPIKey(record)
        }
        await audit.record(scope, "apikey.create", target: "apikey:\(record.keyID)", workspaceID: workspaceID)
        return (record, secret)
    }

    public func apiKeys(_ scope: CallerScope) async throws -> [APIKeyRecord] {
        try scope.require(.apiKeysManage)
        return try await store.apiKeys(tenantID: scope.tenantID)
    }

    public func deleteAPIKey(_ scope: CallerScope, keyID: String) async throws {
        _ = try Validation.id(keyID, field: "key_id")
        let deleted = try await store.serializingTenant(scope.tenantID) { () -> DeletedPrincipal? in
            guard let key = try await store.apiKey(keyID: keyID), key.tenantID == scope.tenantID else { return nil }
            let target = try await resolver.effectiveAccess(tenantID: scope.tenantID, principalID: keyID)
            try await iam.authorize(
                scope, .actOnPrincipal(.apiKeysManage, target: target, unassignedScope: .workspace(key.workspaceID)))
            return try await store.deleteAPIKey(tenantID: scope.tenantID, keyID: keyID, now: clock.now())
        }
        try await settle(
            scope, deleted, action: "apikey.delete", target: "apikey:\(keyID)",
            missing: "No such API key in this tenant.")
    }

    /// After a principal was deleted: its sessions join the revocation list, the policy versions it bumped are
    /// followed at once, and the deletion is audited. `nil` (nothing deleted) is 404 with `missing`.
    func settle(_ scope: CallerScope, _ deleted: DeletedPrincipal?, action: String, target: String, missing: String)
        async throws
    {
        guard let deleted else { throw GatewayError.notFound(missing) }
        revocations.add(deleted.revokedSessionIDs)
        try await resolver.refreshVersions()
        await audit.record(scope, action, target: target)
    }
}
