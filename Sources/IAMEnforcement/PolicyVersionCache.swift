import Synchronization

/// The highest `policy_version` seen per (tenant, workspace), from valid tokens and from the gateway's
/// `/v1/policy-versions` feed (``PolicyVersionPoller``). A token whose version is lower is stale: its
/// roles and permissions predate a change, so the client must fetch a new one.
///
/// Versions only rise. The cache holds at most ``capacity`` workspaces; when full it forgets the tenth least
/// recently observed, which then admits any version again until one is seen.
public final class PolicyVersionCache: Sendable {
    struct Workspace: Hashable, Sendable {
        var tenantID: String
        var workspaceID: String
    }

    private struct Entry {
        var version: Int64
        var lastUsed: UInt64
    }

    private struct State {
        var entries: [Workspace: Entry] = [:]
        var tick: UInt64 = 0
    }

    /// The most workspaces held at once.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    /// Records the token's version if it is higher than the cached one. Call it with verified claims only.
    public func observe(_ claims: AccessTokenClaims) {
        update(tenantID: claims.tenantID, workspaceID: claims.workspaceID, policyVersion: claims.policyVersion)
    }

    /// True when a higher version than the token's has been seen for its workspace.
    public func isStale(_ claims: AccessTokenClaims) -> Bool {
        let workspace = Workspace(tenantID: claims.tenantID, workspaceID: claims.workspaceID)
        return state.withLock { state in
            guard let entry = state.entries[workspace] else { return false }
            return claims.policyVersion < entry.version
        }
    }

    /// Checks and records in one step: `false` when the token is stale, otherwise records its version and
    /// answers `true`.
    public func admit(_ claims: AccessTokenClaims) -> Bool {
        let workspace = Workspace(tenantID: claims.tenantID, workspaceID: claims.workspaceID)
        return state.withLock { state in
            if let entry = state.entries[workspace], claims.policyVersion < entry.version { return false }
            Self.raise(&state, workspace, to: claims.policyVersion, capacity: capacity)
            return true
        }
    }

    /// Raises the cached version of a workspace; a lower or equal version changes nothing.
    public func update(tenantID: String, workspaceID: String, policyVersion: Int64) {
        let workspace = Workspace(tenantID: tenantID, workspaceID: workspaceID)
        state.withLock { state in
            Self.raise(&state, workspace, to: policyVersion, capacity: capacity)
        }
    }

    /// The cached version of a workspace, if any.
    public func version(tenantID: String, workspaceID: String) -> Int64? {
        state.withLock { $0.entries[Workspace(tenantID: tenantID, workspaceID: workspaceID)]?.version }
    }

    /// How many workspaces are cached.
    public var count: Int {
        state.withLock { $0.entries.count }
    }

    private static func raise(_ state: inout State, _ workspace: Workspace, to version: Int64, capacity: Int) {
        state.tick &+= 1
        if var entry = state.entries[workspace] {
            entry.version = max(entry.version, version)
            entry.lastUsed = state.tick
            state.entries[workspace] = entry
            return
        }
        if state.entries.count >= capacity {
            evictLeastRecentlyUsed(&state, capacity: capacity)
        }
        state.entries[workspace] = Entry(version: version, lastUsed: state.tick)
    }

    /// Forgets the least recently used tenth (at least one), so eviction runs once per many inserts.
    private static func evictLeastRecentlyUsed(_ state: inout State, capacity: Int) {
        let count = max(1, capacity / 10)
        let victims = state.entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(count)
        for victim in victims {
            state.entries[victim.key] = nil
        }
    }
}
