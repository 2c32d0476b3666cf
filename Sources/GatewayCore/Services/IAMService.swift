import Foundation

/// Roles, assignments, the permission registry and the audit log (SPEC 4, 4.1, 5 IAM), for a caller.
///
/// Every write runs inside ``GatewayStore/serializingTenant(_:_:)``: the caller's and the target's access are read
/// fresh from the store, ``AuthorizationPolicy`` decides, and only then the store writes. A refused write changes
/// nothing and audits nothing. Validation (400/404) comes before the policy (403), conflicts (409) after it.
public struct IAMService: Sendable {
    let store: any GatewayStore
    let resolver: AccessResolver
    let audit: AuditLog
    let clock: any GatewayClock

    public init(store: any GatewayStore, resolver: AccessResolver, audit: AuditLog, clock: any GatewayClock) {
        self.store = store
        self.resolver = resolver
        self.audit = audit
        self.clock = clock
    }

    /// What the caller holds across the scope's tenant, read fresh (a platform admin holds everything).
    func access(of scope: CallerScope) async throws -> EffectiveAccess {
        if scope.isPlatformAdmin { return .platformAdmin }
        var access = try await resolver.effectiveAccess(tenantID: scope.tenantID, principalID: scope.principal.subject)
        // Platform-only permissions are held by no one outside tenant `platform`, whatever a role says.
        if scope.tenantID != Tenant.platformID {
            let platformOnly = Permission.platformOnlyNames
            access.tenantWide.subtract(platformOnly)
            for key in access.perWorkspace.keys { access.perWorkspace[key]?.subtract(platformOnly) }
        }
        return access
    }

    /// Checks the policy for `operation` with the caller's current access; 403 when denied.
    func authorize(_ scope: CallerScope, _ operation: AuthorizationPolicy.Operation) async throws {
        try AuthorizationPolicy.decide(try await access(of: scope), operation).enforce()
    }

    // MARK: - Permission registry

    public struct Registration: Sendable {
        public var service: String
        public var permissions: [String]
        public var labels: [String: String]

        public init(service: String, permissions: [String], labels: [String: String]) {
            self.service = service
            self.permissions = permissions
            self.labels = labels
        }
    }

    /// Registers (or relabels) a service's permissions. Reserved IAM names and the service name `iam` are 403; an
    /// API key is bound to the first service name it registers (or the one it was created with) and 403 for any
    /// other.
    public func register(_ scope: CallerScope, _ registration: Registration) async throws -> Int {
        try scope.require(.permissionsRegister)
        let service = try Validation.id(registration.service, field: "service")
        guard !registration.permissions.isEmpty, registration.permissions.count <= 500 else {
            throw GatewayError.invalidRequest("permissions must list 1 to 500 names.")
        }
        var entries: [PermissionCatalog.Entry] = []
        for name in Set(registration.permissions).sorted() {
            guard PermissionName.isValid(name) else {
                throw GatewayError.invalidRequest(
                    "Malformed permission name: \(name.prefix(128)); use lower-case dotted names like connections.create."
                )
            }
            let label = registration.labels[name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? name
            guard !label.isEmpty, label.count <= 200 else {
                throw GatewayError.invalidRequest("Labels must be 1 to 200 characters.")
            }
            entries.append(.init(name: name, service: service, label: label))
        }
        guard service != "iam" else { throw GatewayError.forbidden("The service name iam belongs to the gateway.") }
        if let reserved = entries.first(where: { Permission($0.name).isReserved }) {
            throw GatewayError.forbidden("The permission \(reserved.name) is in the gateway's reserved IAM vocabulary.")
        }
        // A service registers with its API key, which is bound to one service name; an OAuth client is not.
        if scope.principal.kind == .client, !scope.isCrossTenant {
            throw GatewayError.forbidden("Permissions are registered with a service API key, not an OAuth client.")
        }
        if scope.principal.kind == .apiKey, !scope.isCrossTenant {
            guard try await store.bindAPIKeyService(keyID: scope.principal.subject, service: service) else {
                throw GatewayError.forbidden("This API key is bound to another service name.")
            }
        }
        try await store.registerPermissions(service: service, entries: entries)
        try await resolver.reloadRegistry()
        await audit.record(scope, "permissions.register", target: "service:\(service)")
        return entries.count
    }

    /// The registry (`permissions.read`); platform-only permissions only for tenant `platform`.
    public func permissions(_ scope: CallerScope) async throws -> [PermissionCatalog.Entry] {
        try scope.require(.permissionsRead)
        return try await store.permissions().filter {
            scope.tenantID == Tenant.platformID || !Permission($0.name).isPlatformOnly
        }
    }

    /// Known, well-formed names, and no platform-only one outside tenant `platform` (400); sorted, unique.
    func validatedPermissions(_ names: [String], tenantID: String) async throws -> [String] {
        guard names.count <= 500 else { throw GatewayError.invalidRequest("A role has at most 500 permissions.") }
        let registered = Set(try await resolver.registeredPermissions())
        for name in names {
            guard PermissionName.isValid(name), registered.contains(name) else {
                throw GatewayError.invalidRequest("Unknown permission: \(name.prefix(128)).")
            }
            if tenantID != Tenant.platformID, Permission(name).isPlatformOnly {
                throw GatewayError.invalidRequest("The permission \(name) exists only in tenant platform.")
            }
        }
        return Array(Set(names)).sorted()
    }

    // MARK: - Roles

    public struct RoleDraft: Sendable {
        public var name: String
        public var permissions: [String]
        public var workspaceID: String?
        public var description: String?

        public init(name: String, permissions: [String], workspaceID: String?, description: String?) {
            self.name = name
            self.permissions = permissions
            self.workspaceID = workspaceID
            self.description = description
        }
    }

    public struct RoleChange: Sendable {
        public var name: String?
        public var permissions: [String]?
        public var description: String?

        public init(name: String?, permissions: [String]?, description: String?) {
            self.name = name
            self.permissions = permissions
            self.description = description
        }
    }

    /// A role as the API shows it.
    public struct RoleView: Sendable {
        public var role: RoleRecord
        public var isSystem: Bool

        public init(role: RoleRecord, isSystem: Bool) {
            self.role = role
            self.isSystem = isSystem
        }
    }

    public func createRole(_ scope: CallerScope, _ draft: RoleDraft) async throws -> RoleRecord {
        let name = try Validation.name(draft.name, field: "name")
        let description = try draft.description.map { try Validation.name($0, field: "description") }
        if let workspaceID = draft.workspaceID {
            guard Identifier.isValid(workspaceID),
                try await store.workspace(tenantID: scope.tenantID, workspaceID: workspaceID) != nil
            else {
                throw GatewayError.invalidRequest("The workspace does not exist in this tenant.")
            }
        }
        let permissions = try await validatedPermissions(draft.permissions, tenantID: scope.tenantID)
        let now = clock.now()
        let role = RoleRecord(
            roleID: SecretToken.identifier(prefix: "role-"), tenantID: scope.tenantID, name: name,
            description: description,
            workspaceID: draft.workspaceID, permissions: permissions, createdAt: now, updatedAt: now
        )
        try await store.serializingTenant(scope.tenantID) {
            try await authorize(
                scope,
                .createRole(
                    permissions: Set(permissions), limitedTo: role.workspaceID, callerWorkspace: scope.workspaceID))
            guard !PermissionCatalog.systemRoles(in: scope.tenantID).contains(name) else {
                throw GatewayError.conflict("A system role has this name.")
            }
            try await store.createRole(role)
        }
        try await resolver.refreshVersions()
        await audit.record(scope, "role.create", target: "role:\(role.roleID)", workspaceID: role.workspaceID)
        return role
    }

    /// Every role of the scope's tenant (`roles.read`): system roles first.
    public func roles(_ scope: CallerScope) async throws -> [RoleView] {
        try scope.require(.rolesRead)
        let registered = try await resolver.registeredPermissions()
        var views = PermissionCatalog.systemRoles(in: scope.tenantID).compactMap {
            Self.systemRole($0, tenantID: scope.tenantID, registered: registered)
        }
        views += try await store.roles(tenantID: scope.tenantID).map { RoleView(role: $0, isSystem: false) }
        return views
    }

    public func role(_ scope: CallerScope, roleID: String) async throws -> RoleView {
        try scope.require(.rolesRead)
        if let view = Self.systemRole(
            roleID, tenantID: scope.tenantID, registered: try await resolver.registeredPermissions())
        {
            return view
        }
        guard Identifier.isValid(roleID), let role = try await store.role(tenantID: scope.tenantID, roleID: roleID)
        else {
            throw GatewayError.notFound("No such role in this tenant.")
        }
        return RoleView(role: role, isSystem: false)
    }

    static func systemRole(_ roleID: String, tenantID: String, registered: [String]) -> RoleView? {
        guard
            let permissions = PermissionCatalog.permissions(
                ofSystemRole: roleID, tenantID: tenantID, registered: registered)
        else { return nil }
        let role = RoleRecord(
            roleID: roleID, tenantID: tenantID, name: roleID, description: "System role", workspaceID: nil,
            permissions: permissions.sorted(),
            createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0)
        )
        return RoleView(role: role, isSystem: true)
    }

    /// A custom role of the tenant for a change; 403 for a system role, 404 when unknown.
    func customRole(_ scope: CallerScope, _ roleID: String) async throws -> RoleRecord {
        guard !PermissionCatalog.isSystemRole(roleID, tenantID: scope.tenantID) else {
            throw GatewayError.forbidden("System roles cannot be changed or deleted.")
        }
        guard Identifier.isValid(roleID), let role = try await store.role(tenantID: scope.tenantID, roleID: roleID)
        else {
            throw GatewayError.notFound("No such role in this tenant.")
        }
        return role
    }

    /// Where role `roleID` is assigned now.
    func assignedScopes(of roleID: String, tenantID: String) async throws -> Set<WorkspaceScope> {
        Set(
            try await store.assignments(tenantID: tenantID, principalID: nil, workspaceID: nil).filter {
                $0.roleID == roleID
            }.map { WorkspaceScope($0.workspaceID) })
    }

    public func updateRole(_ scope: CallerScope, roleID: String, _ change: RoleChange) async throws -> RoleRecord {
        _ = try await customRole(scope, roleID)
        let name = try change.name.map { try Validation.name($0, field: "name") }
        let description = try change.description.map { try Validation.name($0, field: "description") }
        var permissions: [String]?
        if let requested = change.permissions {
            permissions = try await validatedPermissions(requested, tenantID: scope.tenantID)
        }
        let updated = try await store.serializingTenant(scope.tenantID) { [permissions] () -> RoleRecord in
            var role = try await customRole(scope, roleID)
            let concerned = Set(role.permissions).union(permissions ?? [])
            try await authorize(
                scope,
                .changeRole(
                    .rolesUpdate, permissions: concerned, limitedTo: role.workspaceID,
                    assignedScopes: try await assignedScopes(of: roleID, tenantID: scope.tenantID),
                    callerWorkspace: scope.workspaceID
                ))
            if let name {
                guard !PermissionCatalog.systemRoles(in: scope.tenantID).contains(name) else {
                    throw GatewayError.conflict("A system role has this name.")
                }
                role.name = name
            }
            if let description { role.description = description }
            if let permissions { role.permissions = permissions }
            role.updatedAt = clock.now()
            guard try await store.updateRole(role) else { throw GatewayError.notFound("No such role in this tenant.") }
            return role
        }
        try await resolver.refreshVersions()
        await audit.record(scope, "role.update", target: "role:\(roleID)", workspaceID: updated.workspaceID)
        return updated
    }

    public func deleteRole(_ scope: CallerScope, roleID: String) async throws {
        _ = try await customRole(scope, roleID)
        let deleted = try await store.serializingTenant(scope.tenantID) { () -> RoleRecord in
            let role = try await customRole(scope, roleID)
            try await authorize(
                scope,
                .changeRole(
                    .rolesDelete, permissions: Set(role.permissions), limitedTo: role.workspaceID,
                    assignedScopes: try await assignedScopes(of: roleID, tenantID: scope.tenantID),
                    callerWorkspace: scope.workspaceID
                ))
            guard try await store.deleteRole(tenantID: scope.tenantID, roleID: roleID) else {
                throw GatewayError.notFound("No such role in this tenant.")
            }
            return role
        }
        try await resolver.refreshVersions()
        await audit.record(scope, "role.delete", target: "role:\(roleID)", workspaceID: deleted.workspaceID)
    }

    // MARK: - Assignments

    /// Assigns `roleID` to a principal of the tenant in a workspace or tenant-wide (`*`).
    public func assign(_ scope: CallerScope, principalID: String, roleID: String, workspaceID: String) async throws
        -> Assignment
    {
        _ = try Validation.id(principalID, field: "user_id")
        _ = try Validation.id(roleID, field: "role_id")
        let target = try Validation.workspaceScope(workspaceID)
        let assignment = Assignment(
            assignmentID: SecretToken.identifier(prefix: "as-"), tenantID: scope.tenantID,
            workspaceID: target.workspaceID,
            principalID: principalID, roleID: roleID, createdAt: clock.now()
        )
        try await store.serializingTenant(scope.tenantID) {
            // Inside the unit: a principal deleted meanwhile must not get an assignment.
            if case .workspace(let id) = target {
                guard try await store.workspace(tenantID: scope.tenantID, workspaceID: id) != nil else {
                    throw GatewayError.notFound("The workspace does not exist in this tenant.")
                }
            }
            guard try await principalExists(principalID, tenantID: scope.tenantID) else {
                throw GatewayError.notFound("No such user, API key or client in this tenant.")
            }
            let permissions = try await assignableRole(roleID, tenantID: scope.tenantID, in: target)
            try await authorize(scope, .assign(rolePermissions: permissions, scope: target))
            try await store.createAssignment(assignment)
        }
        try await resolver.refreshVersions()
        await audit.record(
            scope, "assignment.create", target: "assignment:\(assignment.assignmentID)",
            workspaceID: assignment.workspaceID)
        return assignment
    }

    /// The permissions of a role that may be assigned in `target`: 404 when the tenant has no such role, 400 for a
    /// workspace-limited role outside its workspace (tenant-wide included).
    func assignableRole(_ roleID: String, tenantID: String, in target: WorkspaceScope) async throws -> Set<String> {
        guard let role = try await resolver.role(roleID, tenantID: tenantID) else {
            throw GatewayError.notFound("No such role in this tenant.")
        }
        if let limited = role.limitedTo, target != .workspace(limited) {
            throw GatewayError.invalidRequest("The role is limited to workspace \(limited).")
        }
        return role.permissions
    }

    func principalExists(_ principalID: String, tenantID: String) async throws -> Bool {
        if try await store.user(tenantID: tenantID, userID: principalID) != nil { return true }
        if try await store.apiKey(keyID: principalID)?.tenantID == tenantID { return true }
        return try await store.client(clientID: principalID)?.tenantID == tenantID
    }

    public func unassign(_ scope: CallerScope, assignmentID: String) async throws {
        _ = try Validation.id(assignmentID, field: "assignment_id")
        let removed = try await store.serializingTenant(scope.tenantID) { () -> Assignment in
            guard
                let assignment = try await store.assignments(
                    tenantID: scope.tenantID, principalID: nil, workspaceID: nil
                ).first(where: { $0.assignmentID == assignmentID })
            else {
                throw GatewayError.notFound("No such assignment in this tenant.")
            }
            let permissions = try await resolver.role(assignment.roleID, tenantID: scope.tenantID)?.permissions ?? []
            try await authorize(
                scope, .assign(rolePermissions: permissions, scope: WorkspaceScope(assignment.workspaceID)))
            guard try await store.deleteAssignment(tenantID: scope.tenantID, assignmentID: assignmentID) != nil else {
                throw GatewayError.notFound("No such assignment in this tenant.")
            }
            return assignment
        }
        try await resolver.refreshVersions()
        await audit.record(
            scope, "assignment.delete", target: "assignment:\(assignmentID)", workspaceID: removed.workspaceID)
    }

    /// Assignments of the tenant (`assignments.read`), optionally of one principal and one workspace (or `*`).
    public func assignments(_ scope: CallerScope, principalID: String?, workspaceID: String?) async throws
        -> [Assignment]
    {
        try scope.require(.assignmentsRead)
        if let principalID { _ = try Validation.id(principalID, field: "user_id") }
        if let workspaceID { _ = try Validation.workspaceScope(workspaceID) }
        return try await store.assignments(tenantID: scope.tenantID, principalID: principalID, workspaceID: workspaceID)
    }

    // MARK: - The caller's own holdings

    /// What the caller holds in `workspace` of its scope's tenant (`GET /v1/me`): roles, permissions and the policy
    /// version there. Tenant-wide (`*`): the roles assigned tenant-wide and their permissions, with the highest policy
    /// version among the tenant's workspaces. A platform admin acting in another tenant holds `platform_admin` there
    /// (every permission, SPEC 4.1). It needs no permission: it is the caller's own; an unknown workspace is 404.
    public func holdings(_ scope: CallerScope, in workspace: WorkspaceScope) async throws -> ResolvedAccess {
        if scope.isPlatformAdmin, scope.isCrossTenant {
            let all = try await resolver.role(PermissionCatalog.platformAdminRole, tenantID: Tenant.platformID)
            return ResolvedAccess(
                roles: [PermissionCatalog.platformAdminRole], permissions: all?.permissions ?? [],
                policyVersion: try await policyVersion(tenantID: scope.tenantID, in: workspace), isPlatformAdmin: true)
        }
        guard workspace == .tenantWide else {
            return try await resolver.resolve(
                tenantID: scope.tenantID, workspaceID: workspace.workspaceID, principalID: scope.principal.subject)
        }
        var roles: Set<String> = []
        var permissions: Set<String> = []
        let assignments = try await store.assignments(
            tenantID: scope.tenantID, principalID: scope.principal.subject, workspaceID: WorkspaceScope.tenantWideID)
        for assignment in assignments {
            guard let role = try await resolver.role(assignment.roleID, tenantID: scope.tenantID),
                role.limitedTo == nil
            else { continue }
            roles.insert(assignment.roleID)
            permissions.formUnion(role.permissions)
        }
        // Platform-only permissions are held by no one outside tenant `platform`, whatever a role says.
        if scope.tenantID != Tenant.platformID { permissions.subtract(Permission.platformOnlyNames) }
        return ResolvedAccess(
            roles: roles.sorted(), permissions: permissions,
            policyVersion: try await policyVersion(tenantID: scope.tenantID, in: .tenantWide),
            isPlatformAdmin: scope.isPlatformAdmin)
    }

    /// A workspace's policy version (404 when it does not exist); tenant-wide, the highest of the tenant's.
    func policyVersion(tenantID: String, in workspace: WorkspaceScope) async throws -> Int64 {
        switch workspace {
        case .workspace(let id):
            return try await store.policyVersion(tenantID: tenantID, workspaceID: id)
        case .tenantWide:
            let feed = try await store.policyVersions(after: nil, tenantID: tenantID)
            return feed.entries.map(\.version).max() ?? 0
        }
    }

    // MARK: - Audit

    /// The audit log: the whole tenant's with `audit.read` tenant-wide, else the caller's workspace's with
    /// `audit.read` there (asking for another workspace's is 403).
    public func auditEvents(_ scope: CallerScope, _ query: AuditQuery) async throws -> [AuditEvent] {
        var query = query
        query.tenantID = scope.tenantID
        let access = try await access(of: scope)
        if !AuthorizationPolicy.decide(access, .readAudit(.tenantWide)).isAllowed {
            let workspace = query.workspaceID ?? scope.workspaceID
            try AuthorizationPolicy.decide(access, .readAudit(.workspace(workspace))).enforce()
            query.workspaceID = workspace
        }
        return try await store.auditEvents(query)
    }
}
