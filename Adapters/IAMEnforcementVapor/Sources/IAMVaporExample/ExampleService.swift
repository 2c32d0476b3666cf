import Foundation
import IAMEnforcement
import IAMEnforcementVapor
import Synchronization
import Vapor

/// A small downstream service on Vapor, verifying gateway tokens with IAMEnforcement: the demo service of SPEC
/// section 2. `GET /whoami` (any valid token) answers the verified claims, `GET /connections` needs
/// connections.read, `POST /connections` needs connections.create.
public enum ExampleService {
    /// An authenticator reading the gateway's JWKS at `{gatewayURL}/.well-known/jwks.json`.
    public static func authenticator(gatewayURL: String, audience: String, issuer: String? = nil, leeway: Int64 = 30)
        -> GatewayTokenAuthenticator
    {
        let gatewayURL = gatewayURL.hasSuffix("/") ? String(gatewayURL.dropLast()) : gatewayURL
        let jwks = JWKSCache(configuration: .init(url: gatewayURL + "/.well-known/jwks.json"))
        return GatewayTokenAuthenticator(
            issuer: issuer ?? gatewayURL, audience: audience, leeway: leeway, keys: jwks,
            policyVersions: PolicyVersionCache()
        )
    }

    /// Registers the example's routes.
    public static func routes(_ app: Application, authenticator: GatewayTokenAuthenticator) {
        let connections = ExampleConnections()
        app.grouped(authenticator.requireAuthentication()).get("whoami") { request -> ExampleClaims in
            ExampleClaims(claims: try request.requireIAMClaims())
        }
        app.grouped(authenticator.requirePermission("connections.read")).get("connections") {
            request -> ExampleConnectionList in
            let claims = try request.requireIAMClaims()
            return ExampleConnectionList(
                connections: connections.all(tenantID: claims.tenantID, workspaceID: claims.workspaceID))
        }
        app.grouped(authenticator.requirePermission("connections.create")).post("connections") { request -> Response in
            let claims = try request.requireIAMClaims()
            let input = try request.content.decode(ExampleNewConnection.self)
            let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name.count <= 200 else {
                throw Abort(.badRequest, reason: "name must be 1 to 200 characters")
            }
            let connection = connections.add(name: name, claims: claims)
            let response = Response(status: .created)
            try response.content.encode(connection)
            return response
        }
    }
}

/// The verified claims, answered as the token carried them.
struct ExampleClaims: AsyncResponseEncodable {
    var claims: AccessTokenClaims

    func encodeResponse(for request: Request) async throws -> Response {
        let response = Response(status: .ok)
        try response.content.encode(claims, as: .json)
        return response
    }
}

struct ExampleNewConnection: Content {
    var name: String
}

struct ExampleConnection: Content {
    var id: String
    var name: String
    var tenantID: String
    var workspaceID: String
    var createdBy: String

    enum CodingKeys: String, CodingKey {
        case id, name
        case tenantID = "tenant_id"
        case workspaceID = "workspace_id"
        case createdBy = "created_by"
    }
}

struct ExampleConnectionList: Content {
    var connections: [ExampleConnection]
}

/// The example's connections, in memory; each workspace sees its own.
final class ExampleConnections: Sendable {
    private let connections = Mutex<[ExampleConnection]>([])

    func all(tenantID: String, workspaceID: String) -> [ExampleConnection] {
        connections.withLock { $0.filter { $0.tenantID == tenantID && $0.workspaceID == workspaceID } }
    }

    func add(name: String, claims: AccessTokenClaims) -> ExampleConnection {
        let connection = ExampleConnection(
            id: "conn_" + UUID().uuidString.lowercased(), name: name,
            tenantID: claims.tenantID, workspaceID: claims.workspaceID, createdBy: claims.sub
        )
        connections.withLock { $0.append(connection) }
        return connection
    }
}
