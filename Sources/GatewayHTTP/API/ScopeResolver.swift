import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird

/// Builds ``CallerScope`` for API requests and writes cross-tenant audit events.
public struct ScopeResolver: Sendable {
    let authenticator: RequestAuthenticator
    let resolver: AccessResolver
    let store: any GatewayStore
    let audit: AuditLog

    public init(authenticator: RequestAuthenticator, resolver: AccessResolver, store: any GatewayStore, audit: AuditLog)
    {
        self.authenticator = authenticator
        self.resolver = resolver
        self.store = store
        self.audit = audit
    }

    /// Authenticates the request and resolves its scope; 401 without valid credentials, 403 for a scope header
    /// that differs from the token's when the caller is not a platform admin, 404 for an unknown tenant/workspace.
    public func scope(of request: Request, context: some RequestContext) async throws -> CallerScope {
        let principal = try await authenticator.authenticate(request, context: context)
        let access = try await resolver.resolve(
            tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
        let requestID = request.headers[.xRequestID]  // validated by GatewayResponder before routing
        let headerTenant = request.headers[.xTenantID]?.trimmingCharacters(in: .whitespaces)
        let headerWorkspace = request.headers[.xWorkspaceID]?.trimmingCharacters(in: .whitespaces)
        let tenantID = headerTenant ?? principal.tenantID
        let workspaceID =
            headerWorkspace ?? (tenantID == principal.tenantID ? principal.workspaceID : Tenant.defaultWorkspaceID)
        guard Identifier.isValid(tenantID), Identifier.isValid(workspaceID) else {
            throw GatewayError.invalidRequest("X-Tenant-Id and X-Workspace-Id must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
        }
        let scope = CallerScope(
            principal: principal, access: access, tenantID: tenantID, workspaceID: workspaceID, requestID: requestID)
        if tenantID != principal.tenantID || workspaceID != principal.workspaceID {
            guard access.isPlatformAdmin else {
                throw GatewayError.forbidden(
                    "X-Tenant-Id / X-Workspace-Id may differ from the token's scope only for a platform admin.")
            }
            guard try await store.workspace(tenantID: tenantID, workspaceID: workspaceID) != nil else {
                throw GatewayError.notFound("The tenant or workspace does not exist.")
            }
            if scope.isCrossTenant {
                await audit.record(
                    actor: principal.auditName, tenantID: tenantID, workspaceID: workspaceID, action: "cross_tenant",
                    target: "\(request.method.rawValue) \(request.uri.path)", requestID: requestID)
            }
        }
        return scope
    }
}
