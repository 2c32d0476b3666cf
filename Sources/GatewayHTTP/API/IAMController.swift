import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore

/// Permission registry, roles, assignments, policy versions and the audit log (SPEC section 5, IAM): decodes the
/// request, calls ``IAMService`` (which authorizes and writes), encodes the answer.
struct IAMController<Context: RequestContext> {
    let scopes: ScopeResolver
    let iam: IAMService
    let store: any GatewayStore

    struct RegisterBody: Decodable {
        var service: String
        var permissions: [String]
        var labels: [String: String]?
    }
    struct RoleBody: Decodable {
        var name: String
        var permissions: [String]
        var workspace_id: String?
        var description: String?
    }
    struct RoleUpdateBody: Decodable {
        var name: String?
        var permissions: [String]?
        var description: String?
    }
    struct AssignmentBody: Decodable {
        var user_id: String
        var role_id: String
        var workspace_id: String
    }

    struct RoleView: Encodable {
        var roleId: String
        var name: String
        var tenantId: String
        var workspaceId: String?
        var description: String?
        var permissions: [String]
        var system: Bool
    }
    struct AssignmentView: Encodable {
        var assignmentId: String
        var userId: String
        var roleId: String
        var tenantId: String
        var workspaceId: String
        var createdAt: Date
    }
    struct VersionView: Encodable {
        var tenantId: String
        var workspaceId: String
        var policyVersion: Int64
    }
    struct Feed: Encodable {
        var versions: [VersionView]
        var cursor: String
    }
    struct Page: Encodable {
        var events: [EventView]
        var cursor: String?
    }
    struct EventView: Encodable {
        var id: Int64
        var at: Date
        var actor: String
        var tenantId: String
        var workspaceId: String?
        var originWorkspaceId: String?
        var action: String
        var target: String?
        var requestId: String?
    }

    static func roleView(_ view: IAMService.RoleView) -> RoleView {
        let role = view.role
        return RoleView(
            roleId: role.roleID, name: role.name, tenantId: role.tenantID, workspaceId: role.workspaceID,
            description: role.description, permissions: role.permissions.sorted(), system: view.isSystem)
    }

    /// `GET /v1/me`: who the caller is and what it holds in a workspace of its scope.
    struct Me: Encodable {
        var sub: String
        var tenantId: String
        var workspaceId: String
        var roles: [String]
        var permissions: [String]
        var policyVersion: Int64
    }

    func addRoutes(to router: Router<Context>) {
        // MARK: The caller
        // In the scope's workspace (the token's, or for a platform admin the one X-Tenant-Id / X-Workspace-Id select),
        // or in `?workspace_id=` of the same tenant (`*`: tenant-wide): what the caller holds there, no new token.
        router.get("/v1/me") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let workspace =
                try request.uri.queryParameters["workspace_id"].map { try Validation.workspaceScope(String($0)) }
                ?? .workspace(scope.workspaceID)
            let held = try await iam.holdings(scope, in: workspace)
            return try JSONResponse.make(
                Me(
                    sub: scope.principal.subject, tenantId: scope.tenantID, workspaceId: workspace.workspaceID,
                    roles: held.roles, permissions: held.sortedPermissions, policyVersion: held.policyVersion))
        }

        // MARK: Permissions
        router.post("/v1/permissions/register") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require(.permissionsRegister)
            let body = try await request.decodeJSON(RegisterBody.self, context: context)
            let count = try await iam.register(
                scope, .init(service: body.service, permissions: body.permissions, labels: body.labels ?? [:]))
            return try JSONResponse.make(["service": body.service, "registered": String(count)])
        }
        router.get("/v1/permissions") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(["permissions": try await iam.permissions(scope)])
        }

        // MARK: Roles
        router.post("/v1/roles") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let body = try await request.decodeJSON(RoleBody.self, context: context)
            let role = try await iam.createRole(
                scope,
                .init(
                    name: body.name, permissions: body.permissions, workspaceID: body.workspace_id,
                    description: body.description))
            return try JSONResponse.make(Self.roleView(.init(role: role, isSystem: false)), status: .created)
        }
        router.get("/v1/roles") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(["roles": try await iam.roles(scope).map(Self.roleView)])
        }
        router.get("/v1/roles/:role_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(
                Self.roleView(try await iam.role(scope, roleID: try context.parameters.require("role_id"))))
        }
        router.put("/v1/roles/:role_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let roleID = try context.parameters.require("role_id")
            let body = try await request.decodeJSON(RoleUpdateBody.self, context: context)
            let role = try await iam.updateRole(
                scope, roleID: roleID,
                .init(name: body.name, permissions: body.permissions, description: body.description))
            return try JSONResponse.make(Self.roleView(.init(role: role, isSystem: false)))
        }
        router.delete("/v1/roles/:role_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try await iam.deleteRole(scope, roleID: try context.parameters.require("role_id"))
            return JSONResponse.noContent()
        }

        // MARK: Assignments
        router.post("/v1/assignments") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let body = try await request.decodeJSON(AssignmentBody.self, context: context)
            let assignment = try await iam.assign(
                scope, principalID: body.user_id, roleID: body.role_id, workspaceID: body.workspace_id)
            return try JSONResponse.make(Self.view(assignment), status: .created)
        }
        router.delete("/v1/assignments/:assignment_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try await iam.unassign(scope, assignmentID: try context.parameters.require("assignment_id"))
            return JSONResponse.noContent()
        }
        router.get("/v1/assignments") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let list = try await iam.assignments(
                scope, principalID: request.uri.queryParameters["user_id"].map(String.init),
                workspaceID: request.uri.queryParameters["workspace_id"].map(String.init)
            )
            return try JSONResponse.make(["assignments": list.map(Self.view)])
        }

        // MARK: Policy versions
        router.get("/v1/policy-version") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let workspaceID = request.uri.queryParameters["workspace_id"].map(String.init) ?? scope.workspaceID
            guard Identifier.isValid(workspaceID) else {
                throw GatewayError.invalidRequest("workspace_id must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
            }
            let version = try await store.policyVersion(tenantID: scope.tenantID, workspaceID: workspaceID)
            return try JSONResponse.make(
                VersionView(tenantId: scope.tenantID, workspaceId: workspaceID, policyVersion: version))
        }
        router.get("/v1/policy-versions") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            var since: Int64?
            if let text = request.uri.queryParameters["since"], !text.isEmpty {
                guard let value = Int64(text), value >= 0 else {
                    throw GatewayError.invalidRequest("since must be a cursor returned by this endpoint.")
                }
                since = value
            }
            let tenantFilter: String? = scope.holds(.policyRead) && !scope.isCrossTenant ? nil : scope.tenantID
            let (entries, cursor) = try await store.policyVersions(after: since, tenantID: tenantFilter)
            return try JSONResponse.make(
                Feed(
                    versions: entries.map {
                        VersionView(tenantId: $0.tenantID, workspaceId: $0.workspaceID, policyVersion: $0.version)
                    }, cursor: String(cursor)))
        }

        // MARK: Audit
        router.get("/v1/audit-events") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let query = try Self.auditQuery(request.uri.queryParameters)
            let events = try await iam.auditEvents(scope, query)
            return try JSONResponse.make(
                Page(
                    events: events.map {
                        EventView(
                            id: $0.id, at: $0.at, actor: $0.actor, tenantId: $0.tenantID, workspaceId: $0.workspaceID,
                            originWorkspaceId: $0.originWorkspaceID,
                            action: $0.action, target: $0.target, requestId: $0.requestID
                        )
                    },
                    cursor: events.count == query.limit ? events.last.map { String($0.id) } : nil
                ))
        }
    }

    /// `since`/`until` (RFC 3339 or Unix seconds), `action`, `actor`, `workspace_id`, `limit` (1-1000, default 100)
    /// and `cursor` (from the previous page).
    static func auditQuery(_ parameters: FlatDictionary<Substring, Substring>) throws -> AuditQuery {
        func date(_ name: String) throws -> Date? {
            guard let text = parameters[Substring(name)].map(String.init), !text.isEmpty else { return nil }
            if let seconds = Int64(text), (0...(1 << 40)).contains(seconds) {
                return Date(timeIntervalSince1970: TimeInterval(seconds))
            }
            if let parsed = try? Date(text, strategy: .iso8601) { return parsed }
            throw GatewayError.invalidRequest("\(name) must be an RFC 3339 date or Unix seconds.")
        }
        func text(_ name: String) throws -> String? {
            guard let value = parameters[Substring(name)].map(String.init), !value.isEmpty else { return nil }
            guard value.utf8.count <= 200 else { throw GatewayError.invalidRequest("\(name) is too long.") }
            return value
        }
        let limit = try text("limit").map { Int($0) } ?? 100
        guard let limit, (1...1000).contains(limit) else {
            throw GatewayError.invalidRequest("limit must be between 1 and 1000.")
        }
        var before: Int64?
        if let cursor = try text("cursor") {
            guard let value = Int64(cursor), value > 0 else {
                throw GatewayError.invalidRequest("cursor must be a value returned by this endpoint.")
            }
            before = value
        }
        let workspaceID = try text("workspace_id")
        if let workspaceID { _ = try Validation.workspaceScope(workspaceID) }
        return AuditQuery(
            tenantID: nil, workspaceID: workspaceID, action: try text("action"), actor: try text("actor"),
            since: try date("since"), until: try date("until"), before: before, limit: limit)
    }

    static func view(_ assignment: Assignment) -> AssignmentView {
        AssignmentView(
            assignmentId: assignment.assignmentID, userId: assignment.principalID, roleId: assignment.roleID,
            tenantId: assignment.tenantID, workspaceId: assignment.workspaceID, createdAt: assignment.createdAt)
    }
}

/// `/v1/admin/keys`: list, rotate and revoke signing keys (platform admin).
struct KeyAdminController<Context: RequestContext> {
    let scopes: ScopeResolver
    let keyRing: KeyRingManager

    struct KeyView: Encodable {
        var kid: String
        var status: String
        var alg: String
        var createdAt: Date
        var activatedAt: Date?
        var retireAt: Date?
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/admin/keys") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require(.keysRead)
            let keys = keyRing.snapshot.records.map {
                KeyView(
                    kid: $0.kid, status: $0.status.rawValue, alg: $0.alg, createdAt: $0.createdAt,
                    activatedAt: $0.activatedAt, retireAt: $0.retireAt)
            }
            return try JSONResponse.make(keys)
        }
        router.post("/v1/admin/keys/rotate") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require(.keysRotate)
            let force = request.uri.queryParameters["force"].map { $0 == "true" || $0 == "1" } ?? false
            let (active, previous): (String, String?)
            do {
                (active, previous) = try await keyRing.rotate(
                    by: .init(name: scope.actor, requestID: scope.requestID), force: force)
            } catch KeyRingError.publishedTooRecently(let kid, let wait) {
                throw GatewayError.conflict(
                    "The next key \(kid) has been published for less than the JWKS max-age, so verifiers may not have it yet; retry in \(wait) s, or add ?force=true in an emergency."
                )
            }
            return try JSONResponse.make(["active_kid": active, "previous_kid": previous])
        }
        router.post("/v1/admin/keys/:kid/revoke") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require(.keysRotate)
            let kid = try context.parameters.require("kid")
            guard keyRing.snapshot.records.contains(where: { $0.kid == kid }) else {
                throw GatewayError.notFound("No such key.")
            }
            try await keyRing.revoke(kid: kid, by: .init(name: scope.actor, requestID: scope.requestID))
            return try JSONResponse.make(["revoked_kid": kid, "active_kid": keyRing.snapshot.active.kid])
        }
    }
}
