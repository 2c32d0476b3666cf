import Foundation
import GatewayCore
import Hummingbird

/// Permission registry, roles, assignments, policy versions and the audit log (SPEC section 5, IAM).
/// Every call acts in the caller's scope; ids of another tenant behave as not found.
struct IAMController<Context: RequestContext> {
    let scopes: ScopeResolver
    let store: any GatewayStore
    let resolver: AccessResolver
    let audit: AuditLog
    let clock: any GatewayClock

    struct RegisterBody: Decodable { var service: String; var permissions: [String]; var labels: [String: String]? }
    struct RoleBody: Decodable { var name: String; var permissions: [String]; var workspace_id: String?; var description: String? }
    struct RoleUpdateBody: Decodable { var name: String?; var permissions: [String]?; var description: String? }
    struct AssignmentBody: Decodable { var user_id: String; var role_id: String; var workspace_id: String }

    struct RoleView: Encodable {
        var roleId: String; var name: String; var tenantId: String; var workspaceId: String?; var description: String?
        var permissions: [String]; var system: Bool
    }
    struct AssignmentView: Encodable {
        var assignmentId: String; var userId: String; var roleId: String; var tenantId: String; var workspaceId: String; var createdAt: Date
    }
    struct VersionView: Encodable { var tenantId: String; var workspaceId: String; var policyVersion: Int64 }
    struct Feed: Encodable { var versions: [VersionView]; var cursor: String }
    struct Page: Encodable { var events: [EventView]; var nextSince: Int64 }
    struct EventView: Encodable {
        var id: Int64; var at: Date; var actor: String; var tenantId: String; var workspaceId: String?; var action: String; var target: String?; var requestId: String?
    }

    func record(_ scope: CallerScope, _ action: String, _ target: String, workspaceID: String? = nil) async {
        await audit.record(actor: scope.principal.auditName, tenantID: scope.tenantID, workspaceID: workspaceID ?? scope.workspaceID, action: action, target: target, requestID: scope.requestID)
    }

    static func roleView(_ role: RoleRecord) -> RoleView {
        RoleView(roleId: role.roleID, name: role.name, tenantId: role.tenantID, workspaceId: role.workspaceID, description: role.description, permissions: role.permissions.sorted(), system: false)
    }

    static func systemRoleView(_ roleID: String, tenantID: String, registered: [String]) -> RoleView? {
        guard let permissions = PermissionCatalog.permissions(ofSystemRole: roleID, tenantID: tenantID, registered: registered) else { return nil }
        return RoleView(roleId: roleID, name: roleID, tenantId: tenantID, workspaceId: nil, description: "System role", permissions: permissions.sorted(), system: true)
    }

    /// Checks requested permissions against the registry: 400 for unknown names or platform-only ones outside `platform`.
    func validatedPermissions(_ names: [String], tenantID: String) async throws -> [String] {
        guard names.count <= 500 else { throw GatewayError.invalidRequest("A role has at most 500 permissions.") }
        let registered = Set(try await store.permissions().map(\.name))
        for name in names {
            guard PermissionName.isValid(name), registered.contains(name) else {
                throw GatewayError.invalidRequest("Unknown permission: \(name.prefix(128)).")
            }
            if tenantID != Tenant.platformID, PermissionCatalog.platformOnly.contains(name) {
                throw GatewayError.invalidRequest("The permission \(name) exists only in tenant platform.")
            }
        }
        return Array(Set(names)).sorted()
    }

    func addRoutes(to router: Router<Context>) {
        // MARK: Permissions
        router.post("/v1/permissions/register") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("permissions.register")
            let body = try await request.decodeJSON(RegisterBody.self, context: context)
            guard Identifier.isValid(body.service) else { throw GatewayError.invalidRequest("service must match ^[a-z0-9][a-z0-9_-]{0,62}$.") }
            guard !body.permissions.isEmpty, body.permissions.count <= 500 else { throw GatewayError.invalidRequest("permissions must list 1 to 500 names.") }
            var entries: [PermissionCatalog.Entry] = []
            for name in Set(body.permissions).sorted() {
                guard PermissionName.isValid(name) else {
                    throw GatewayError.invalidRequest("Malformed permission name: \(name.prefix(128)); use lower-case dotted names like connections.create.")
                }
                let label = body.labels?[name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? name
                guard !label.isEmpty, label.count <= 200 else { throw GatewayError.invalidRequest("Labels must be 1 to 200 characters.") }
                entries.append(.init(name: name, service: body.service, label: label))
            }
            try await store.registerPermissions(service: body.service, entries: entries)
            try await resolver.reloadRegistry()
            await record(scope, "permissions.register", "service:\(body.service)")
            return try JSONResponse.make(["service": body.service, "registered": String(entries.count)])
        }
        router.get("/v1/permissions") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("permissions.read")
            let visible = try await store.permissions().filter { scope.tenantID == Tenant.platformID || !PermissionCatalog.platformOnly.contains($0.name) }
            return try JSONResponse.make(["permissions": visible])
        }

        // MARK: Roles
        router.post("/v1/roles") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("roles.create")
            let body = try await request.decodeJSON(RoleBody.self, context: context)
            let name = try IdentityController<Context>.validName(body.name, field: "name")
            guard !PermissionCatalog.systemRoles(in: scope.tenantID).contains(name) else { throw GatewayError.conflict("A system role has this name.") }
            if let workspaceID = body.workspace_id {
                guard Identifier.isValid(workspaceID), try await store.workspace(tenantID: scope.tenantID, workspaceID: workspaceID) != nil else {
                    throw GatewayError.invalidRequest("The workspace does not exist in this tenant.")
                }
            }
            let now = clock.now()
            let role = RoleRecord(
                roleID: SecretToken.identifier(prefix: "role-"), tenantID: scope.tenantID, name: name,
                description: try body.description.map { try IdentityController<Context>.validName($0, field: "description") },
                workspaceID: body.workspace_id, permissions: try await validatedPermissions(body.permissions, tenantID: scope.tenantID),
                createdAt: now, updatedAt: now
            )
            try await store.createRole(role)
            try await resolver.refreshVersions()
            await record(scope, "role.create", "role:\(role.roleID)")
            return try JSONResponse.make(Self.roleView(role), status: .created)
        }
        router.get("/v1/roles") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("roles.read")
            var views: [RoleView] = []
            let registered = try await store.permissions().map(\.name)
            for roleID in PermissionCatalog.systemRoles(in: scope.tenantID) {
                if let view = Self.systemRoleView(roleID, tenantID: scope.tenantID, registered: registered) { views.append(view) }
            }
            views += try await store.roles(tenantID: scope.tenantID).map(Self.roleView)
            return try JSONResponse.make(["roles": views])
        }
        router.get("/v1/roles/:role_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("roles.read")
            let roleID = try context.parameters.require("role_id")
            if let view = Self.systemRoleView(roleID, tenantID: scope.tenantID, registered: try await store.permissions().map(\.name)) {
                return try JSONResponse.make(view)
            }
            guard Identifier.isValid(roleID), let role = try await store.role(tenantID: scope.tenantID, roleID: roleID) else {
                throw GatewayError.notFound("No such role in this tenant.")
            }
            return try JSONResponse.make(Self.roleView(role))
        }
        router.put("/v1/roles/:role_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("roles.update")
            let roleID = try context.parameters.require("role_id")
            guard !PermissionCatalog.isSystemRole(roleID, tenantID: scope.tenantID) else { throw GatewayError.forbidden("System roles cannot be changed.") }
            guard Identifier.isValid(roleID), var role = try await store.role(tenantID: scope.tenantID, roleID: roleID) else {
                throw GatewayError.notFound("No such role in this tenant.")
            }
            let body = try await request.decodeJSON(RoleUpdateBody.self, context: context)
            if let name = body.name {
                role.name = try IdentityController<Context>.validName(name, field: "name")
                guard !PermissionCatalog.systemRoles(in: scope.tenantID).contains(role.name) else { throw GatewayError.conflict("A system role has this name.") }
            }
            if let description = body.description { role.description = try IdentityController<Context>.validName(description, field: "description") }
            if let permissions = body.permissions { role.permissions = try await validatedPermissions(permissions, tenantID: scope.tenantID) }
            role.updatedAt = clock.now()
            guard try await store.updateRole(role) else { throw GatewayError.notFound("No such role in this tenant.") }
            try await resolver.refreshVersions()
            await record(scope, "role.update", "role:\(roleID)")
            return try JSONResponse.make(Self.roleView(role))
        }
        router.delete("/v1/roles/:role_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("roles.delete")
            let roleID = try context.parameters.require("role_id")
            guard !PermissionCatalog.isSystemRole(roleID, tenantID: scope.tenantID) else { throw GatewayError.forbidden("System roles cannot be deleted.") }
            guard Identifier.isValid(roleID), try await store.deleteRole(tenantID: scope.tenantID, roleID: roleID) else {
                throw GatewayError.notFound("No such role in this tenant.")
            }
            try await resolver.refreshVersions()
            await record(scope, "role.delete", "role:\(roleID)")
            return JSONResponse.noContent()
        }

        // MARK: Assignments
        router.post("/v1/assignments") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("assignments.manage")
            let body = try await request.decodeJSON(AssignmentBody.self, context: context)
            for (field, value) in [("user_id", body.user_id), ("role_id", body.role_id), ("workspace_id", body.workspace_id)] where !Identifier.isValid(value) {
                throw GatewayError.invalidRequest("\(field) must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
            }
            guard try await store.workspace(tenantID: scope.tenantID, workspaceID: body.workspace_id) != nil else {
                throw GatewayError.notFound("The workspace does not exist in this tenant.")
            }
            let isUser = try await store.user(tenantID: scope.tenantID, userID: body.user_id) != nil
            let key = isUser ? nil : try await store.apiKey(keyID: body.user_id)
            guard isUser || key?.tenantID == scope.tenantID else { throw GatewayError.notFound("No such user or API key in this tenant.") }
            if !PermissionCatalog.isSystemRole(body.role_id, tenantID: scope.tenantID) {
                guard let role = try await store.role(tenantID: scope.tenantID, roleID: body.role_id) else {
                    throw GatewayError.notFound("No such role in this tenant.")
                }
                if let limited = role.workspaceID, limited != body.workspace_id {
                    throw GatewayError.invalidRequest("The role is limited to workspace \(limited).")
                }
            }
            let assignment = Assignment(
                assignmentID: SecretToken.identifier(prefix: "as-"), tenantID: scope.tenantID, workspaceID: body.workspace_id,
                principalID: body.user_id, roleID: body.role_id, createdAt: clock.now()
            )
            try await store.createAssignment(assignment)
            try await resolver.refreshVersions()
            await record(scope, "assignment.create", "assignment:\(assignment.assignmentID)", workspaceID: body.workspace_id)
            return try JSONResponse.make(Self.view(assignment), status: .created)
        }
        router.delete("/v1/assignments/:assignment_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("assignments.manage")
            let id = try context.parameters.require("assignment_id")
            guard Identifier.isValid(id), let deleted = try await store.deleteAssignment(tenantID: scope.tenantID, assignmentID: id) else {
                throw GatewayError.notFound("No such assignment in this tenant.")
            }
            try await resolver.refreshVersions()
            await record(scope, "assignment.delete", "assignment:\(id)", workspaceID: deleted.workspaceID)
            return JSONResponse.noContent()
        }
        router.get("/v1/assignments") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("assignments.read")
            let userID = request.uri.queryParameters["user_id"].map(String.init)
            let workspaceID = request.uri.queryParameters["workspace_id"].map(String.init)
            for value in [userID, workspaceID].compactMap({ $0 }) where !Identifier.isValid(value) {
                throw GatewayError.invalidRequest("user_id and workspace_id must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
            }
            let list = try await store.assignments(tenantID: scope.tenantID, principalID: userID, workspaceID: workspaceID)
            return try JSONResponse.make(["assignments": list.map(Self.view)])
        }

        // MARK: Policy versions
        router.get("/v1/policy-version") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let workspaceID = request.uri.queryParameters["workspace_id"].map(String.init) ?? scope.workspaceID
            guard Identifier.isValid(workspaceID) else { throw GatewayError.invalidRequest("workspace_id must match ^[a-z0-9][a-z0-9_-]{0,62}$.") }
            let version = try await store.policyVersion(tenantID: scope.tenantID, workspaceID: workspaceID)
            return try JSONResponse.make(VersionView(tenantId: scope.tenantID, workspaceId: workspaceID, policyVersion: version))
        }
        router.get("/v1/policy-versions") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            var since: Int64?
            if let text = request.uri.queryParameters["since"], !text.isEmpty {
                guard let value = Int64(text), value >= 0 else { throw GatewayError.invalidRequest("since must be a cursor returned by this endpoint.") }
                since = value
            }
            let tenantFilter: String? = scope.holds("policy.read") && !scope.isCrossTenant ? nil : scope.tenantID
            let (entries, cursor) = try await store.policyVersions(after: since, tenantID: tenantFilter)
            return try JSONResponse.make(Feed(versions: entries.map { VersionView(tenantId: $0.tenantID, workspaceId: $0.workspaceID, policyVersion: $0.version) }, cursor: String(cursor)))
        }

        // MARK: Audit
        router.get("/v1/audit-events") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("audit.read")
            let since = request.uri.queryParameters["since"].map { Int64($0) } ?? 0
            let limit = request.uri.queryParameters["limit"].map { Int($0) } ?? 100
            guard let since, since >= 0, let limit, (1...1000).contains(limit) else {
                throw GatewayError.invalidRequest("since must be an event id and limit between 1 and 1000.")
            }
            let events = try await store.auditEvents(tenantID: scope.tenantID, after: since, limit: limit)
            return try JSONResponse.make(Page(
                events: events.map { EventView(id: $0.id, at: $0.at, actor: $0.actor, tenantId: $0.tenantID, workspaceId: $0.workspaceID, action: $0.action, target: $0.target, requestId: $0.requestID) },
                nextSince: events.last?.id ?? since
            ))
        }
    }

    static func view(_ assignment: Assignment) -> AssignmentView {
        AssignmentView(assignmentId: assignment.assignmentID, userId: assignment.principalID, roleId: assignment.roleID, tenantId: assignment.tenantID, workspaceId: assignment.workspaceID, createdAt: assignment.createdAt)
    }
}

/// `/v1/admin/keys`: list, rotate and revoke signing keys (platform admin).
struct KeyAdminController<Context: RequestContext> {
    let scopes: ScopeResolver
    let keyRing: KeyRingManager

    struct KeyView: Encodable {
        var kid: String; var status: String; var alg: String; var createdAt: Date; var activatedAt: Date?; var retireAt: Date?
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/admin/keys") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("keys.read")
            let keys = keyRing.snapshot.records.map { KeyView(kid: $0.kid, status: $0.status.rawValue, alg: $0.alg, createdAt: $0.createdAt, activatedAt: $0.activatedAt, retireAt: $0.retireAt) }
            return try JSONResponse.make(keys)
        }
        router.post("/v1/admin/keys/rotate") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("keys.rotate")
            let (active, previous) = try await keyRing.rotate()
            return try JSONResponse.make(["active_kid": active, "previous_kid": previous])
        }
        router.post("/v1/admin/keys/:kid/revoke") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("keys.rotate")
            let kid = try context.parameters.require("kid")
            guard keyRing.snapshot.records.contains(where: { $0.kid == kid }) else { throw GatewayError.notFound("No such key.") }
            try await keyRing.revoke(kid: kid)
            return try JSONResponse.make(["revoked_kid": kid, "active_kid": keyRing.snapshot.active.kid])
        }
    }
}
