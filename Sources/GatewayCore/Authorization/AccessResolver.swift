import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Resolves a principal's roles, permissions and the workspace's `policy_version`, cached in memory.
///
/// A cache entry is valid while its workspace's policy version is unchanged. Versions are followed through the
/// store's change feed: at once after a change made through this process (``refreshVersions()``), and every poll
/// interval for changes made elsewhere, so a role change is seen by the next request on this node and within about
/// a second on others. The permission registry is re-read on the same poll (``reloadRegistry()``).
public final class AccessResolver: Service, Sendable {
    struct Key {
        var tenantID: String
        var workspaceID: String
        var principalID: String

        /// What the entries are keyed by: 16 bytes instead of three strings.
        var digest: CacheKeyDigest {
            var fields = CacheKeyDigest.Builder()
            fields.add(tenantID)
            fields.add(workspaceID)
            fields.add(principalID)
            return fields.finish()
        }
    }

    struct Workspace: Hashable {
        var tenantID: String
        var workspaceID: String
    }

    struct State {
        var versions: [Workspace: Int64] = [:]
        var cursor: Int64 = 0
        var entries: [CacheKeyDigest: ResolvedAccess] = [:]
        var registered: [PermissionCatalog.Entry]?
    }

    let store: any GatewayStore
    let pollInterval: Duration
    let maximumEntries: Int
    let logger: Logger
    private let state = Mutex(State())

    public init(
        store: any GatewayStore, pollInterval: Duration = .seconds(1), maximumEntries: Int = 100_000,
        logger: Logger = Logger(label: "iam-gateway.access")
    ) {
        self.store = store
        self.pollInterval = pollInterval
        self.maximumEntries = maximumEntries
        self.logger = logger
    }

    /// The access `principalID` of `tenantID` has in `workspaceID` of the same tenant.
    public func resolve(tenantID: String, workspaceID: String, principalID: String) async throws -> ResolvedAccess {
        if let cached = cachedResolution(tenantID: tenantID, workspaceID: workspaceID, principalID: principalID) {
            return cached
        }
        let key = Key(tenantID: tenantID, workspaceID: workspaceID, principalID: principalID)
        let workspace = Workspace(tenantID: tenantID, workspaceID: workspaceID)
        let access = try await resolveFromStore(key)
        let digest = key.digest
        state.withLock { state in
            if state.entries.count >= maximumEntries { state.entries.removeAll(keepingCapacity: true) }
            if (state.versions[workspace] ?? 0) <= access.policyVersion {
                state.versions[workspace] = access.policyVersion
                state.entries[digest] = access
            }
        }
        return access
    }

    /// The cached resolution while it is current (the workspace's policy version unchanged), without touching the
    /// store; `nil` when ``resolve(tenantID:workspaceID:principalID:)`` would have to read it.
    public func cachedResolution(tenantID: String, workspaceID: String, principalID: String) -> ResolvedAccess? {
        let digest = Key(tenantID: tenantID, workspaceID: workspaceID, principalID: principalID).digest
        let workspace = Workspace(tenantID: tenantID, workspaceID: workspaceID)
        return state.withLock { state -> ResolvedAccess? in
            guard let entry = state.entries[digest], let version = state.versions[workspace],
                entry.policyVersion == version
            else { return nil }
            return entry
        }
    }

    /// Follows the change feed now: call after a change so the next request sees it.
    public func refreshVersions() async throws {
        let cursor = state.withLock { $0.cursor }
        let (entries, next) = try await store.policyVersions(after: cursor, tenantID: nil)
        state.withLock { state in
            for entry in entries {
                let workspace = Workspace(tenantID: entry.tenantID, workspaceID: entry.workspaceID)
                state.versions[workspace] = max(state.versions[workspace] ?? 0, entry.version)
            }
            state.cursor = max(state.cursor, next)
        }
    }

    /// Re-reads the permission registry. When it changed (a registration through this process or another
    /// replica), cached resolutions are dropped: `admin` and `connections.*` follow the registry, and downstream
    /// tokens are filtered by it.
    public func reloadRegistry() async throws {
        let entries = try await store.permissions()
        state.withLock { state in
            guard state.registered != entries else { return }
            state.registered = entries
            state.entries.removeAll()
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: self.pollInterval)
                    try await self.refreshVersions()
                    try await self.reloadRegistry()
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning("policy version refresh failed", metadata: ["error_type": "\(type(of: error))"])
                }
            }
        }
    }

    func registry() async throws -> [PermissionCatalog.Entry] {
        if let cached = state.withLock({ $0.registered }) { return cached }
        let entries = try await store.permissions()
        state.withLock { $0.registered = entries }
        return entries
    }

    func registeredPermissions() async throws -> [String] {
        try await registry().map(\.name)
    }

    /// The permissions `service` registered (empty when it registered none), from the cached registry.
    public func permissions(ownedBy service: String) async throws -> Set<String> {
        Set(try await registry().filter { $0.service == service }.map(\.name))
    }

    func resolveFromStore(_ key: Key) async throws -> ResolvedAccess {
        let version = try await store.policyVersion(tenantID: key.tenantID, workspaceID: key.workspaceID)
        // Assigned in this workspace or tenant-wide (`*`).
        let assignments = try await store.assignments(
            tenantID: key.tenantID, principalID: key.principalID, workspaceID: nil
        )
        .filter { $0.workspaceID == key.workspaceID || $0.workspaceID == WorkspaceScope.tenantWideID }
        let roleIDs = Array(Set(assignments.map(\.roleID))).sorted()
        guard !roleIDs.isEmpty else {
            return ResolvedAccess(roles: [], permissions: [], policyVersion: version, isPlatformAdmin: false)
        }
        let registered = try await registeredPermissions()
        var permissions: Set<String> = []
        var roles: [String] = []
        for roleID in roleIDs {
            if let granted = try await rolePermissions(
                roleID, tenantID: key.tenantID, in: .workspace(key.workspaceID), registered: registered)
            {
                permissions.formUnion(granted)
                roles.append(roleID)
            }
        }
        let isPlatformAdmin = key.tenantID == Tenant.platformID && roles.contains(PermissionCatalog.platformAdminRole)
        return ResolvedAccess(
            roles: roles, permissions: permissions, policyVersion: version, isPlatformAdmin: isPlatformAdmin)
    }

    /// The permissions role `roleID` grants where it is assigned in `scope`: a system role's, or a custom role's when
    /// it is tenant-wide or limited to that very workspace; `nil` when it grants nothing there (unknown, or limited
    /// to another workspace).
    func rolePermissions(_ roleID: String, tenantID: String, in scope: WorkspaceScope, registered: [String])
        async throws -> Set<String>?
    {
        if let granted = PermissionCatalog.permissions(ofSystemRole: roleID, tenantID: tenantID, registered: registered)
        {
            return granted
        }
        guard let role = try await store.role(tenantID: tenantID, roleID: roleID) else { return nil }
        guard let limited = role.workspaceID else { return Set(role.permissions) }
        return scope == .workspace(limited) ? Set(role.permissions) : nil
    }

    /// What `principalID` holds across its tenant, read from the store (never from the cache): the input of the
    /// admin-plane policy for a caller or a target, taken inside ``GatewayStore/serializingTenant(_:_:)``.
    public func effectiveAccess(tenantID: String, principalID: String) async throws -> EffectiveAccess {
        let registered = try await registeredPermissions()
        var access = EffectiveAccess()
        for assignment in try await store.assignments(tenantID: tenantID, principalID: principalID, workspaceID: nil) {
            let scope = WorkspaceScope(assignment.workspaceID)
            access.assignedScopes.insert(scope)
            if tenantID == Tenant.platformID, assignment.roleID == PermissionCatalog.platformAdminRole,
                scope == .tenantWide
            {
                access.isPlatformAdmin = true
            }
            guard
                let granted = try await rolePermissions(
                    assignment.roleID, tenantID: tenantID, in: scope, registered: registered)
            else { continue }
            switch scope {
            case .tenantWide: access.tenantWide.formUnion(granted)
            case .workspace(let id): access.perWorkspace[id, default: []].formUnion(granted)
            }
        }
        return access
    }

    /// The permissions of role `roleID` of `tenantID` (system or custom) and the workspace it is limited to;
    /// `nil` when the tenant has no such role.
    public func role(_ roleID: String, tenantID: String) async throws -> (
        permissions: Set<String>, limitedTo: String?, isSystem: Bool
    )? {
        if let granted = PermissionCatalog.permissions(
            ofSystemRole: roleID, tenantID: tenantID, registered: try await registeredPermissions())
        {
            return (granted, nil, true)
        }
        guard let role = try await store.role(tenantID: tenantID, roleID: roleID) else { return nil }
        return (Set(role.permissions), role.workspaceID, false)
    }
}
