import ArgumentParser
import Foundation
import Hummingbird
import IAMEnforcement
import IAMEnforcementHummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A small downstream service built on IAMEnforcement alone (SPEC sections 2 and 8), for the quick start and for
/// end-to-end tests.
struct DemoService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-service",
        abstract: "Run a demo downstream service that verifies gateway tokens locally."
    )

    @Option(help: "Port to listen on.")
    var port: Int

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "This service's audience; tokens for other audiences are refused.")
    var audience: String

    @Option(help: "The gateway's base URL; the JWKS is read from {gateway}/.well-known/jwks.json.")
    var gateway: String

    @Option(help: "The expected token issuer (default: the gateway URL).")
    var issuer: String?

    @Option(
        name: .customLong("api-key"),
        help:
            "An API key with permissions.register and policy.read: enables permission registration and policy-version polling."
    )
    var apiKey: String?

    @Option(help: "Seconds of clock skew allowed on exp and nbf.")
    var leeway: Int64 = 30

    func run() async throws {
        let logger = makeLogger("demo-service")
        let gatewayURL = gateway.hasSuffix("/") ? String(gateway.dropLast()) : gateway
        let app = buildDemoApplication(gatewayURL: gatewayURL, logger: logger)
        logger.info(
            "demo service starting",
            metadata: [
                "address": "\(host):\(port)", "audience": "\(audience)", "gateway": "\(gatewayURL)",
                "polling": "\(apiKey != nil)",
            ])
        do {
            try await app.runService()
        } catch {
            printError("demo-service: \(error)")
            throw ExitCode(1)
        }
    }

    func buildDemoApplication(gatewayURL: String, logger: Logger) -> some ApplicationProtocol {
        let jwks = JWKSCache(configuration: .init(url: gatewayURL + "/.well-known/jwks.json"), logger: logger)
        let policyVersions = PolicyVersionCache()
        let authenticator = GatewayTokenAuthenticator(
            issuer: issuer ?? gatewayURL, audience: audience, leeway: leeway, keys: jwks, policyVersions: policyVersions
        )

        var services: [any Service] = []
        if let apiKey {
            services.append(
                PolicyVersionPoller(
                    configuration: .init(gatewayURL: gatewayURL, apiKey: apiKey), cache: policyVersions, logger: logger)
            )
            services.append(
                PermissionRegistrar(
                    configuration: .init(
                        gatewayURL: gatewayURL, apiKey: apiKey, service: audience,
                        permissions: ["connections.read", "connections.create"],
                        labels: ["connections.read": "Read connections", "connections.create": "Create connections"]
                    ),
                    logger: logger
                ))
        }

        let connections = DemoConnections()
        let router = Router(context: BasicIAMRequestContext.self)
        router.group("whoami")
            .add(middleware: authenticator.requireAuthentication())
            .get { _, context -> DemoClaims in
                guard let claims = context.iamClaims else { throw HTTPError(.unauthorized) }
                return DemoClaims(claims: claims)
            }
        router.group("connections")
            .add(middleware: authenticator.requirePermission("connections.read"))
            .get { _, context -> DemoConnectionList in
                guard let claims = context.iamClaims else { throw HTTPError(.unauthorized) }
                return DemoConnectionList(
                    connections: connections.all(tenantID: claims.tenantID, workspaceID: claims.workspaceID))
            }
        router.group("connections")
            .add(middleware: authenticator.requirePermission("connections.create"))
            .post { request, context -> EditedResponse<DemoConnection> in
                let input = try await request.decode(as: DemoNewConnection.self, context: context)
                let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !name.isEmpty, name.count <= 200 else {
                    throw HTTPError(.badRequest, message: "name must be 1 to 200 characters")
                }
                guard let claims = context.iamClaims else { throw HTTPError(.unauthorized) }
                let connection = connections.add(name: name, claims: claims)
                return EditedResponse(status: .created, response: connection)
            }

        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "iam-demo-service"),
            services: services,
            logger: logger
        )
    }
}

/// The verified claims, answered as the token carried them.
struct DemoClaims: ResponseEncodable {
    var claims: AccessTokenClaims

    func encode(to encoder: any Encoder) throws {
        try claims.encode(to: encoder)
    }
}

struct DemoNewConnection: Decodable {
    var name: String
}

struct DemoConnection: ResponseCodable {
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

struct DemoConnectionList: ResponseEncodable {
    var connections: [DemoConnection]
}

/// The demo's connections, in memory; each workspace sees its own.
final class DemoConnections: Sendable {
    private let connections = Mutex<[DemoConnection]>([])

    func all(tenantID: String, workspaceID: String) -> [DemoConnection] {
        connections.withLock { $0.filter { $0.tenantID == tenantID && $0.workspaceID == workspaceID } }
    }

    func add(name: String, claims: AccessTokenClaims) -> DemoConnection {
        let connection = DemoConnection(
            id: "conn_" + UUID().uuidString.lowercased(), name: name,
            tenantID: claims.tenantID, workspaceID: claims.workspaceID, createdBy: claims.sub
        )
        connections.withLock { $0.append(connection) }
        return connection
    }
}
