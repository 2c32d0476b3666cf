/// Who is calling and in which tenant/workspace they act (SPEC 5): the token's scope, or for a platform admin the
/// one `X-Tenant-Id` / `X-Workspace-Id` select. Built by the HTTP layer; domain services take it as the caller.
public struct CallerScope: Sendable {
    public var principal: Principal
    /// The principal's own access in its own workspace (its token's).
    public var access: ResolvedAccess
    public var tenantID: String
    public var workspaceID: String
    /// The id the gateway answers with (validated or generated), for the audit log.
    public var requestID: String?

    public init(principal: Principal, access: ResolvedAccess, tenantID: String, workspaceID: String, requestID: String?)
    {
        self.principal = principal
        self.access = access
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.requestID = requestID
    }

    public var isCrossTenant: Bool { tenantID != principal.tenantID }
    public var isPlatformAdmin: Bool { access.isPlatformAdmin }

    /// True when the caller holds `permission` in this scope's workspace (assigned there or tenant-wide). A platform
    /// admin holds every permission everywhere; platform-only permissions are held by no one outside `platform`.
    public func holds(_ permission: Permission) -> Bool {
        if access.isPlatformAdmin { return true }
        if permission.isPlatformOnly, principal.tenantID != Tenant.platformID { return false }
        return access.permissions.contains(permission.name)
    }

    /// 403 unless the caller holds `permission` in this scope's workspace.
    public func require(_ permission: Permission) throws {
        guard holds(permission) else { throw GatewayError.forbidden("This needs the permission \(permission).") }
    }

    /// How the audit log names the caller: `tenant/subject`.
    public var actor: String { principal.auditName }
}
