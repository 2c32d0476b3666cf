import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird

/// Who is calling and in which tenant/workspace they act (SPEC 5): the token's scope, or for a platform admin the
/// one `X-Tenant-Id` / `X-Workspace-Id` select (audited as cross-tenant). Anyone else naming another scope gets 403.
public struct CallerScope: Sendable {
    public var principal: Principal
    /// The principal's own access in its own workspace.
    public var access: ResolvedAccess
    public var tenantID: String
    public var workspaceID: String
    public var requestID: String?

    public var isCrossTenant: Bool { tenantID != principal.tenantID }

    /// True when the caller holds `permission` in this scope. A platform admin holds every permission everywhere;
    /// platform-only permissions are held by no one else.
    public func holds(_ permission: String) -> Bool {
        if access.isPlatformAdmin { return true }
        if PermissionCatalog.platformOnly.contains(permission), principal.tenantID != Tenant.platformID { return false }
        return access.permissions.contains(permission)
    }

    /// 403 unless the caller holds `permission`.
    public func require(_ permission: String) throws {
        guard holds(permission) else { throw GatewayError.forbidden("This needs the permission \(permission).") }
    }
}

/// Builds ``CallerScope`` for API requests and writes cross-tenant audit events.
public struct ScopeResolver: Sendable {
    let authenticator: RequestAuthenticator
    let resolver: AccessResolver
    let store: any GatewayStore
    let audit: AuditLog

    public init(authenticator: RequestAuthenticator, resolver: AccessResolver, store: any GatewayStore, audit: AuditLog) {
        self.authenticator = authenticator
        self.resolver = resolver
        self.store = store
        self.audit = audit
    }

    /// Authenticates the request and resolves its scope; 401 without valid credentials, 403 for a scope header
    /// that differs from the token's when the caller is not a platform admin, 404 for an unknown tenant/workspace.
    public func scope(of request: Request, context: some RequestContext) async throws -> CallerScope {
        let principal = try await authenticator.authenticate(request)
        let access = try await resolver.resolve(tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
        let requestID = request.headers[.xRequestID]
        let headerTenant = request.headers[.xTenantID]?.trimmingCharacters(in: .whitespaces)
        let headerWorkspace = request.headers[.xWorkspaceID]?.trimmingCharacters(in: .whitespaces)
        let tenantID = headerTenant ?? principal.tenantID
        let workspaceID = headerWorkspace ?? (tenantID == principal.tenantID ? principal.workspaceID : Tenant.defaultWorkspaceID)
        guard Identifier.isValid(tenantID), Identifier.isValid(workspaceID) else {
            throw GatewayError.invalidRequest("X-Tenant-Id and X-Workspace-Id must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
        }
        let scope = CallerScope(principal: principal, access: access, tenantID: tenantID, workspaceID: workspaceID, requestID: requestID)
        if tenantID != principal.tenantID || workspaceID != principal.workspaceID {
            guard access.isPlatformAdmin else {
                throw GatewayError.forbidden("X-Tenant-Id / X-Workspace-Id may differ from the token's scope only for a platform admin.")
            }
            guard try await store.workspace(tenantID: tenantID, workspaceID: workspaceID) != nil else {
                throw GatewayError.notFound("The tenant or workspace does not exist.")
            }
            if scope.isCrossTenant {
                await audit.record(actor: principal.auditName, tenantID: tenantID, workspaceID: workspaceID, action: "cross_tenant", target: "\(request.method.rawValue) \(request.uri.path)", requestID: requestID)
            }
        }
        return scope
    }
}
