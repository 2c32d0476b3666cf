import Foundation
import GatewayCore
import Hummingbird

/// OAuth clients (SPEC 5.1): `POST /v1/clients`, `GET /v1/clients`, `GET /v1/clients/{id}`, `DELETE /v1/clients/{id}`,
/// authorized by ``DirectoryService`` (`clients.manage`, the same policy as API keys).
struct ClientController<Context: RequestContext> {
    let scopes: ScopeResolver
    let directory: DirectoryService

    struct ClientBody: Decodable {
        var name: String
        var type: String
        var workspace_id: String
        var redirect_uris: [String]?
        var post_logout_redirect_uris: [String]?
        var grant_types: [String]
    }

    struct ClientView: Encodable {
        var clientId: String
        var name: String
        var type: String
        var tenantId: String
        var workspaceId: String
        var redirectUris: [String]
        var postLogoutRedirectUris: [String]
        var grantTypes: [String]
        var createdAt: Date
        /// Only in the answer to the creation of a confidential client: shown once.
        var clientSecret: String?

        init(_ record: OAuthClientRecord, secret: String? = nil) {
            clientId = record.clientID
            name = record.name
            type = record.type.rawValue
            tenantId = record.tenantID
            workspaceId = record.workspaceID
            redirectUris = record.redirectURIs
            postLogoutRedirectUris = record.postLogoutRedirectURIs
            grantTypes = record.grantTypes
            createdAt = record.createdAt
            clientSecret = secret
        }
    }

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/clients") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            let body = try await request.decodeJSON(ClientBody.self, context: context)
            let (record, secret) = try await directory.createClient(
                scope,
                .init(
                    name: body.name, type: body.type, workspaceID: body.workspace_id,
                    redirectURIs: body.redirect_uris ?? [],
                    postLogoutRedirectURIs: body.post_logout_redirect_uris ?? [], grantTypes: body.grant_types
                ))
            return try JSONResponse.make(
                ClientView(record, secret: secret), status: .created, headers: [.cacheControl: "no-store"])
        }
        router.get("/v1/clients") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(["clients": try await directory.clients(scope).map { ClientView($0) }])
        }
        router.get("/v1/clients/:client_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            return try JSONResponse.make(
                ClientView(try await directory.client(scope, clientID: try context.parameters.require("client_id"))))
        }
        router.delete("/v1/clients/:client_id") { request, context -> Response in
            let scope = try await scopes.scope(of: request, context: context)
            try await directory.deleteClient(scope, clientID: try context.parameters.require("client_id"))
            return JSONResponse.noContent()
        }
    }
}
