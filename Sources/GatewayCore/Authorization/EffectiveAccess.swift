/// Where an assignment applies: one workspace, or every workspace of the tenant (`workspace_id: "*"`).
public enum WorkspaceScope: Hashable, Sendable, CustomStringConvertible {
    case workspace(String)
    case tenantWide

    /// The wire form of a tenant-wide assignment's workspace.
    public static let tenantWideID = "*"

    public init(_ workspaceID: String) {
        self = workspaceID == Self.tenantWideID ? .tenantWide : .workspace(workspaceID)
    }

    /// `*` or the workspace id.
    public var workspaceID: String {
        switch self {
        case .workspace(let id): id
        case .tenantWide: Self.tenantWideID
        }
    }

    public var description: String {
        switch self {
        case .workspace(let id): "workspace \(id)"
        case .tenantWide: "tenant-wide"
        }
    }
}

/// What a principal holds across its tenant, read from its assignments: per workspace and tenant-wide. The input
/// of every ``AuthorizationPolicy`` decision, for the caller and for the principal it acts on.
public struct EffectiveAccess: Sendable, Equatable {
    /// Holds `platform_admin`: every permission in every workspace of every tenant.
    public var isPlatformAdmin: Bool
    /// Permissions of roles assigned tenant-wide.
    public var tenantWide: Set<String>
    /// Permissions of roles assigned in each workspace (tenant-wide ones not repeated).
    public var perWorkspace: [String: Set<String>]
    /// Every scope where the principal has at least one assignment.
    public var assignedScopes: Set<WorkspaceScope>

    public init(
        isPlatformAdmin: Bool = false, tenantWide: Set<String> = [], perWorkspace: [String: Set<String>] = [:],
        assignedScopes: Set<WorkspaceScope> = []
    ) {
        self.isPlatformAdmin = isPlatformAdmin
        self.tenantWide = tenantWide
        self.perWorkspace = perWorkspace
        self.assignedScopes = assignedScopes
    }

    /// A platform admin acting anywhere.
    public static let platformAdmin = EffectiveAccess(isPlatformAdmin: true)

    /// The permissions held in `scope`: in a workspace, its own and the tenant-wide ones; tenant-wide, the
    /// tenant-wide ones alone. Not meaningful for a platform admin, who holds everything.
    public func permissions(in scope: WorkspaceScope) -> Set<String> {
        switch scope {
        case .tenantWide: tenantWide
        case .workspace(let id): tenantWide.union(perWorkspace[id] ?? [])
        }
    }

    public func holds(_ permission: Permission, in scope: WorkspaceScope) -> Bool {
        isPlatformAdmin || permissions(in: scope).contains(permission.name)
    }

    /// The names of `permissions` not held in `scope` (empty when all are held).
    public func missing(_ permissions: some Sequence<String>, in scope: WorkspaceScope) -> [String] {
        if isPlatformAdmin { return [] }
        let held = self.permissions(in: scope)
        return permissions.filter { !held.contains($0) }.sorted()
    }
}
