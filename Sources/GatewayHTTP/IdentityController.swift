import Foundation
import GatewayCore
import Hummingbird
import NIOPosix

/// Tenants, workspaces, users and API keys (SPEC section 5). Every call acts in the caller's scope.
struct IdentityController<Context: RequestContext> {
    let scopes: ScopeResolver
    let store: any GatewayStore
    let hasher: PasswordHasher
    let revocations: RevocationList
    let resolver: AccessResolver
    let audit: AuditLog
    let clock: any GatewayClock

    struct TenantBody: Decodable { var tenant_id: String; var name: String }
    struct WorkspaceBody: Decodable { var workspace_id: String; var name: String }
    struct UserBody: Decodable { var username: String; var password: String; var user_id: String? }
    struct PasswordBody: Decodable { var password: String }
    struct APIKeyBody: Decodable { var name: String; var workspace_id: String; var expires_in: Int? }

    struct TenantView: Encodable { var tenantId: String; var name: String; var createdAt: Date }
    struct WorkspaceView: Encodable { var tenantId: String; var workspaceId: String; var name: String; var createdAt: Date }
    struct UserView: Encodable { var userId: String; var username: String; var tenantId: String; var createdAt: Date }
    struct APIKeyView: Encodable {
        var keyId: String; var name: String; var tenantId: String; var workspaceId: String; var createdAt: Date; var expiresAt: Date?
    }
    struct CreatedAPIKey: Encodable {
        var keyId: String; var apiKey: String; var name: String; var tenantId: String; var workspaceId: String; var expiresAt: Date?
    }

    func record(_ scope: CallerScope, _ action: String, _ target: String) async {
        await audit.record(actor: scope.principal.auditName, tenantID: scope.tenantID, workspaceID: scope.workspaceID, action: action, target: target, requestID: scope.requestID)
    }

    static func validName(_ name: String, field: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200, !trimmed.contains(where: { $0.isNewline || $0.asciiValue.map { $0 < 0x20 } == true }) else {
            throw GatewayError.invalidRequest("\(field) must be 1 to 200 printable characters.")
        }
        return trimmed
    }

    static func validID(_ id: String, field: String) throws -> String {
        guard Identifier.isValid(id) else { throw GatewayError.invalidRequest("\(field) must match ^[a-z0-9][a-z0-9_-]{0,62}$.") }
        return id
    }

    /// After a principal was deleted: its sessions join the revocation list, the policy versions it bumped are
    /// followed at once, and the deletion is audited. `nil` (nothing deleted) is 404 with `missing`.
    func settle(_ scope: CallerScope, _ deleted: DeletedPrincipal?, action: String, target: String, missing: String) async throws {
        guard let deleted else { throw GatewayError.notFound(missing) }
        revocations.add(deleted.revokedSessionIDs)
        try await resolver.refreshVersions()
        await record(scope, action, target)
    }

    func hash(_ password: String) async throws -> String {
        try PasswordHasher.validate(password)
        let hasher = self.hasher
        return try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
    }

    func addRoutes(to router: Router<Context>) {
        // Tenants (platform admin).
        router.post("/v1/tenants") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("tenants.manage")
            let body = try await request.decodeJSON(TenantBody.self, context: context)
            let tenant = Tenant(tenantID: try Self.validID(body.tenant_id, field: "tenant_id"), name: try Self.validName(body.name, field: "name"), createdAt: clock.now())
            try await store.createTenant(tenant)
            await audit.record(actor: scope.principal.auditName, tenantID: tenant.tenantID, workspaceID: nil, action: "tenant.create", target: "tenant:\(tenant.tenantID)", requestID: scope.requestID)
            return try JSONResponse.make(TenantView(tenantId: tenant.tenantID, name: tenant.name, createdAt: tenant.createdAt), status: .created)
        }
        router.get("/v1/tenants") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("tenants.manage")
            let tenants = try await store.tenants().map { TenantView(tenantId: $0.tenantID, name: $0.name, createdAt: $0.createdAt) }
            return try JSONResponse.make(["tenants": tenants])
        }

        // Workspaces.
        router.post("/v1/workspaces") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("workspaces.manage")
            let body = try await request.decodeJSON(WorkspaceBody.self, context: context)
            let workspace = Workspace(tenantID: scope.tenantID, workspaceID: try Self.validID(body.workspace_id, field: "workspace_id"), name: try Self.validName(body.name, field: "name"), createdAt: clock.now())
            try await store.createWorkspace(workspace)
            await record(scope, "workspace.create", "workspace:\(workspace.workspaceID)")
            return try JSONResponse.make(WorkspaceView(tenantId: workspace.tenantID, workspaceId: workspace.workspaceID, name: workspace.name, createdAt: workspace.createdAt), status: .created)
        }
        router.get("/v1/workspaces") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let workspaces = try await store.workspaces(tenantID: scope.tenantID).map {
                WorkspaceView(tenantId: $0.tenantID, workspaceId: $0.workspaceID, name: $0.name, createdAt: $0.createdAt)
            }
            return try JSONResponse.make(["workspaces": workspaces])
        }

        // Users.
        router.post("/v1/users") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("users.manage")
            let body = try await request.decodeJSON(UserBody.self, context: context)
            let username = try Self.validName(body.username, field: "username")
            let userID = try body.user_id.map { try Self.validID($0, field: "user_id") } ?? SecretToken.identifier(prefix: "u-")
            let user = UserRecord(tenantID: scope.tenantID, userID: userID, username: username, passwordHash: try await hash(body.password), createdAt: clock.now())
            try await store.createUser(user)
            await record(scope, "user.create", "user:\(userID)")
            return try JSONResponse.make(UserView(userId: userID, username: username, tenantId: scope.tenantID, createdAt: user.createdAt), status: .created)
        }
        router.get("/v1/users") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("users.manage")
            let users = try await store.users(tenantID: scope.tenantID).map { UserView(userId: $0.userID, username: $0.username, tenantId: $0.tenantID, createdAt: $0.createdAt) }
            return try JSONResponse.make(["users": users])
        }
        router.delete("/v1/users/:user_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("users.manage")
            let userID = try Self.validID(try context.parameters.require("user_id"), field: "user_id")
            try await settle(scope, try await store.deleteUser(tenantID: scope.tenantID, userID: userID, now: clock.now()), action: "user.delete", target: "user:\(userID)", missing: "No such user in this tenant.")
            return JSONResponse.noContent()
        }
        router.put("/v1/users/:user_id/password") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let userID = try Self.validID(try context.parameters.require("user_id"), field: "user_id")
            try scope.require("users.manage")
            let body = try await request.decodeJSON(PasswordBody.self, context: context)
            let hash = try await hash(body.password)
            guard try await store.updatePassword(tenantID: scope.tenantID, userID: userID, passwordHash: hash) else {
                throw GatewayError.notFound("No such user in this tenant.")
            }
            await record(scope, "user.password", "user:\(userID)")
            return JSONResponse.noContent()
        }

        // API keys.
        router.post("/v1/api-keys") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("apikeys.manage")
            let body = try await request.decodeJSON(APIKeyBody.self, context: context)
            let name = try Self.validName(body.name, field: "name")
            let workspaceID = try Self.validID(body.workspace_id, field: "workspace_id")
            if let expiresIn = body.expires_in, !(60...(10 * 365 * 86400)).contains(expiresIn) {
                throw GatewayError.invalidRequest("expires_in must be between 60 seconds and 10 years.")
            }
            guard try await store.workspace(tenantID: scope.tenantID, workspaceID: workspaceID) != nil else {
                throw GatewayError.invalidRequest("The workspace does not exist in this tenant.")
            }
            let (record, secret) = AuthService.newAPIKey(tenantID: scope.tenantID, name: name, workspaceID: workspaceID, expiresIn: body.expires_in, now: clock.now())
            try await store.createAPIKey(record)
            await self.record(scope, "apikey.create", "apikey:\(record.keyID)")
            return try JSONResponse.make(CreatedAPIKey(keyId: record.keyID, apiKey: secret, name: name, tenantId: scope.tenantID, workspaceId: workspaceID, expiresAt: record.expiresAt), status: .created)
        }
        router.get("/v1/api-keys") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("apikeys.manage")
            let keys = try await store.apiKeys(tenantID: scope.tenantID).map {
                APIKeyView(keyId: $0.keyID, name: $0.name, tenantId: $0.tenantID, workspaceId: $0.workspaceID, createdAt: $0.createdAt, expiresAt: $0.expiresAt)
            }
            return try JSONResponse.make(["api_keys": keys])
        }
        router.delete("/v1/api-keys/:key_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try scope.require("apikeys.manage")
            let keyID = try Self.validID(try context.parameters.require("key_id"), field: "key_id")
            try await settle(scope, try await store.deleteAPIKey(tenantID: scope.tenantID, keyID: keyID, now: clock.now()), action: "apikey.delete", target: "apikey:\(keyID)", missing: "No such API key in this tenant.")
            return JSONResponse.noContent()
        }
    }
}
