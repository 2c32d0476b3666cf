import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A gateway on real parts in a temp directory: SQLite file, file key store, real RSA keys, a manual clock.
struct TestGateway {
    static let adminPassword = "admin-password-1"

    let directory: String
    let configuration: GatewayConfiguration
    let store: SQLiteStore
    let keyRing: KeyRingManager
    let clock: ManualClock

    static func make(
        directory existing: String? = nil, clock: ManualClock = ManualClock(Date()),
        configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> TestGateway {
        let directory =
            existing
            ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("iam-gateway-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var configuration = GatewayConfiguration()
        configuration.keys.directory = directory + "/Keys"
        configuration.storage.url = "sqlite://\(directory)/gateway.sqlite"
        configuration.http.port = 0
        configuration.passwords.scryptLogN = 10
        // Access lines are tested where they are looked at (ObservabilityTests), not printed by every test.
        configuration.log.access = false
        configuration.routes = [
            .init(
                name: "integrations", prefix: "/api/integrations", upstream: "http://127.0.0.1:9",
                audience: "integrations"),
            .init(
                name: "connections", prefix: "/api/connections", upstream: "http://127.0.0.1:9", audience: "connections"
            ),
        ]
        configure(&configuration)
        let logger = Logger(label: "test")
        let store = try await SQLiteStore.open(path: directory + "/gateway.sqlite", logger: logger)
        let keyRing = try await KeyRingManager.open(
            store: FileKeyStore(directory: configuration.keys.directory), configuration: configuration, clock: clock,
            logger: logger)
        _ = try await Bootstrapper(store: store, hasher: configuration.passwords.hasher, clock: clock).run(
            username: "admin", password: adminPassword)
        return TestGateway(
            directory: directory, configuration: configuration, store: store, keyRing: keyRing, clock: clock)
    }

    func application() async throws -> some ApplicationProtocol {
        try await buildApplication(
            configuration: configuration, store: store, keyRing: keyRing, clock: clock, logger: Logger(label: "test"))
    }

    /// The application and the gateway behind it.
    func wiredApplication(
        accessLog: Logger? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws -> (some ApplicationProtocol, Gateway) {
        let logger = Logger(label: "test")
        let gateway = try await Gateway(
            configuration: configuration, store: store, keyRing: keyRing, clock: clock, logger: logger,
            accessLog: accessLog)
        return (buildApplication(gateway: gateway, logger: logger, onServerRunning: onServerRunning), gateway)
    }

    /// Runs `body` against this gateway's application under `setup` (the router, or live HTTP on loopback) with
    /// the wired parts, then removes the gateway's files, also when `body` fails.
    func test(
        _ setup: TestingSetup, accessLog: Logger? = nil,
        _ body: @Sendable (Gateway, any TestClientProtocol) async throws -> Void
    ) async throws {
        do {
            let (application, wired) = try await wiredApplication(accessLog: accessLog)
            try await application.test(setup) { client in try await body(wired, client) }
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    func cleanUp() async {
        try? await store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Adds a user with a role in a workspace directly in the store (assignments have their own API tests).
    func addUser(tenantID: String, username: String, password: String, roles: [String], workspaceID: String = "default")
        async throws -> String
    {
        let userID = SecretToken.identifier(prefix: "u-")
        let hash = try configuration.passwords.hasher.hash(password)
        try await store.createUser(
            UserRecord(
                tenantID: tenantID, userID: userID, username: username, passwordHash: hash, createdAt: clock.now()))
        for role in roles {
            try await store.createAssignment(
                Assignment(
                    assignmentID: SecretToken.identifier(prefix: "as-"), tenantID: tenantID, workspaceID: workspaceID,
                    principalID: userID, roleID: role, createdAt: clock.now()))
        }
        return userID
    }
}

/// A response with its body parsed as a JSON object (empty when the body is not one).
struct JSONReply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var json: [String: Any]
    var text: String

    subscript(key: String) -> Any? { json[key] }
    func string(_ key: String) -> String? { json[key] as? String }
}

extension TestClientProtocol {
    /// Sends a request with an optional JSON body and returns the parsed reply.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json: [String: Any]? = nil, raw: String? = nil,
        headers: HTTPFields = [:], bearer: String? = nil
    ) async throws -> JSONReply {
        var headers = headers
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        } else if let raw {
            body = ByteBuffer(string: raw)
            headers[.contentType] = headers[.contentType] ?? "application/json"
        }
        let response = try await execute(uri: uri, method: method, headers: headers, body: body)
        // Every answer of the gateway's own API must be what the OpenAPI document says (issue 17).
        for problem in OpenAPIConformance.problems(
            method: method, uri: uri, status: response.status, headers: response.headers,
            body: Data(response.body.readableBytesView))
        {
            Issue.record(Comment(rawValue: "OpenAPI: \(problem)"))
        }
        let text = String(buffer: response.body)
        let parsed = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return JSONReply(status: response.status, headers: response.headers, json: parsed, text: text)
    }

    /// Logs in and returns the reply (access_token, refresh_token...).
    func login(
        tenant: String = "platform", workspace: String = "default", username: String = "admin",
        password: String = TestGateway.adminPassword, cookie: Bool = false
    ) async throws -> JSONReply {
        var body: [String: Any] = [
            "tenant_id": tenant, "workspace_id": workspace, "username": username, "password": password,
        ]
        if cookie { body["session_cookie"] = true }
        return try await send(.post, "/v1/auth/login", json: body)
    }

    /// The access token of a successful login.
    func token(
        tenant: String = "platform", workspace: String = "default", username: String = "admin",
        password: String = TestGateway.adminPassword
    ) async throws -> String {
        let reply = try await login(tenant: tenant, workspace: workspace, username: username, password: password)
        guard reply.status == .ok, let token = reply.string("access_token") else {
            throw TestFailure("login of \(username) failed: \(reply.status) \(reply.text)")
        }
        return token
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
