import Foundation
import GatewayCore
import GatewayStorage
import Testing

/// OAuth clients in every store: round trip, ids unique across tenants and kinds, deletion takes assignments.
extension StoreConformanceTests {
    static func client(_ id: String, tenant: String = "acme", type: OAuthClientRecord.ClientType = .confidential) -> OAuthClientRecord {
        OAuthClientRecord(
            tenantID: tenant, clientID: id, name: "client \(id)", workspaceID: "default", type: type, secretHash: type == .confidential ? "sha256-of-\(id)" : nil,
            redirectURIs: ["https://app.example/cb", "http://127.0.0.1/cb"], postLogoutRedirectURIs: ["https://app.example/bye"],
            grantTypes: ["client_credentials"], createdAt: at(5)
        )
    }

    @Test(arguments: StoreBackend.configured)
    func clientsRoundTripAndAreUniqueAcrossTenantsAndPrincipals(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let confidential = Self.client("cl-a")
            let publicClient = Self.client("cl-b", type: .public)
            try await store.createClient(confidential)
            try await store.createClient(publicClient)
            #expect(try await store.client(clientID: "cl-a") == confidential)
            #expect(try await store.client(clientID: "cl-b") == publicClient)
            #expect(try await store.client(clientID: "cl-none") == nil)
            #expect(try await store.clients(tenantID: "acme").map(\.clientID) == ["cl-a", "cl-b"])
            #expect(try await store.clients(tenantID: "other").isEmpty)
            // The same id in another tenant: refused (ids are global); a user id taken by a client: refused.
            await expectCode(.conflict) { try await store.createClient(Self.client("cl-a", tenant: "other")) }
            await expectCode(.conflict) { try await store.createUser(Self.user("acme", "cl-a", "someone")) }
            try await store.createUser(Self.user("acme", "u-1", "alice"))
            await expectCode(.conflict) { try await store.createClient(Self.client("u-1")) }

            try await store.createAssignment(Self.assignment("as-1", tenant: "acme", principal: "cl-a", role: "viewer"))
            #expect(try await store.deleteClient(tenantID: "other", clientID: "cl-a", now: Self.at(20)) == nil, "not another tenant's")
            let deleted = try await store.deleteClient(tenantID: "acme", clientID: "cl-a", now: Self.at(20))
            #expect(deleted?.bumpedWorkspaces == ["default"])
            #expect(try await store.client(clientID: "cl-a") == nil)
            #expect(try await store.assignments(tenantID: "acme", principalID: "cl-a", workspaceID: nil).isEmpty)
            await expectCode(.conflict) { try await store.createClient(Self.client("cl-a")) }
        }
    }
}
