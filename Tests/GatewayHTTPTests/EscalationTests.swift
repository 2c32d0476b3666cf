import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// One regression test per escalation found by the attack run of issue 12, each tried over HTTP by a principal who
/// must not succeed, with a check that nothing changed.
@Suite struct EscalationTests {
    static let acme: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "acme"]

    /// Tenant `acme` (admin `acme-admin` tenant-wide) with workspaces `wsb` and `ws2`, made by the platform admin.
    func withAcme(
        _ body:
            @Sendable (TestGateway, any TestClientProtocol, _ platform: String, _ acmeAdmin: String) async throws ->
            Void
    ) async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let platform = try await client.token()
            let created = try await client.send(
                .post, "/v1/tenants",
                json: [
                    "tenant_id": "acme", "name": "Acme",
                    "admin": ["username": "acme-admin", "password": "acme-password"],
                ], bearer: platform)
            #expect(created.status == .created, "\(created.text)")
            for workspace in ["wsb", "ws2"] {
                let reply = try await client.send(
                    .post, "/v1/workspaces", json: ["workspace_id": workspace, "name": workspace], headers: Self.acme,
                    bearer: platform)
                #expect(reply.status == .created, "\(reply.text)")
            }
            let acmeAdmin = try await client.token(tenant: "acme", username: "acme-admin", password: "acme-password")
            try await body(gateway, client, platform, acmeAdmin)
        }
    }

    /// Creates a user in acme with a custom role of `permissions` limited to `workspace`, and logs it in there.
    func limitedUser(
        _ client: some TestClientProtocol, admin: String, name: String, permissions: [String], workspace: String
    ) async throws -> (userID: String, token: String) {
        let role = try await client.send(
            .post, "/v1/roles", json: ["name": "\(name)-role", "permissions": permissions, "workspace_id": workspace],
            bearer: admin)
        let roleID = try #require(role.string("role_id"), "\(role.text)")
        let user = try await client.send(
            .post, "/v1/users", json: ["username": name, "password": "\(name)-password", "user_id": name], bearer: admin
        )
        #expect(user.status == .created, "\(user.text)")
        let assigned = try await client.send(
            .post, "/v1/assignments", json: ["user_id": name, "role_id": roleID, "workspace_id": workspace],
            bearer: admin)
        #expect(assigned.status == .created, "\(assigned.text)")
        return (
            name,
            try await client.token(tenant: "acme", workspace: workspace, username: name, password: "\(name)-password")
        )
    }

    func adminUserID(_ client: some TestClientProtocol, _ admin: String) async throws -> String {
        try #require(try await client.send(.get, "/v1/me", bearer: admin).string("sub"))
    }

    @Test func workspaceHelpdeskCannotResetTheTenantAdminsPassword() async throws {
        try await withAcme { gateway, client, _, acmeAdmin in
            let helpdesk = try await limitedUser(
                client, admin: acmeAdmin, name: "helpdesk", permissions: ["users.manage"], workspace: "wsb")
            let adminID = try await adminUserID(client, acmeAdmin)
            let versions = try await gateway.store.policyVersions(after: nil, tenantID: "acme").entries
            let reset = try await client.send(
                .put, "/v1/users/\(adminID)/password", json: ["password": "taken-over-1"], bearer: helpdesk.token)
            #expect(reset.status == .forbidden)
            #expect(reset.string("code") == "forbidden")
            #expect(
                try await client.login(tenant: "acme", username: "acme-admin", password: "taken-over-1").status
                    == .unauthorized)
            #expect(
                try await client.login(tenant: "acme", username: "acme-admin", password: "acme-password").status == .ok,
                "the admin's password is unchanged")
            #expect(try await client.send(.delete, "/v1/users/\(adminID)", bearer: helpdesk.token).status == .forbidden)
            #expect(
                try await client.send(.post, "/v1/users/\(adminID)/sessions/revoke", bearer: helpdesk.token).status
                    == .forbidden)
            #expect(
                try await client.send(.get, "/v1/me", bearer: acmeAdmin).status == .ok, "the admin's session survives")
            #expect(try await gateway.store.policyVersions(after: nil, tenantID: "acme").entries == versions, "no bump")
            // What the helpdesk may do: users it created itself in wsb and that hold nothing beyond its own.
            let mine = try await client.send(
                .post, "/v1/users", json: ["username": "newbie", "password": "newbie-password", "user_id": "newbie"],
                bearer: helpdesk.token)
            #expect(mine.status == .created)
            #expect(
                try await client.send(
                    .put, "/v1/users/newbie/password", json: ["password": "newbie-password-2"], bearer: helpdesk.token
                ).status == .forbidden,
                "a user with no assignment needs users.manage tenant-wide")
            let events = try await gateway.store.auditEvents(AuditQuery(tenantID: "acme", action: "user.password"))
            #expect(events.isEmpty, "a refused write audits no success")
        }
    }

    @Test func assignmentsManagerInOneWorkspaceCannotGrantItselfAdminElsewhere() async throws {
        try await withAcme { gateway, client, _, acmeAdmin in
            let manager = try await limitedUser(
                client, admin: acmeAdmin, name: "manager", permissions: ["assignments.manage"], workspace: "ws2")
            for workspace in ["default", "ws2", "*"] {
                let reply = try await client.send(
                    .post, "/v1/assignments",
                    json: ["user_id": "manager", "role_id": "admin", "workspace_id": workspace], bearer: manager.token)
                #expect(reply.status == .forbidden, "admin in \(workspace)")
            }
            #expect(
                try await gateway.store.assignments(tenantID: "acme", principalID: "manager", workspaceID: nil).map(
                    \.roleID
                ).allSatisfy { $0 != "admin" })
            // The permissions it does hold in ws2: a role with only assignments.manage may be granted there.
            let role = try await client.send(
                .post, "/v1/roles",
                json: ["name": "assigner", "permissions": ["assignments.manage"], "workspace_id": "ws2"],
                bearer: acmeAdmin)
            let granted = try await client.send(
                .post, "/v1/assignments",
                json: [
                    "user_id": try await adminUserID(client, acmeAdmin), "role_id": role.string("role_id") ?? "",
                    "workspace_id": "ws2",
                ], bearer: manager.token)
            #expect(granted.status == .created, "\(granted.text)")
            // A cross-workspace operation is audited with both workspaces in the target tenant's log.
            let event = try #require(
                try await gateway.store.auditEvents(
                    AuditQuery(tenantID: "acme", action: "assignment.create", actor: "acme/manager")
                ).first)
            #expect(event.workspaceID == "ws2" && event.originWorkspaceID == nil, "same workspace as its token")
        }
    }

    @Test func plainAdminOfPlatformCannotBecomePlatformAdmin() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let userID = try await gateway.addUser(
                tenantID: "platform", username: "ops", password: "ops-password", roles: ["admin"])
            let ops = try await client.token(username: "ops", password: "ops-password")
            for role in ["platform_admin", "service"] {
                #expect(
                    try await client.send(
                        .post, "/v1/assignments",
                        json: ["user_id": userID, "role_id": role, "workspace_id": "default"], bearer: ops
                    ).status == .forbidden, "\(role)")
            }
            let custom = try await client.send(
                .post, "/v1/roles", json: ["name": "backdoor", "permissions": ["keys.rotate", "tenants.manage"]],
                bearer: ops)
            #expect(custom.status == .forbidden)
            #expect(try await gateway.store.roles(tenantID: "platform").isEmpty)
            #expect(try await client.send(.post, "/v1/admin/keys/rotate?force=true", bearer: ops).status == .forbidden)
            #expect(try await client.send(.post, "/v1/admin/keys/rotate", bearer: ops).status == .forbidden)
            #expect(
                try await client.send(.post, "/v1/tenants", json: ["tenant_id": "evil", "name": "Evil"], bearer: ops)
                    .status == .forbidden)
            // Outside tenant platform, platform-only permissions cannot even be named in a custom role (400).
            let platform = try await client.token()
            _ = try await client.send(
                .post, "/v1/tenants", json: ["tenant_id": "acme", "name": "Acme"], bearer: platform)
            let outside = try await client.send(
                .post, "/v1/roles", json: ["name": "x", "permissions": ["keys.rotate"]], headers: Self.acme,
                bearer: platform)
            #expect(outside.status == .badRequest)
        }
    }

    @Test func concurrentWrongGuessesGetAtMostFivePasswordChecks() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            _ = try await gateway.addUser(
                tenantID: "platform", username: "target", password: "target-password", roles: ["viewer"])
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        // The right password sits in the middle of the burst: it must not get in either.
                        try await client.login(
                            username: "target", password: index == 100 ? "target-password" : "guess-\(index)"
                        ).status
                    }
                }
                var all: [HTTPResponse.Status] = []
                for try await status in group { all.append(status) }
                return all
            }
            let checked = statuses.filter { $0 != .tooManyRequests }
            #expect(checked.count <= 5, "password checks: \(checked.count)")
            #expect(statuses.filter { $0 == .tooManyRequests }.count >= 195)
            #expect(!statuses.contains(.ok) || checked.count <= 5)
            let failures = try await gateway.store.auditEvents(
                AuditQuery(tenantID: "platform", action: "login.failure"))
            #expect(failures.count == checked.filter { $0 == .unauthorized }.count)
        }
    }

    @Test func passwordResetAndOwnChangeRevokeSessions() async throws {
        try await withAcme { gateway, client, _, acmeAdmin in
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "carol", "password": "carol-password", "user_id": "carol"],
                bearer: acmeAdmin)
            _ = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "carol", "role_id": "viewer", "workspace_id": "default"],
                bearer: acmeAdmin)
            let session = try await client.login(tenant: "acme", username: "carol", password: "carol-password")
            let access = try #require(session.string("access_token"))
            let refresh = try #require(session.string("refresh_token"))
            #expect(
                try await client.send(
                    .put, "/v1/users/carol/password", json: ["password": "carol-password-2"], bearer: acmeAdmin
                ).status == .noContent)
            let replay = try await client.send(.get, "/v1/me", bearer: access)
            #expect(replay.status == .unauthorized && replay.string("code") == "token_revoked")
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh]).status
                    == .unauthorized)

            // Own change: needs the current password, keeps this session, ends the others.
            let first = try await client.token(tenant: "acme", username: "carol", password: "carol-password-2")
            let second = try await client.token(tenant: "acme", username: "carol", password: "carol-password-2")
            let wrong = try await client.send(
                .put, "/v1/me/password", json: ["current_password": "nope-nope", "new_password": "carol-password-3"],
                bearer: first)
            #expect(wrong.status == .unauthorized && wrong.string("code") == "invalid_credentials")
            #expect(
                try await client.send(
                    .put, "/v1/me/password",
                    json: ["current_password": "carol-password-2", "new_password": "carol-password-3"], bearer: first
                ).status == .noContent)
            #expect(try await client.send(.get, "/v1/me", bearer: first).status == .ok)
            #expect(try await client.send(.get, "/v1/me", bearer: second).string("code") == "token_revoked")
            #expect(
                try await client.login(tenant: "acme", username: "carol", password: "carol-password-3").status == .ok)
            #expect(
                try await gateway.store.auditEvents(AuditQuery(tenantID: "acme", action: "user.password_change")).count
                    == 1)
        }
    }

    @Test func serviceKeysAreBoundToOneServiceNameAndCannotRegisterReservedNames() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let platform = try await client.token()
            func key(_ service: String?) async throws -> (id: String, secret: HTTPFields) {
                var body: [String: Any] = ["name": "svc", "workspace_id": "default"]
                if let service { body["service"] = service }
                let created = try await client.send(.post, "/v1/api-keys", json: body, bearer: platform)
                let id = try #require(created.string("key_id"))
                #expect(
                    try await client.send(
                        .post, "/v1/assignments",
                        json: ["user_id": id, "role_id": "service", "workspace_id": "default"], bearer: platform
                    ).status == .created)
                return (id, [HTTPField.Name("X-API-Key")!: try #require(created.string("api_key"))])
            }
            func register(_ service: String, _ names: [String], _ headers: HTTPFields) async throws -> JSONReply {
                try await client.send(
                    .post, "/v1/permissions/register", json: ["service": service, "permissions": names],
                    headers: headers)
            }
            let billing = try await key("billing")
            #expect(try await register("billing", ["billing.read"], billing.secret).status == .ok)
            #expect(
                try await register("connections", ["connections.share"], billing.secret).status == .forbidden,
                "another service's name")
            let unbound = try await key(nil)
            #expect(try await register("reports", ["reports.read"], unbound.secret).status == .ok, "first name binds")
            #expect(try await register("exports", ["exports.run"], unbound.secret).status == .forbidden)
            for reserved in [
                "users.manage", "keys.rotate", "tenants.create", "audit.erase", "policy.write", "roles.grant",
            ] {
                let reply = try await register("reports", [reserved], unbound.secret)
                #expect(reply.status == .forbidden, "\(reserved)")
            }
            #expect(
                try await register(
                    "iam", ["iam.thing"], platform.isEmpty ? [:] : [.authorization: "Bearer \(platform)"]
                ).status == .forbidden)
            let names = Set(try await gateway.store.permissions().map(\.name))
            #expect(names.contains("billing.read") && names.contains("reports.read"))
            #expect(
                !names.contains("connections.share") && !names.contains("exports.run") && !names.contains("audit.erase")
            )
        }
    }

    @Test func auditRecordsTheRealActorAndOnlyWellFormedRequestIDs() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let platform = try await client.token()
            let markup = String(repeating: "<script>alert(1)</script>", count: 1200)
            gateway.clock.advance(by: TimeInterval(gateway.configuration.jwksMaxAge + 1))
            let rotated = try await client.send(
                .post, "/v1/admin/keys/rotate", headers: [HTTPField.Name("X-Request-Id")!: markup], bearer: platform)
            #expect(rotated.status == .ok)
            let answered = try #require(rotated.headers[HTTPField.Name("X-Request-Id")!])
            #expect(answered != markup && answered.count <= 128)
            let event = try #require(
                try await gateway.store.auditEvents(AuditQuery(tenantID: "platform", action: "keys.rotate")).first)
            #expect(event.actor.hasPrefix("platform/u-"), "the admin, not system: \(event.actor)")
            #expect(event.requestID == answered)
            let kept = try await client.send(
                .post, "/v1/workspaces", json: ["workspace_id": "w9", "name": "W9"],
                headers: [HTTPField.Name("X-Request-Id")!: "trace-1.2:3"], bearer: platform)
            #expect(kept.headers[HTTPField.Name("X-Request-Id")!] == "trace-1.2:3")
            #expect(
                try await gateway.store.auditEvents(AuditQuery(tenantID: "platform", action: "workspace.create")).first?
                    .requestID == "trace-1.2:3")

            // Failed logins for a tenant that does not exist yet are not inherited once it is created.
            #expect(
                try await client.login(tenant: "later", username: "someone", password: "wrong-password").status
                    == .unauthorized)
            #expect(
                try await client.send(
                    .post, "/v1/tenants", json: ["tenant_id": "later", "name": "Later"], bearer: platform
                ).status == .created)
            #expect(try await gateway.store.auditEvents(AuditQuery(tenantID: "later", action: "login.failure")).isEmpty)
        }
    }

    @Test func tokenExchangeAsksTheRoutesEdgePermission() async throws {
        let gateway = try await TestGateway.make { configuration in
            configuration.routes.append(
                .init(
                    name: "guarded", prefix: "/api/guarded", upstream: "http://127.0.0.1:9", audience: "guarded",
                    permission: "connections.create"))
        }
        try await gateway.test(.router) { _, client in
            _ = try await gateway.addUser(
                tenantID: "platform", username: "viewer", password: "viewer-password", roles: ["viewer"])
            let viewer = try await client.token(username: "viewer", password: "viewer-password")
            let refused = try await client.send(.post, "/v1/auth/token", json: ["audience": "guarded"], bearer: viewer)
            #expect(refused.status == .forbidden && refused.string("code") == "forbidden")
            #expect(
                try await client.send(.post, "/v1/auth/token", json: ["audience": "integrations"], bearer: viewer)
                    .status == .ok)
            #expect(
                try await client.send(
                    .post, "/v1/auth/token", json: ["audience": "guarded"], bearer: try await client.token()
                ).status == .ok)
        }
    }

    @Test func tenantWideAssignmentsApplyEverywhereAndBumpEveryWorkspace() async throws {
        try await withAcme { gateway, client, platform, acmeAdmin in
            // The first admin from POST /v1/tenants holds admin tenant-wide: workspaces, whole-tenant audit.
            #expect(
                try await client.send(.get, "/v1/me?workspace_id=ws2", bearer: acmeAdmin)["roles"] as? [String] == [
                    "admin"
                ])
            #expect(try await client.send(.get, "/v1/audit-events", bearer: acmeAdmin).status == .ok)
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "dora", "password": "dora-password", "user_id": "dora"],
                bearer: acmeAdmin)
            let before = try await gateway.store.policyVersions(after: nil, tenantID: "acme").entries
            let assignment = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "dora", "role_id": "viewer", "workspace_id": "*"],
                bearer: acmeAdmin)
            #expect(assignment.status == .created)
            let after = try await gateway.store.policyVersions(after: nil, tenantID: "acme").entries
            for entry in before {
                #expect(
                    after.first { $0.workspaceID == entry.workspaceID }?.version == entry.version + 1,
                    "\(entry.workspaceID) bumped")
            }
            // Present and future workspaces.
            _ = try await client.send(
                .post, "/v1/workspaces", json: ["workspace_id": "later", "name": "Later"], bearer: acmeAdmin)
            for workspace in ["default", "wsb", "later"] {
                #expect(
                    try await client.login(
                        tenant: "acme", workspace: workspace, username: "dora", password: "dora-password"
                    ).status == .ok, "\(workspace)")
            }
            // A workspace-limited role can't be assigned tenant-wide (400); a viewer-only caller can't add workspaces.
            let limited = try await client.send(
                .post, "/v1/roles",
                json: ["name": "ws2-only", "permissions": ["explorer.read"], "workspace_id": "ws2"], bearer: acmeAdmin)
            #expect(
                try await client.send(
                    .post, "/v1/assignments",
                    json: ["user_id": "dora", "role_id": limited.string("role_id") ?? "", "workspace_id": "*"],
                    bearer: acmeAdmin
                ).status == .badRequest)
            let dora = try await client.token(tenant: "acme", username: "dora", password: "dora-password")
            #expect(
                try await client.send(
                    .post, "/v1/workspaces", json: ["workspace_id": "nope", "name": "Nope"], bearer: dora
                ).status == .forbidden)
            #expect(try await client.send(.get, "/v1/audit-events", bearer: dora).status == .forbidden)
            _ = platform
        }
    }

    @Test func workspaceAuditorSeesOnlyItsWorkspace() async throws {
        try await withAcme { gateway, client, _, acmeAdmin in
            let auditor = try await limitedUser(
                client, admin: acmeAdmin, name: "wsaudit", permissions: ["audit.read"], workspace: "wsb")
            let own = try await client.send(.get, "/v1/audit-events", bearer: auditor.token)
            #expect(own.status == .ok)
            let events = own["events"] as? [[String: Any]] ?? []
            #expect(!events.isEmpty)
            #expect(
                events.allSatisfy {
                    $0["workspace_id"] as? String == "wsb" || $0["origin_workspace_id"] as? String == "wsb"
                })
            #expect(
                try await client.send(.get, "/v1/audit-events?workspace_id=default", bearer: auditor.token).status
                    == .forbidden)
            _ = gateway
        }
    }

    @Test func loginTakesOnlyJSON() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let form = try await client.execute(
                uri: "/v1/auth/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .init(
                    string:
                        "tenant_id=platform&workspace_id=default&username=admin&password=\(TestGateway.adminPassword)"))
            #expect(form.status == .unsupportedMediaType)
            #expect(form.headers[.contentType] == "application/problem+json")
            #expect(try await client.login().status == .ok)
        }
    }

    /// The README's worked example, step by step.
    @Test func helpdeskWorkedExample() async throws {
        try await withAcme { gateway, client, platform, acme in
            #expect(
                try await client.send(
                    .post, "/v1/workspaces", json: ["workspace_id": "support", "name": "Support"], bearer: acme
                ).status == .created)
            let helpdesk = try #require(
                try await client.send(
                    .post, "/v1/roles",
                    json: [
                        "name": "helpdesk", "permissions": ["users.manage", "connections.read"],
                        "workspace_id": "support",
                    ], bearer: acme
                ).string("role_id"))
            let agentRole = try #require(
                try await client.send(
                    .post, "/v1/roles",
                    json: ["name": "agent", "permissions": ["connections.read"], "workspace_id": "support"],
                    bearer: acme
                ).string("role_id"))
            let seniorRole = try #require(
                try await client.send(
                    .post, "/v1/roles",
                    json: [
                        "name": "senior", "permissions": ["connections.read", "connections.create"],
                        "workspace_id": "support",
                    ], bearer: acme
                ).string("role_id"))
            for (user, role) in [("hana", helpdesk), ("agent", agentRole), ("senior", seniorRole), ("loner", nil)]
                as [(String, String?)]
            {
                #expect(
                    try await client.send(
                        .post, "/v1/users", json: ["username": user, "password": "\(user)-password", "user_id": user],
                        bearer: acme
                    ).status == .created)
                if let role {
                    #expect(
                        try await client.send(
                            .post, "/v1/assignments",
                            json: ["user_id": user, "role_id": role, "workspace_id": "support"], bearer: acme
                        ).status == .created)
                }
            }
            let hana = try await client.token(
                tenant: "acme", workspace: "support", username: "hana", password: "hana-password")
            #expect(
                try await client.send(
                    .put, "/v1/users/agent/password", json: ["password": "agent-password-2"], bearer: hana
                ).status == .noContent)
            let adminID = try await adminUserID(client, acme)
            for target in [adminID, "senior", "loner"] {
                #expect(
                    try await client.send(
                        .put, "/v1/users/\(target)/password", json: ["password": "new-password-9"], bearer: hana
                    ).status == .forbidden, "\(target)")
            }
            #expect(
                try await client.send(
                    .post, "/v1/assignments",
                    json: ["user_id": "hana", "role_id": agentRole, "workspace_id": "support"], bearer: hana
                ).status == .forbidden)
            _ = (gateway, platform)
        }
    }

    /// SPEC 5/6: POST /v1/admin/keys/rotate answers 409 while the next key is younger than the JWKS max-age; the
    /// forced path goes through and is audited as such; the waiting path works once the key is old enough.
    @Test func tooEarlyRotationIsAConflictAndForcingIsAudited() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let platform = try await client.token()
            let before = gateway.keyRing.snapshot.active.kid
            let early = try await client.send(.post, "/v1/admin/keys/rotate", bearer: platform)
            #expect(early.status == .conflict && early.string("code") == "conflict")
            #expect(early.string("detail")?.contains("force=true") == true)
            #expect(gateway.keyRing.snapshot.active.kid == before)
            let forced = try await client.send(.post, "/v1/admin/keys/rotate?force=true", bearer: platform)
            #expect(forced.status == .ok && forced.string("previous_kid") == before)
            let audit = try await gateway.store.auditEvents(
                AuditQuery(tenantID: "platform", action: "keys.rotate_forced"))
            #expect(audit.count == 1 && audit.first?.actor.hasPrefix("platform/u-") == true)
            #expect(
                try await client.send(.post, "/v1/admin/keys/rotate", bearer: platform).status == .conflict,
                "the new next key is young again")
            gateway.clock.advance(by: TimeInterval(gateway.configuration.jwksMaxAge + 1))
            #expect(try await client.send(.post, "/v1/admin/keys/rotate", bearer: platform).status == .ok)
        }
    }
}
