import Foundation
import GatewayCore
import GatewayStorage
import Logging
import Testing

/// Two resolvers on one store stand for two replicas.
@Suite struct AccessResolverTests {
    @Test func registrationThroughAnotherReplicaReachesCachedResolutions() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try await SQLiteStore.open(path: temp.appending("gateway.sqlite"), logger: Logger(label: "test"))
        try await store.createTenant(Tenant(tenantID: "acme", name: "Acme", createdAt: Date()))
        try await store.createUser(
            UserRecord(tenantID: "acme", userID: "ann", username: "ann", passwordHash: "x", createdAt: Date()))
        try await store.createAssignment(
            Assignment(
                assignmentID: "as-1", tenantID: "acme", workspaceID: "default", principalID: "ann", roleID: "admin",
                createdAt: Date()))
        let here = AccessResolver(store: store)
        let before = try await here.resolve(tenantID: "acme", workspaceID: "default", principalID: "ann")
        #expect(!before.permissions.contains("billing.read"))
        #expect(try await here.permissions(ownedBy: "billing").isEmpty)

        // Another replica registers; this one has cached both the registry and Ann's resolution.
        try await store.registerPermissions(
            service: "billing", entries: [.init(name: "billing.read", service: "billing", label: "Read billing")])
        #expect(
            !(try await here.resolve(tenantID: "acme", workspaceID: "default", principalID: "ann")).permissions
                .contains("billing.read"), "cached until the poll")
        try await here.reloadRegistry()
        #expect(
            (try await here.resolve(tenantID: "acme", workspaceID: "default", principalID: "ann")).permissions.contains(
                "billing.read"))
        #expect(try await here.permissions(ownedBy: "billing") == ["billing.read"])
        try await store.close()
    }
}
