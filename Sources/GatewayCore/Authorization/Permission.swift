/// A permission name (`connections.create`). The gateway's own IAM permissions are typed constants, so a misspelt
/// one does not compile; permissions that services register are made with ``init(_:)`` from their names.
public struct Permission: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) { self.name = name }

    public var description: String { name }

    // Tenant-scope IAM permissions (SPEC 4).
    public static let permissionsRead = Permission("permissions.read")
    public static let rolesCreate = Permission("roles.create")
    public static let rolesRead = Permission("roles.read")
    public static let rolesUpdate = Permission("roles.update")
    public static let rolesDelete = Permission("roles.delete")
    public static let assignmentsRead = Permission("assignments.read")
    public static let assignmentsManage = Permission("assignments.manage")
    public static let usersManage = Permission("users.manage")
    public static let apiKeysManage = Permission("apikeys.manage")
    public static let clientsManage = Permission("clients.manage")
    public static let workspacesManage = Permission("workspaces.manage")
    public static let auditRead = Permission("audit.read")

    // Platform-only permissions: only roles of tenant `platform` may hold them.
    public static let tenantsManage = Permission("tenants.manage")
    public static let keysRead = Permission("keys.read")
    public static let keysRotate = Permission("keys.rotate")
    public static let permissionsRegister = Permission("permissions.register")
    public static let policyRead = Permission("policy.read")

    /// The tenant-scope IAM permissions, in SPEC order.
    public static let tenantIAM: [Permission] = [
        .permissionsRead, .rolesCreate, .rolesRead, .rolesUpdate, .rolesDelete, .assignmentsRead, .assignmentsManage,
        .usersManage, .apiKeysManage, .clientsManage, .workspacesManage, .auditRead,
    ]

    /// Permissions no custom role outside tenant `platform` may contain.
    public static let platformOnly: [Permission] = [
        .tenantsManage, .keysRead, .keysRotate, .permissionsRegister, .policyRead,
    ]

    /// The first segments of the IAM vocabulary: names under them belong to the gateway and no service may register
    /// them (SPEC 4, reserved permission names).
    public static let reservedNamespaces: Set<String> = [
        "permissions", "roles", "assignments", "users", "apikeys", "clients", "workspaces", "tenants", "keys", "audit",
        "policy",
    ]

    /// True when the name is in the gateway's reserved IAM vocabulary.
    public var isReserved: Bool {
        guard let first = name.split(separator: ".", maxSplits: 1).first else { return false }
        return Self.reservedNamespaces.contains(String(first))
    }

    public var isPlatformOnly: Bool { Self.platformOnlyNames.contains(name) }

    static let platformOnlyNames = Set(platformOnly.map(\.name))
}
