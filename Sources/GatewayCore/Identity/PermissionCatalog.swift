import Foundation

/// The shared permission vocabulary and the system roles (SPEC section 4).
public enum PermissionCatalog {
    /// A registered permission: its owning service and display label.
    public struct Entry: Codable, Sendable, Equatable {
        public var name: String
        public var service: String
        public var label: String

        public init(name: String, service: String, label: String) {
            self.name = name
            self.service = service
            self.label = label
        }
    }

    /// Permissions that exist from the first start: the seed's inventory and the IAM's own.
    public static let seed: [Entry] =
        [
            Entry(name: "integrations.read", service: "integrations", label: "View integrations"),
            Entry(name: "connections.read", service: "connections", label: "View connections"),
            Entry(name: "connections.create", service: "connections", label: "Create connections"),
            Entry(name: "connections.update", service: "connections", label: "Update connections"),
            Entry(name: "connections.delete", service: "connections", label: "Delete connections"),
            Entry(name: "discovery.run", service: "discovery", label: "Run discovery"),
            Entry(name: "discovery.read", service: "discovery", label: "View discovery results"),
            Entry(name: "discovery.history.read", service: "discovery", label: "View discovery history"),
            Entry(name: "explorer.read", service: "explorer", label: "Use the explorer"),
            Entry(name: "export.generate", service: "export", label: "Generate exports"),
        ] + tenantIAM.map { Entry(name: $0, service: "iam", label: label(for: $0)) }
        + platformOnly.map { Entry(name: $0, service: "iam", label: label(for: $0)) }

    /// IAM permissions that apply within a tenant.
    public static let tenantIAM = Permission.tenantIAM.map(\.name)

    /// Permissions only roles of the `platform` tenant grant.
    public static let platformOnly = Permission.platformOnly.map(\.name)

    static func label(for name: String) -> String {
        let parts = name.split(separator: ".")
        guard parts.count == 2 else { return name }
        return "\(parts[1].capitalized) \(parts[0].replacingOccurrences(of: "apikeys", with: "API keys"))"
    }

    /// The ids of the system roles every tenant has, and the two more of tenant `platform`.
    public static let tenantSystemRoles = ["admin", "connector_builder", "viewer", "auditor"]
    public static let platformSystemRoles = ["platform_admin", "service"]

    public static let platformAdminRole = "platform_admin"
    public static let adminRole = "admin"
    public static let serviceRole = "service"

    /// The principal ids no user, key or client may take (SPEC 4).
    public static let reservedPrincipalIDs: Set<String> = ["console", "first-party"]

    /// True when `roleID` is a system role in `tenantID`.
    public static func isSystemRole(_ roleID: String, tenantID: String) -> Bool {
        tenantSystemRoles.contains(roleID) || (tenantID == Tenant.platformID && platformSystemRoles.contains(roleID))
    }

    /// The system role ids that exist in `tenantID`.
    public static func systemRoles(in tenantID: String) -> [String] {
        tenantID == Tenant.platformID ? tenantSystemRoles + platformSystemRoles : tenantSystemRoles
    }

    static let viewer = [
        "integrations.read", "connections.read", "discovery.read", "discovery.history.read", "explorer.read",
    ]

    /// The permissions of a system role, resolved against the registered names (so `admin` and
    /// `connector_builder`'s `connections.*` include permissions services register later). `nil` for a
    /// non-system role.
    public static func permissions(ofSystemRole roleID: String, tenantID: String, registered: some Sequence<String>)
        -> Set<String>?
    {
        guard isSystemRole(roleID, tenantID: tenantID) else { return nil }
        let platform = Set(platformOnly)
        switch roleID {
        case "admin":
            return Set(registered.filter { !platform.contains($0) })
        case "connector_builder":
            return Set([
                "integrations.read", "discovery.run", "discovery.read", "discovery.history.read", "explorer.read",
            ])
            .union(registered.filter { $0.hasPrefix("connections.") })
        case "viewer":
            return Set(viewer)
        case "auditor":
            return Set(
                viewer + ["export.generate"]
                    + [Permission.auditRead, .rolesRead, .permissionsRead, .assignmentsRead].map(\.name))
        case "platform_admin":
            return Set(registered)
        case "service":
            return Set([Permission.permissionsRegister, .permissionsRead, .policyRead].map(\.name))
        default:
            return nil
        }
    }
}
