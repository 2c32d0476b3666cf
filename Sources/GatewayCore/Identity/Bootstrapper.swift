import Foundation
import Logging
import NIOPosix

/// First start with an empty store (SPEC 4.1): tenant `platform`, workspace `default`, and the configured admin
/// user with role `platform_admin`
/// assigned tenant-wide. Later starts change nothing.
public struct Bootstrapper: Sendable {
    let store: any GatewayStore
    let hasher: PasswordHasher
    let clock: any GatewayClock

    public init(store: any GatewayStore, hasher: PasswordHasher, clock: any GatewayClock) {
        self.store = store
        self.hasher = hasher
        self.clock = clock
    }

    /// Bootstraps when the store is empty. Returns the generated password when one was generated (to print once).
    public func run(username: String, password configured: String) async throws -> String? {
        guard try await store.isEmpty() else { return nil }
        let generated = configured.isEmpty ? SecretToken.random(bytes: 18) : nil
        let password = generated ?? configured
        try PasswordHasher.validate(password)
        let now = clock.now()
        let hasher = self.hasher
        let hash = try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
        do {
            try await store.createTenant(Tenant(tenantID: Tenant.platformID, name: "Platform", createdAt: now))
        } catch let error as GatewayError where error.code == .conflict {
            // Another replica on the same shared store bootstrapped first.
            return nil
        }
        let userID = SecretToken.identifier(prefix: "u-")
        try await store.createUser(
            UserRecord(
                tenantID: Tenant.platformID, userID: userID, username: username, passwordHash: hash, createdAt: now))
        try await store.createAssignment(
            Assignment(
                assignmentID: SecretToken.identifier(prefix: "as-"), tenantID: Tenant.platformID,
                workspaceID: WorkspaceScope.tenantWideID,
                principalID: userID, roleID: PermissionCatalog.platformAdminRole, createdAt: now
            ))
        try await store.appendAudit(
            AuditEvent(
                at: now, actor: "system", tenantID: Tenant.platformID, workspaceID: Tenant.defaultWorkspaceID,
                action: "bootstrap", target: "user:\(userID)", requestID: nil))
        return generated
    }
}
