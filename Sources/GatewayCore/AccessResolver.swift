import Foundation

/// Resolves a principal's roles, permissions and the workspace's `policy_version` from the store.
public struct AccessResolver: Sendable {
    let store: any GatewayStore

    public init(store: any GatewayStore) {
        self.store = store
    }

    /// The access `principalID` of `tenantID` has in `workspaceID` of the same tenant.
    public func resolve(tenantID: String, workspaceID: String, principalID: String) async throws -> ResolvedAccess {
        let version = try await store.policyVersion(tenantID: tenantID, workspaceID: workspaceID)
        let assignments = try await store.assignments(tenantID: tenantID, principalID: principalID, workspaceID: workspaceID)
        let roleIDs = Array(Set(assignments.map(\.roleID))).sorted()
        guard !roleIDs.isEmpty else {
            return ResolvedAccess(roles: [], permissions: [], policyVersion: version, isPlatformAdmin: false)
        }
        let registered = try await store.permissions().map(\.name)
        var permissions: Set<String> = []
        var roles: [String] = []
        for roleID in roleIDs {
            if let granted = PermissionCatalog.permissions(ofSystemRole: roleID, tenantID: tenantID, registered: registered) {
                permissions.formUnion(granted)
                roles.append(roleID)
            } else if let role = try await store.role(tenantID: tenantID, roleID: roleID), role.workspaceID == nil || role.workspaceID == workspaceID {
                permissions.formUnion(role.permissions)
                roles.append(roleID)
            }
        }
        let isPlatformAdmin = tenantID == Tenant.platformID && roles.contains(PermissionCatalog.platformAdminRole)
        return ResolvedAccess(roles: roles, permissions: permissions, policyVersion: version, isPlatformAdmin: isPlatformAdmin)
    }
}
