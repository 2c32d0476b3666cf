import Foundation

/// A custom role of a tenant: tenant-wide (`workspaceID == nil`) or limited to one workspace.
public struct RoleRecord: Codable, Sendable, Equatable {
    public var roleID: String
    public var tenantID: String
    public var name: String
    public var description: String?
    public var workspaceID: String?
    public var permissions: [String]
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        roleID: String, tenantID: String, name: String, description: String?, workspaceID: String?,
        permissions: [String], createdAt: Date, updatedAt: Date
    ) {
        self.roleID = roleID
        self.tenantID = tenantID
        self.name = name
        self.description = description
        self.workspaceID = workspaceID
        self.permissions = permissions
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The policy version of one workspace, with the change-feed sequence number of its last change.
public struct PolicyVersionEntry: Codable, Sendable, Equatable {
    public var tenantID: String
    public var workspaceID: String
    public var version: Int64
    public var sequence: Int64

    public init(tenantID: String, workspaceID: String, version: Int64, sequence: Int64) {
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.version = version
        self.sequence = sequence
    }
}

/// What deleting a principal took with it.
public struct DeletedPrincipal: Sendable, Equatable {
    /// Sessions revoked with it (their access tokens are rejected from then on).
    public var revokedSessionIDs: [String]
    /// Workspaces whose policy version was bumped.
    public var bumpedWorkspaces: [String]

    public init(revokedSessionIDs: [String], bumpedWorkspaces: [String]) {
        self.revokedSessionIDs = revokedSessionIDs
        self.bumpedWorkspaces = bumpedWorkspaces
    }
}
