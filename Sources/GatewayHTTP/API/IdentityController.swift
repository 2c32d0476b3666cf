import Foundation
import GatewayCore
import Hummingbird

/// Tenants, workspaces, users and API keys (SPEC section 5): decodes the request, calls ``DirectoryService`` (which
/// authorizes and writes), encodes the answer.
struct IdentityController<Context: RequestContext> {
    let scopes: ScopeResolver
    let directory: DirectoryService

    struct AdminBody: Decodable {
        var username: String
        var password: String
    }
    struct TenantBody: Decodable {
        var tenant_id: String
        var name: String
        var admin: AdminBody?
    }
    struct WorkspaceBody: Decodable {
        var workspace_id: String
        var name: String
    }
    struct UserBody: Decodable {
        var username: String
        var password: String
        var user_id: String?
    }
    struct PasswordBody: Decodable { var password: String }
    struct APIKeyBody: Decodable {
        var name: String
        var workspace_id: String
        var expires_in: Int?
        var service: String?
    }

    struct TenantView: Encodable {
        var tenantId: String
        var name: String
        var createdAt: Date
        var admin: UserView?
    }
    struct WorkspaceView: Encodable {
        var tenantId: String
        var workspaceId: String
        var name: String
        var createdAt: Date
    }
    struct UserView: Encodable {
        var userId: String
        var username: String
        var tenantId: String
        var createdAt: Date
    }
    struct APIKeyView: Encodable {
        var keyId: String
        var name: String
        var tenantId: String
        var workspaceId: String
        var createdAt: Date
        var expiresAt: Date?
        var service: String?
    }
    struct CreatedAPIKey: Encodable {
        var keyId: String
        var apiKey: String
        var name: String
        var tenantId: String
        var workspaceId: String
        var expiresAt: Date?
        var service: String?
    }

    static func view(_ user: UserRecord) -> UserView {
        UserView(userId: user.userID, username: user.username, tenantId: user.tenantID, createdAt: user.createdAt)
    }

    static func view(_ workspace: Workspace) -> WorkspaceView {
        WorkspaceView(
            tenantId: workspace.tenantID, workspaceId: workspace.workspaceID, name: workspace.name,
            createdAt: workspace.createdAt)
    }

    func addRoutes(to router: Router<Context>) {
        // Tenants (platform admin).
        router.post("/v1/tenants") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require(.tenantsManage)
            let body = try await request.decodeJSON(TenantBody.self, context: context)
            let (tenant, admin) = try await directory.createTenant(
                scope, tenantID: body.tenant_id, name: body.name,
                admin: body.admin.map { .init(username: $0.username, password: $0.password) }
            )
            return try JSONResponse.make(
                TenantView(
                    tenantId: tenant.tenantID, name: tenant.name, createdAt: tenant.createdAt,
                    admin: admin.map(Self.view)), status: .created)
        }
        router.get("/v1/tenants") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let tenants = try await directory.tenants(scope).map {
                TenantView(tenantId: $0.tenantID, name: $0.name, createdAt: $0.createdAt, admin: nil)
            }
            return try JSONResponse.make(["tenants": tenants])
        }

        // Workspaces.
        router.post("/v1/workspaces") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let body = try await request.decodeJSON(WorkspaceBody.self, context: context)
            return try JSONResponse.make(
                Self.view(try await directory.createWorkspace(scope, workspaceID: body.workspace_id, name: body.name)),
                status: .created)
        }
        router.get("/v1/workspaces") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(["workspaces": try await directory.workspaces(scope).map(Self.view)])
        }

        // Users.
        router.post("/v1/users") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let body = try await request.decodeJSON(UserBody.self, context: context)
            let user = try await directory.createUser(
                scope, username: body.username, password: body.password, userID: body.user_id)
            return try JSONResponse.make(Self.view(user), status: .created)
        }
        router.get("/v1/users") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(["users": try await directory.users(scope).map(Self.view)])
        }
        router.delete("/v1/users/:user_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try await directory.deleteUser(scope, userID: try context.parameters.require("user_id"))
            return JSONResponse.noContent()
        }
        router.put("/v1/users/:user_id/password") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let userID = try context.parameters.require("user_id")
            let body = try await request.decodeJSON(PasswordBody.self, context: context)
            try await directory.resetPassword(scope, userID: userID, password: body.password)
            return JSONResponse.noContent()
        }
        router.post("/v1/users/:user_id/sessions/revoke") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let count = try await directory.revokeSessions(scope, userID: try context.parameters.require("user_id"))
            return try JSONResponse.make(["revoked_sessions": count])
        }

        // API keys.
        router.post("/v1/api-keys") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let body = try await request.decodeJSON(APIKeyBody.self, context: context)
            let (record, secret) = try await directory.createAPIKey(
                scope,
                .init(
                    name: body.name, workspaceID: body.workspace_id, expiresIn: body.expires_in, service: body.service))
            return try JSONResponse.make(
                CreatedAPIKey(
                    keyId: record.keyID, apiKey: secret, name: record.name, tenantId: record.tenantID,
                    workspaceId: record.workspaceID, expiresAt: record.expiresAt, service: record.service),
                status: .created
            )
        }
        router.get("/v1/api-keys") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let keys = try await directory.apiKeys(scope).map {
                APIKeyView(
                    keyId: $0.keyID, name: $0.name, tenantId: $0.tenantID, workspaceId: $0.workspaceID,
                    createdAt: $0.createdAt, expiresAt: $0.expiresAt, service: $0.service)
            }
            return try JSONResponse.make(["api_keys": keys])
        }
        router.delete("/v1/api-keys/:key_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try await directory.deleteAPIKey(scope, keyID: try context.parameters.require("key_id"))
            return JSONResponse.noContent()
        }
    }
}
