import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Two tenants with an admin each, set up through the API by the platform admin.
struct TwoTenants {
    var platform: String
    var acmeAdmin: String
    var globexAdmin: String
    var acmeUserID: String

    static func make(_ client: some TestClientProtocol) async throws -> TwoTenants {
        let platform = try await client.token()
        for tenant in ["acme", "globex"] {
            let created = try await client.send(
                .post, "/v1/tenants", json: ["tenant_id": tenant, "name": tenant.capitalized], bearer: platform)
            guard created.status == .created else { throw TestFailure("tenant \(tenant): \(created.text)") }
            let scope: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: tenant]
            let user = try await client.send(
                .post, "/v1/users",
                json: ["username": "\(tenant)-admin", "password": "\(tenant)-password", "user_id": "\(tenant)-admin"],
                headers: scope, bearer: platform)
            guard user.status == .created else { throw TestFailure("user: \(user.text)") }
            // Tenant-wide, as `POST /v1/tenants` with `admin` does.
            let assignment = try await client.send(
                .post, "/v1/assignments",
                json: ["user_id": "\(tenant)-admin", "role_id": "admin", "workspace_id": "*"], headers: scope,
                bearer: platform)
            guard assignment.status == .created else { throw TestFailure("assignment: \(assignment.text)") }
        }
        let acmeAdmin = try await client.token(tenant: "acme", username: "acme-admin", password: "acme-password")
        let globexAdmin = try await client.token(
            tenant: "globex", username: "globex-admin", password: "globex-password")
        return TwoTenants(platform: platform, acmeAdmin: acmeAdmin, globexAdmin: globexAdmin, acmeUserID: "acme-admin")
    }
}

@Suite struct IAMTests {
    func withGateway(_ body: @Sendable (TestGateway, any TestClientProtocol) async throws -> Void) async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in try await body(gateway, client) }
    }

    @Test func systemRolesHaveExactlyTheSpecifiedPermissions() {
        let registered = PermissionCatalog.seed.map(\.name)
        let viewer: Set = [
            "integrations.read", "connections.read", "discovery.read", "discovery.history.read", "explorer.read",
        ]
        let tenantIAM: Set = [
            "permissions.read", "roles.create", "roles.read", "roles.update", "roles.delete", "assignments.read",
            "assignments.manage", "users.manage", "apikeys.manage", "clients.manage", "workspaces.manage", "audit.read",
        ]
        let seedProducts: Set = [
            "integrations.read", "connections.read", "connections.create", "connections.update", "connections.delete",
            "discovery.run", "discovery.read", "discovery.history.read", "explorer.read", "export.generate",
        ]
        func perms(_ role: String, _ tenant: String = "acme", _ names: [String] = registered) -> Set<String>? {
            PermissionCatalog.permissions(ofSystemRole: role, tenantID: tenant, registered: names)
        }
        #expect(perms("admin") == seedProducts.union(tenantIAM))
        #expect(
            perms("connector_builder") == [
                "integrations.read", "connections.read", "connections.create", "connections.update",
                "connections.delete", "discovery.run", "discovery.read", "discovery.history.read", "explorer.read",
            ])
        #expect(perms("viewer") == viewer)
        #expect(
            perms("auditor")
                == viewer.union(["export.generate", "audit.read", "roles.read", "permissions.read", "assignments.read"])
        )
        #expect(perms("platform_admin") == nil, "only in tenant platform")
        #expect(perms("service") == nil)
        #expect(
            perms("platform_admin", "platform")
                == seedProducts.union(tenantIAM).union([
                    "tenants.manage", "keys.read", "keys.rotate", "permissions.register", "policy.read",
                ]))
        #expect(perms("service", "platform") == ["permissions.register", "permissions.read", "policy.read"])
        // Later registrations widen admin and connections.* but not viewer.
        let widened = registered + ["connections.share", "billing.read"]
        #expect(perms("admin", "acme", widened)?.isSuperset(of: ["connections.share", "billing.read"]) == true)
        #expect(perms("connector_builder", "acme", widened)?.contains("connections.share") == true)
        #expect(perms("connector_builder", "acme", widened)?.contains("billing.read") == false)
        #expect(perms("viewer", "acme", widened) == viewer)
    }

    @Test func permissionRegistry() async throws {
        try await withGateway { gateway, client in
            let admin = try await client.token()
            let listed = try await client.send(.get, "/v1/permissions", bearer: admin)
            #expect(listed.status == .ok)
            let names = ((listed["permissions"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
            #expect(
                names.contains("connections.create") && names.contains("audit.read")
                    && names.contains("export.generate"))
            let body: [String: Any] = [
                "service": "billing", "permissions": ["billing.read", "billing.invoices.create"],
                "labels": ["billing.read": "Read billing"],
            ]
            #expect(try await client.send(.post, "/v1/permissions/register", json: body, bearer: admin).status == .ok)
            #expect(
                try await client.send(.post, "/v1/permissions/register", json: body, bearer: admin).status == .ok,
                "idempotent")
            let taken = try await client.send(
                .post, "/v1/permissions/register", json: ["service": "billing", "permissions": ["connections.read"]],
                bearer: admin)
            #expect(taken.status == .conflict)
            for bad in ["Billing.Read", "billing", "billing..read", "billing.read!", ""] {
                let reply = try await client.send(
                    .post, "/v1/permissions/register", json: ["service": "billing", "permissions": [bad]], bearer: admin
                )
                #expect(reply.status == .badRequest, "\(bad)")
            }
            let after = try await gateway.store.permissions()
            #expect(after.first { $0.name == "billing.read" }?.label == "Read billing")
            #expect(
                after.first { $0.name == "connections.read" }?.service == "connections",
                "conflicting registration changed nothing")
            #expect(!after.contains { $0.name == "billing" })
        }
    }

    @Test func rolesLifecycleAndImmutableSystemRoles() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            let created = try await client.send(
                .post, "/v1/roles",
                json: [
                    "name": "Readers", "permissions": ["connections.read", "explorer.read"],
                    "description": "Read things",
                ], bearer: t.acmeAdmin)
            #expect(created.status == .created)
            let roleID = try #require(created.string("role_id"))
            #expect(
                try await client.send(
                    .post, "/v1/roles", json: ["name": "Readers", "permissions": []], bearer: t.acmeAdmin
                ).status == .conflict)
            #expect(
                try await client.send(
                    .post, "/v1/roles", json: ["name": "Bad", "permissions": ["nope.read"]], bearer: t.acmeAdmin
                ).status == .badRequest)
            #expect(
                try await client.send(
                    .post, "/v1/roles", json: ["name": "Escalate", "permissions": ["tenants.manage"]],
                    bearer: t.acmeAdmin
                ).status == .badRequest)
            #expect(
                try await client.send(
                    .post, "/v1/roles", json: ["name": "WS", "permissions": [], "workspace_id": "nope"],
                    bearer: t.acmeAdmin
                ).status == .badRequest)
            let listed = try await client.send(.get, "/v1/roles", bearer: t.acmeAdmin)
            let ids = ((listed["roles"] as? [[String: Any]]) ?? []).compactMap { $0["role_id"] as? String }
            #expect(Set(ids) == ["admin", "connector_builder", "viewer", "auditor", roleID])
            let updated = try await client.send(
                .put, "/v1/roles/\(roleID)", json: ["permissions": ["connections.read"]], bearer: t.acmeAdmin)
            #expect(updated.status == .ok)
            #expect(updated["permissions"] as? [String] == ["connections.read"])
            for system in ["admin", "viewer"] {
                #expect(
                    try await client.send(.put, "/v1/roles/\(system)", json: ["permissions": []], bearer: t.acmeAdmin)
                        .status == .forbidden)
                #expect(try await client.send(.delete, "/v1/roles/\(system)", bearer: t.acmeAdmin).status == .forbidden)
            }
            let viewer = try await client.send(.get, "/v1/roles/viewer", bearer: t.acmeAdmin)
            #expect(viewer["system"] as? Bool == true)
            // A role still assigned cannot be deleted (409); once unassigned it can.
            let assigned = try await client.send(
                .post, "/v1/assignments",
                json: ["user_id": "acme-admin", "role_id": roleID, "workspace_id": "default"], bearer: t.acmeAdmin)
            #expect(assigned.status == .created)
            #expect(try await client.send(.delete, "/v1/roles/\(roleID)", bearer: t.acmeAdmin).status == .conflict)
            let assignmentID = try #require(assigned.string("assignment_id"))
            #expect(
                try await client.send(.delete, "/v1/assignments/\(assignmentID)", bearer: t.acmeAdmin).status
                    == .noContent)
            #expect(try await client.send(.delete, "/v1/roles/\(roleID)", bearer: t.acmeAdmin).status == .noContent)
            #expect(try await client.send(.get, "/v1/roles/\(roleID)", bearer: t.acmeAdmin).status == .notFound)
        }
    }

    @Test func assignmentsGrantAccessAndValidateReferences() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            #expect(
                try await client.send(
                    .post, "/v1/users", json: ["username": "erin", "password": "erin-password", "user_id": "erin"],
                    bearer: t.acmeAdmin
                ).status == .created)
            #expect(
                try await client.login(tenant: "acme", username: "erin", password: "erin-password").status == .forbidden
            )
            let workspace = try await client.send(
                .post, "/v1/workspaces", json: ["workspace_id": "ws2", "name": "Second"], bearer: t.acmeAdmin)
            #expect(workspace.status == .created)
            let limited = try await client.send(
                .post, "/v1/roles",
                json: ["name": "WS2 only", "permissions": ["explorer.read"], "workspace_id": "ws2"], bearer: t.acmeAdmin
            )
            let limitedID = try #require(limited.string("role_id"))
            let cases: [([String: Any], HTTPResponse.Status)] = [
                (["user_id": "ghost", "role_id": "viewer", "workspace_id": "default"], .notFound),
                (["user_id": "erin", "role_id": "ghost-role", "workspace_id": "default"], .notFound),
                (["user_id": "erin", "role_id": "viewer", "workspace_id": "nope"], .notFound),
                (["user_id": "erin", "role_id": "platform_admin", "workspace_id": "default"], .notFound),
                (["user_id": "erin", "role_id": limitedID, "workspace_id": "default"], .badRequest),
                (["user_id": "Erin!", "role_id": "viewer", "workspace_id": "default"], .badRequest),
            ]
            for (body, status) in cases {
                #expect(
                    try await client.send(.post, "/v1/assignments", json: body, bearer: t.acmeAdmin).status == status,
                    "\(body)")
            }
            #expect(
                try await gateway.store.assignments(tenantID: "acme", principalID: "erin", workspaceID: nil).isEmpty)
            let ok = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "erin", "role_id": "viewer", "workspace_id": "default"],
                bearer: t.acmeAdmin)
            #expect(ok.status == .created)
            #expect(
                try await client.send(
                    .post, "/v1/assignments",
                    json: ["user_id": "erin", "role_id": "viewer", "workspace_id": "default"], bearer: t.acmeAdmin
                ).status == .conflict)
            #expect(
                try await client.send(
                    .post, "/v1/assignments", json: ["user_id": "erin", "role_id": limitedID, "workspace_id": "ws2"],
                    bearer: t.acmeAdmin
                ).status == .created)
            let erin = try await client.token(tenant: "acme", username: "erin", password: "erin-password")
            let me = try await client.send(.get, "/v1/me", bearer: erin)
            #expect(me["roles"] as? [String] == ["viewer"])
            let ws2 = try await client.token(
                tenant: "acme", workspace: "ws2", username: "erin", password: "erin-password")
            #expect(try await client.send(.get, "/v1/me", bearer: ws2)["permissions"] as? [String] == ["explorer.read"])
            let list = try await client.send(
                .get, "/v1/assignments?user_id=erin&workspace_id=default", bearer: t.acmeAdmin)
            #expect((list["assignments"] as? [[String: Any]])?.count == 1)
            // An API key is a principal that takes assignments.
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "svc", "workspace_id": "default"], bearer: t.acmeAdmin)
            let keyID = try #require(key.string("key_id"))
            #expect(
                try await client.send(
                    .post, "/v1/assignments", json: ["user_id": keyID, "role_id": "viewer", "workspace_id": "default"],
                    bearer: t.acmeAdmin
                ).status == .created)
            let secret = try #require(key.string("api_key"))
            #expect(
                try await client.send(.get, "/v1/me", headers: [.authorization: "ApiKey \(secret)"])["roles"]
                    as? [String] == ["viewer"])
        }
    }

    @Test func policyVersionBumpsForEveryKindOfChangeAndOnlyThere() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            func version(_ tenant: String = "acme", _ workspace: String = "default") async throws -> Int64 {
                try await gateway.store.policyVersion(tenantID: tenant, workspaceID: workspace)
            }
            #expect(
                try await client.send(
                    .post, "/v1/workspaces", json: ["workspace_id": "ws2", "name": "Second"], bearer: t.acmeAdmin
                ).status == .created)
            var acme = try await version()
            var ws2 = try await version("acme", "ws2")
            let globex = try await version("globex")
            func expectBump(
                _ name: String, default bumpDefault: Bool, ws2 bumpWS2: Bool, _ change: () async throws -> Void
            ) async throws {
                try await change()
                let newAcme = try await version()
                let newWS2 = try await version("acme", "ws2")
                #expect(newAcme == acme + (bumpDefault ? 1 : 0), "\(name): default")
                #expect(newWS2 == ws2 + (bumpWS2 ? 1 : 0), "\(name): ws2")
                acme = newAcme
                ws2 = newWS2
            }
            var roleID = ""
            try await expectBump("tenant-wide role create", default: true, ws2: true) { () async throws in
                roleID = try #require(
                    try await client.send(
                        .post, "/v1/roles", json: ["name": "R", "permissions": ["explorer.read"]], bearer: t.acmeAdmin
                    ).string("role_id"))
            }
            var limitedID = ""
            try await expectBump("workspace role create", default: false, ws2: true) { () async throws in
                limitedID = try #require(
                    try await client.send(
                        .post, "/v1/roles",
                        json: ["name": "L", "permissions": ["explorer.read"], "workspace_id": "ws2"],
                        bearer: t.acmeAdmin
                    ).string("role_id"))
            }
            try await expectBump("role update", default: true, ws2: true) { () async throws in
                #expect(
                    try await client.send(
                        .put, "/v1/roles/\(roleID)", json: ["permissions": ["connections.read"]], bearer: t.acmeAdmin
                    ).status == .ok)
            }
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "frank", "password": "frank-password", "user_id": "frank"],
                bearer: t.acmeAdmin)
            var assignmentID = ""
            try await expectBump("assignment add", default: true, ws2: false) { () async throws in
                assignmentID = try #require(
                    try await client.send(
                        .post, "/v1/assignments",
                        json: ["user_id": "frank", "role_id": roleID, "workspace_id": "default"], bearer: t.acmeAdmin
                    ).string("assignment_id"))
            }
            try await expectBump("assignment remove", default: true, ws2: false) { () async throws in
                #expect(
                    try await client.send(.delete, "/v1/assignments/\(assignmentID)", bearer: t.acmeAdmin).status
                        == .noContent)
            }
            try await expectBump("role delete", default: false, ws2: true) { () async throws in
                #expect(
                    try await client.send(.delete, "/v1/roles/\(limitedID)", bearer: t.acmeAdmin).status == .noContent)
            }
            _ = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "frank", "role_id": "viewer", "workspace_id": "ws2"],
                bearer: t.acmeAdmin)
            ws2 += 1
            try await expectBump("user delete", default: false, ws2: true) { () async throws in
                #expect(try await client.send(.delete, "/v1/users/frank", bearer: t.acmeAdmin).status == .noContent)
            }
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "k", "workspace_id": "default"], bearer: t.acmeAdmin)
            let keyID = try #require(key.string("key_id"))
            _ = try await client.send(
                .post, "/v1/assignments", json: ["user_id": keyID, "role_id": "viewer", "workspace_id": "default"],
                bearer: t.acmeAdmin)
            acme += 1
            try await expectBump("key delete", default: true, ws2: false) { () async throws in
                #expect(
                    try await client.send(.delete, "/v1/api-keys/\(keyID)", bearer: t.acmeAdmin).status == .noContent)
            }
            #expect(try await version("globex") == globex, "no bump in another tenant")
            let reply = try await client.send(.get, "/v1/policy-version?workspace_id=ws2", bearer: t.acmeAdmin)
            #expect(reply["policy_version"] as? Int == Int(ws2))
            #expect(
                try await client.send(.get, "/v1/policy-version?workspace_id=nope", bearer: t.acmeAdmin).status
                    == .notFound)
        }
    }

    @Test func policyVersionFeedFollowsACursor() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            let all = try await client.send(.get, "/v1/policy-versions", bearer: t.platform)
            let entries = (all["versions"] as? [[String: Any]]) ?? []
            #expect(Set(entries.compactMap { $0["tenant_id"] as? String }) == ["platform", "acme", "globex"])
            let cursor = try #require(all.string("cursor"))
            let none = try await client.send(.get, "/v1/policy-versions?since=\(cursor)", bearer: t.platform)
            #expect((none["versions"] as? [[String: Any]])?.isEmpty == true)
            #expect(none.string("cursor") == cursor)
            _ = try await client.send(
                .post, "/v1/roles", json: ["name": "R", "permissions": []], bearer: t.globexAdmin)
            let changed = try await client.send(.get, "/v1/policy-versions?since=\(cursor)", bearer: t.platform)
            let changedEntries = (changed["versions"] as? [[String: Any]]) ?? []
            #expect(changedEntries.count == 1)
            #expect(changedEntries.first?["tenant_id"] as? String == "globex")
            #expect(Int(changed.string("cursor") ?? "") ?? 0 > Int(cursor) ?? 0)
            // Without policy.read: only the caller's tenant.
            let own = try await client.send(.get, "/v1/policy-versions", bearer: t.acmeAdmin)
            #expect(
                Set(((own["versions"] as? [[String: Any]]) ?? []).compactMap { $0["tenant_id"] as? String }) == ["acme"]
            )
            #expect(
                try await client.send(.get, "/v1/policy-versions?since=abc", bearer: t.acmeAdmin).status == .badRequest)
        }
    }

    @Test func roleChangeIsVisibleToTheNextRequest() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            let role = try await client.send(
                .post, "/v1/roles", json: ["name": "Flex", "permissions": ["explorer.read"]], bearer: t.acmeAdmin)
            let roleID = try #require(role.string("role_id"))
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "gina", "password": "gina-password", "user_id": "gina"],
                bearer: t.acmeAdmin)
            _ = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "gina", "role_id": roleID, "workspace_id": "default"],
                bearer: t.acmeAdmin)
            let gina = try await client.token(tenant: "acme", username: "gina", password: "gina-password")
            #expect(
                try await client.send(.get, "/v1/me", bearer: gina)["permissions"] as? [String] == ["explorer.read"])
            _ = try await client.send(
                .put, "/v1/roles/\(roleID)", json: ["permissions": ["explorer.read", "users.manage"]],
                bearer: t.acmeAdmin)
            #expect(
                try await client.send(.get, "/v1/me", bearer: gina)["permissions"] as? [String] == [
                    "explorer.read", "users.manage",
                ])
            #expect(try await client.send(.get, "/v1/users", bearer: gina).status == .ok)
            _ = try await client.send(
                .put, "/v1/roles/\(roleID)", json: ["permissions": ["explorer.read"]], bearer: t.acmeAdmin)
            #expect(try await client.send(.get, "/v1/users", bearer: gina).status == .forbidden)
        }
    }

    @Test func auditLogRecordsEveryAction() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            let role = try await client.send(
                .post, "/v1/roles", json: ["name": "A", "permissions": []], bearer: t.acmeAdmin)
            let roleID = try #require(role.string("role_id"))
            _ = try await client.send(.put, "/v1/roles/\(roleID)", json: ["name": "B"], bearer: t.acmeAdmin)
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "hal", "password": "hal-password", "user_id": "hal"],
                bearer: t.acmeAdmin)
            let assignment = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "hal", "role_id": roleID, "workspace_id": "default"],
                bearer: t.acmeAdmin)
            _ = try await client.send(
                .delete, "/v1/assignments/\(assignment.string("assignment_id") ?? "")", bearer: t.acmeAdmin)
            _ = try await client.send(.delete, "/v1/roles/\(roleID)", bearer: t.acmeAdmin)
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "k", "workspace_id": "default"], bearer: t.acmeAdmin)
            _ = try await client.send(.delete, "/v1/api-keys/\(key.string("key_id") ?? "")", bearer: t.acmeAdmin)
            _ = try await client.send(
                .put, "/v1/users/hal/password", json: ["password": "hal-password-2"], bearer: t.acmeAdmin)
            _ = try await client.send(.delete, "/v1/users/hal", bearer: t.acmeAdmin)
            _ = try await client.login(tenant: "acme", username: "acme-admin", password: "wrong-password")
            gateway.clock.advance(by: TimeInterval(gateway.configuration.jwksMaxAge + 1))
            let rotation = try await client.send(.post, "/v1/admin/keys/rotate", bearer: t.platform)
            #expect(rotation.status == .ok, "\(rotation.text)")

            let page = try await client.send(.get, "/v1/audit-events?limit=1000", bearer: t.acmeAdmin)
            #expect(page.status == .ok)
            let events = (page["events"] as? [[String: Any]]) ?? []
            let actions = Set(events.compactMap { $0["action"] as? String })
            for action in [
                "tenant.create", "user.create", "assignment.create", "cross_tenant", "login.success", "login.failure",
                "role.create", "role.update", "role.delete", "assignment.delete", "apikey.create", "apikey.delete",
                "user.password", "user.delete",
            ] {
                #expect(actions.contains(action), "\(action)")
            }
            #expect(events.allSatisfy { $0["tenant_id"] as? String == "acme" }, "tenant-scoped")
            #expect(!page.text.contains("hal-password"))
            let platformEvents = try await client.send(.get, "/v1/audit-events?limit=1000", bearer: t.platform)
            #expect(
                ((platformEvents["events"] as? [[String: Any]]) ?? []).contains {
                    $0["action"] as? String == "keys.rotate"
                })
            // Pagination.
            let first = try await client.send(.get, "/v1/audit-events?limit=2", bearer: t.acmeAdmin)
            #expect((first["events"] as? [[String: Any]])?.count == 2)
            let next = first["next_since"] as? Int ?? 0
            let second = try await client.send(.get, "/v1/audit-events?since=\(next)&limit=2", bearer: t.acmeAdmin)
            #expect(((second["events"] as? [[String: Any]])?.first?["id"] as? Int ?? 0) > next)
            #expect(try await client.send(.get, "/v1/audit-events?limit=0", bearer: t.acmeAdmin).status == .badRequest)
            #expect(
                try await client.send(
                    .get, "/v1/audit-events",
                    bearer: try await client.token(tenant: "acme", username: "acme-admin", password: "acme-password")
                ).status == .ok)
        }
    }

    @Test func keyAdminEndpointsArePlatformOnly() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            let keys = try await client.send(.get, "/v1/admin/keys", bearer: t.platform)
            #expect(keys.status == .ok)
            #expect(!keys.text.contains("PRIVATE"))
            let before = gateway.keyRing.snapshot.active.kid
            let rotated = try await client.send(.post, "/v1/admin/keys/rotate?force=true", bearer: t.platform)
            #expect(rotated.string("previous_kid") == before)
            #expect(rotated.string("active_kid") == gateway.keyRing.snapshot.active.kid)
            let revoked = try await client.send(.post, "/v1/admin/keys/\(before)/revoke", bearer: t.platform)
            #expect(revoked.status == .ok)
            #expect(gateway.keyRing.snapshot.publicKeys[before] == nil)
            // Tokens signed by the revoked key are refused at once; fresh ones work.
            #expect(try await client.send(.get, "/v1/me", bearer: t.platform).status == .unauthorized)
            let platform = try await client.token()
            let acmeAdmin = try await client.token(tenant: "acme", username: "acme-admin", password: "acme-password")
            #expect(try await client.send(.post, "/v1/admin/keys/unknown/revoke", bearer: platform).status == .notFound)
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/admin/keys"), (.post, "/v1/admin/keys/rotate?force=true"),
                (.post, "/v1/admin/keys/\(gateway.keyRing.snapshot.active.kid)/revoke"), (.post, "/v1/tenants"),
                (.get, "/v1/tenants"),
            ] {
                #expect(
                    try await client.send(
                        method, path, json: method == .post ? ["tenant_id": "evil", "name": "E"] : nil,
                        bearer: acmeAdmin
                    ).status == .forbidden, "\(path)")
            }
        }
    }

    /// Every IAM endpoint, called by tenant B's admin on tenant A's objects, and with a header naming tenant A:
    /// denied, and tenant A's data unchanged.
    @Test func isolationMatrix() async throws {
        try await withGateway { gateway, client in
            let t = try await TwoTenants.make(client)
            let role = try await client.send(
                .post, "/v1/roles", json: ["name": "AcmeRole", "permissions": ["explorer.read"]], bearer: t.acmeAdmin)
            let acmeRole = try #require(role.string("role_id"))
            let assignment = try await client.send(
                .post, "/v1/assignments",
                json: ["user_id": "acme-admin", "role_id": acmeRole, "workspace_id": "default"], bearer: t.acmeAdmin)
            let acmeAssignment = try #require(assignment.string("assignment_id"))
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "acme-key", "workspace_id": "default"], bearer: t.acmeAdmin)
            let acmeKey = try #require(key.string("key_id"))

            func snapshot() async throws -> String {
                let s = gateway.store
                let users = try await s.users(tenantID: "acme").map { "\($0.userID):\($0.passwordHash)" }
                let roles = try await s.roles(tenantID: "acme").map { "\($0.roleID):\($0.name):\($0.permissions)" }
                let assignments = try await s.assignments(tenantID: "acme", principalID: nil, workspaceID: nil).map(
                    \.assignmentID)
                let keys = try await s.apiKeys(tenantID: "acme").map(\.keyID)
                let workspaces = try await s.workspaces(tenantID: "acme").map(\.workspaceID)
                let version = try await s.policyVersion(tenantID: "acme", workspaceID: "default")
                return "\(users)|\(roles)|\(assignments)|\(keys)|\(workspaces)|\(version)"
            }
            let before = try await snapshot()

            let acmeHeader: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "acme"]
            let calls: [(HTTPRequest.Method, String, [String: Any]?)] = [
                (.get, "/v1/roles/\(acmeRole)", nil),
                (.put, "/v1/roles/\(acmeRole)", ["permissions": ["users.manage"]]),
                (.delete, "/v1/roles/\(acmeRole)", nil),
                (.post, "/v1/assignments", ["user_id": "acme-admin", "role_id": "viewer", "workspace_id": "default"]),
                (
                    .post, "/v1/assignments",
                    ["user_id": "globex-admin", "role_id": acmeRole, "workspace_id": "default"]
                ),
                (.delete, "/v1/assignments/\(acmeAssignment)", nil),
                (.delete, "/v1/users/acme-admin", nil),
                (.put, "/v1/users/acme-admin/password", ["password": "hijacked-password"]),
                (.delete, "/v1/api-keys/\(acmeKey)", nil),
            ]
            for (method, path, body) in calls {
                let own = try await client.send(method, path, json: body, bearer: t.globexAdmin)
                #expect(own.status == .notFound, "\(method) \(path) with B's own scope: \(own.status)")
                let headed = try await client.send(method, path, json: body, headers: acmeHeader, bearer: t.globexAdmin)
                #expect(headed.status == .forbidden, "\(method) \(path) with X-Tenant-Id: acme: \(headed.status)")
            }
            let listings = [
                "/v1/users", "/v1/roles", "/v1/assignments", "/v1/api-keys", "/v1/workspaces", "/v1/permissions",
                "/v1/audit-events", "/v1/policy-version", "/v1/policy-versions",
            ]
            for path in listings {
                let own = try await client.send(.get, path, bearer: t.globexAdmin)
                #expect(own.status == .ok, "\(path)")
                #expect(!own.text.contains("acme"), "\(path) leaks tenant A")
                #expect(
                    try await client.send(.get, path, headers: acmeHeader, bearer: t.globexAdmin).status == .forbidden,
                    "\(path)")
            }
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/v1/roles", ["name": "x", "permissions": []] as [String: Any]),
                (.post, "/v1/users", ["username": "x", "password": "x-password"]),
                (.post, "/v1/api-keys", ["name": "x", "workspace_id": "default"]),
                (.post, "/v1/workspaces", ["workspace_id": "x", "name": "x"]),
            ] {
                #expect(
                    try await client.send(method, path, json: body, headers: acmeHeader, bearer: t.globexAdmin).status
                        == .forbidden, "\(path)")
            }
            #expect(
                try await client.send(
                    .get, "/v1/me", headers: [HTTPField.Name("X-Workspace-Id")!: "other"], bearer: t.globexAdmin
                ).status == .forbidden, "/v1/me honours scope headers as every IAM call does")
            #expect(try await snapshot() == before, "tenant A unchanged")
            // The platform admin may cross, and it is audited.
            #expect(try await client.send(.get, "/v1/users", headers: acmeHeader, bearer: t.platform).status == .ok)
            let events = try await gateway.store.auditEvents(AuditQuery(tenantID: "acme", limit: 1000))
            #expect(
                events.contains {
                    $0.action == "cross_tenant" && $0.actor.hasPrefix("platform/") && $0.target == "GET /v1/users"
                })
        }
    }
}
