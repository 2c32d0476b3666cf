import Foundation
import GatewayCore
import GatewayStorage
import HTTPTypes
import Testing

/// `GET /v1/me` (SPEC 5): what the caller holds in the scope its token or, for a platform admin, `X-Tenant-Id` /
/// `X-Workspace-Id` select, or in `?workspace_id=` of that tenant (`*`: tenant-wide, what the console gates
/// tenant-wide actions on). Anyone else's scope header is refused, as on every IAM call.
@Suite struct CallerHoldingsTests {
    let acme = EscalationTests()

    @Test func tenantWideHoldingsAreTheTenantWideAssignmentsOnly() async throws {
        try await acme.withAcme { gateway, client, _, acmeAdmin in
            let wide = try await client.send(.get, "/v1/me?workspace_id=*", bearer: acmeAdmin)
            #expect(wide.status == .ok, "\(wide.text)")
            #expect(wide.string("workspace_id") == "*" && wide.string("tenant_id") == "acme")
            #expect(wide["roles"] as? [String] == ["admin"])
            let held = Set(wide["permissions"] as? [String] ?? [])
            #expect(held.isSuperset(of: ["workspaces.manage", "users.manage", "audit.read", "roles.create"]))
            #expect(
                held.isDisjoint(with: PermissionCatalog.platformOnly), "platform-only permissions outside platform")
            let versions = try await gateway.store.policyVersions(after: nil, tenantID: "acme").entries
            #expect(wide["policy_version"] as? Int64 == versions.map(\.version).max())

            // A role limited to ws2 counts in ws2, not tenant-wide.
            let limited = try await acme.limitedUser(
                client, admin: acmeAdmin, name: "ws2-reader", permissions: ["roles.read"], workspace: "ws2")
            let there = try await client.send(.get, "/v1/me", bearer: limited.token)
            #expect(there.string("workspace_id") == "ws2" && there["permissions"] as? [String] == ["roles.read"])
            let nowhere = try await client.send(.get, "/v1/me?workspace_id=*", bearer: limited.token)
            #expect(nowhere.status == .ok, "\(nowhere.text)")
            #expect(nowhere["roles"] as? [String] == [] && nowhere["permissions"] as? [String] == [])
            #expect(
                try await client.send(.get, "/v1/me?workspace_id=wsb", bearer: limited.token)["permissions"]
                    as? [String] == [])
        }
    }

    @Test func aPlatformAdminSeesWhatItHoldsInTheTenantItActsIn() async throws {
        try await acme.withAcme { _, client, platform, _ in
            let own = try await client.send(.get, "/v1/me", bearer: platform)
            #expect(own.string("tenant_id") == "platform")
            let there = try await client.send(.get, "/v1/me", headers: EscalationTests.acme, bearer: platform)
            #expect(there.status == .ok, "\(there.text)")
            #expect(there.string("tenant_id") == "acme" && there.string("workspace_id") == "default")
            #expect(there["roles"] as? [String] == ["platform_admin"])
            #expect(
                Set(there["permissions"] as? [String] ?? []).isSuperset(of: ["workspaces.manage", "tenants.manage"]))
            var ws2 = EscalationTests.acme
            ws2[HTTPField.Name("X-Workspace-Id")!] = "ws2"
            #expect(
                try await client.send(.get, "/v1/me", headers: ws2, bearer: platform).string("workspace_id") == "ws2")
            let wide = try await client.send(.get, "/v1/me?workspace_id=*", headers: ws2, bearer: platform)
            #expect(wide.string("workspace_id") == "*" && wide.string("tenant_id") == "acme")
            let ghost: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "ghost"]
            #expect(try await client.send(.get, "/v1/me", headers: ghost, bearer: platform).status == .notFound)
        }
    }

    /// The attacker: a tenant admin naming another tenant, or a workspace outside its token, in a scope header.
    @Test func nobodyElseMaySelectAScopeByHeader() async throws {
        try await acme.withAcme { _, client, _, acmeAdmin in
            let platformHeader: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "platform"]
            let crossTenant = try await client.send(.get, "/v1/me", headers: platformHeader, bearer: acmeAdmin)
            #expect(crossTenant.status == .forbidden && crossTenant.string("code") == "forbidden")
            let otherWorkspace: HTTPFields = [HTTPField.Name("X-Workspace-Id")!: "ws2"]
            #expect(
                try await client.send(.get, "/v1/me", headers: otherWorkspace, bearer: acmeAdmin).status
                    == .forbidden)
            // Its own tenant named explicitly is its own scope.
            #expect(
                try await client.send(.get, "/v1/me", headers: EscalationTests.acme, bearer: acmeAdmin).status == .ok)
        }
    }

    @Test(arguments: ["**", "*a", "WS2", "a b", ""])
    func aMalformedWorkspaceIsAProblem(_ workspace: String) async throws {
        try await acme.withAcme { _, client, _, acmeAdmin in
            let query = workspace.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let reply = try await client.send(.get, "/v1/me?workspace_id=\(query)", bearer: acmeAdmin)
            #expect(reply.status == .badRequest, "\(workspace): \(reply.status) \(reply.text)")
            #expect(reply.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func anUnknownWorkspaceIsNotFound() async throws {
        try await acme.withAcme { _, client, _, acmeAdmin in
            let reply = try await client.send(.get, "/v1/me?workspace_id=nope", bearer: acmeAdmin)
            #expect(reply.status == .notFound && reply.headers[.contentType] == "application/problem+json")
        }
    }
}
