import CryptoExtras
import Foundation
import GatewayCore
import GatewayHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWebSocket
import IAMEnforcement
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Synchronization
import Testing

/// A WebSocket echo upstream that records the handshake headers it received.
final class EchoWebSocketUpstream: Sendable {
    private let handshakes = Mutex<[HTTPFields]>([])
    private let portBox = Mutex(0)
    var port: Int { portBox.withLock { $0 } }
    var lastHandshake: HTTPFields? { handshakes.withLock { $0.last } }
    var handshakeCount: Int { handshakes.withLock { $0.count } }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let (running, listening) = AsyncStream.makeStream(of: Int.self)
        let router = Router()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade { head, _, _ in
                self.handshakes.withLock { $0.append(head.headerFields) }
                return .upgrade([:]) { inbound, outbound, _ in
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        switch message {
                        case .text(let text): try await outbound.write(.text("echo: " + text))
                        case .binary(let buffer): try await outbound.write(.binary(buffer))
                        }
                    }
                }
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                self.portBox.withLock { $0 = channel.localAddress?.port ?? 0 }
                listening.yield(channel.localAddress?.port ?? 0)
            },
            logger: Logger(label: "ws-upstream")
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "ws-upstream")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for await _ in running { break }
            do {
                let result = try await body()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}

@Suite struct WebSocketProxyTests {
    /// SPEC 7: the upstream handshake completes before the client gets 101; an upstream that cannot be reached is a
    /// 502 problem on the upgrade itself (it used to be a 101 followed by a 1011 close).
    @Test func anUnreachableUpstreamIsA502BeforeAny101() async throws {
        let gateway = try await TestGateway.make { configuration in
            configuration.routes = [
                .init(name: "ws", prefix: "/api/ws", upstream: "http://127.0.0.1:1", audience: "chat")
            ]
        }
        try await gateway.test(.live) { _, client in
            let port = try #require(client.port)
            let token = try await client.token()
            let request =
                "GET /api/ws/room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let (text, closed) = try await ProxyTests.rawExchange(port: port, bytes: request)
            #expect(text.hasPrefix("HTTP/1.1 502 "), "\(text.prefix(60))")
            #expect(text.contains(#""code":"upstream_unavailable""#))
            #expect(
                !text.contains("HTTP/1.1 101"), "no switching-protocols status line (a request id may well contain 101)"
            )
            #expect(closed)
        }
    }

    /// SPEC 7's WebSocket rules, each refused on the wire with the problem and status it names, never upstream:
    /// only GET upgrades, at most one `Origin`, a cookie-authenticated upgrade only from `http.allowed_origins`.
    @Test func upgradeHygieneRules() async throws {
        let upstream = EchoWebSocketUpstream()
        try await upstream.run {
            let gateway = try await TestGateway.make { configuration in
                configuration.routes = [
                    .init(
                        name: "ws", prefix: "/api/ws", upstream: "http://127.0.0.1:\(upstream.port)", audience: "chat")
                ]
                configuration.http.allowedOrigins = ["https://app.example"]
            }
            try await gateway.test(.live) { _, client in
                let port = try #require(client.port)
                let login = try await client.login(cookie: true)
                let token = try #require(login.string("access_token"))
                let cookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
                func upgrade(method: String = "GET", _ extra: String) -> String {
                    "\(method) /api/ws/room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra
                        + "\r\n"
                }
                for (name, request, status) in [
                    (
                        "POST upgrade",
                        upgrade(method: "POST", "Authorization: Bearer \(token)\r\nContent-Length: 0\r\n"), "400"
                    ),
                    (
                        "two Origins",
                        upgrade(
                            "Authorization: Bearer \(token)\r\nOrigin: https://app.example\r\nOrigin: https://evil.example\r\n"
                        ), "400"
                    ),
                    ("cookie, no Origin", upgrade("Cookie: \(cookie)\r\n"), "403"),
                    ("cookie, foreign Origin", upgrade("Cookie: \(cookie)\r\nOrigin: https://evil.example\r\n"), "403"),
                ] {
                    let (text, _) = try await ProxyTests.rawExchange(port: port, bytes: request)
                    #expect(text.hasPrefix("HTTP/1.1 \(status) "), "\(name): \(text.prefix(60))")
                    #expect(text.lowercased().contains("application/problem+json"), "\(name)")
                }
                #expect(upstream.handshakeCount == 0, "no refused upgrade reached the upstream")
                // The listed origin with the cookie is let through (swift-websocket's client always sends its own
                // Origin, so the handshake is written by hand).
                let allowed = try await ProxyTests.rawExchange(
                    port: port, bytes: upgrade("Cookie: \(cookie)\r\nOrigin: https://app.example\r\n"))
                #expect(allowed.text.hasPrefix("HTTP/1.1 101"), "\(allowed.text.prefix(300))")
                #expect(upstream.handshakeCount == 1)
            }
        }
    }

    /// SPEC 4.1 / 7: a tunnel is closed (1008) within a second when its session is revoked by a password reset, and
    /// when the API key behind it is deleted.
    @Test(arguments: ["password reset", "key deleted"])
    func revokingThePrincipalClosesItsOpenTunnel(_ how: String) async throws {
        let upstream = EchoWebSocketUpstream()
        try await upstream.run {
            let gateway = try await TestGateway.make { configuration in
                configuration.routes = [
                    .init(
                        name: "ws", prefix: "/api/ws", upstream: "http://127.0.0.1:\(upstream.port)", audience: "chat")
                ]
            }
            try await gateway.test(.live) { _, client in
                let port = try #require(client.port)
                let admin = try await client.token()
                let credential: HTTPFields
                if how == "key deleted" {
                    let key = try await client.send(
                        .post, "/v1/api-keys", json: ["name": "ws", "workspace_id": "default"], bearer: admin)
                    let keyID = try #require(key.string("key_id"))
                    _ = try await client.send(
                        .post, "/v1/assignments",
                        json: ["user_id": keyID, "role_id": "viewer", "workspace_id": "default"], bearer: admin)
                    credential = [HTTPField.Name("X-API-Key")!: try #require(key.string("api_key"))]
                } else {
                    _ = try await gateway.addUser(
                        tenantID: "platform", username: "chatter", password: "chatter-password", roles: ["viewer"])
                    credential = [
                        .authorization:
                            "Bearer \(try await client.token(username: "chatter", password: "chatter-password"))"
                    ]
                }
                let revoke: @Sendable () async throws -> Void = {
                    let revoker = client
                    if how == "key deleted" {
                        let keys = try await revoker.send(.get, "/v1/api-keys", bearer: admin)
                        let id = try #require((keys["api_keys"] as? [[String: Any]])?.first?["key_id"] as? String)
                        #expect(
                            try await revoker.send(.delete, "/v1/api-keys/\(id)", bearer: admin).status == .noContent)
                    } else {
                        let users = try await revoker.send(.get, "/v1/users", bearer: admin)
                        let id = try #require(
                            (users["users"] as? [[String: Any]])?.first { $0["username"] as? String == "chatter" }?[
                                "user_id"] as? String)
                        #expect(
                            try await revoker.send(
                                .put, "/v1/users/\(id)/password", json: ["password": "chatter-password-2"],
                                bearer: admin
                            ).status == .noContent)
                    }
                }
                let revokedAt = Mutex<ContinuousClock.Instant?>(nil)
                let closedAt = Mutex<ContinuousClock.Instant?>(nil)
                let frame = try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/api/ws/room", configuration: .init(additionalHeaders: credential),
                    logger: Logger(label: "ws-client")
                ) { inbound, outbound, _ in
                    try await outbound.write(.text("before"))
                    var iterator = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
                    #expect(try await iterator.next() != nil, "the tunnel works before the revocation")
                    try await revoke()
                    revokedAt.withLock { $0 = .now }
                    while try await iterator.next() != nil {}
                    closedAt.withLock { $0 = .now }
                }
                #expect(frame?.closeCode == .policyViolation)
                let elapsed = try #require(closedAt.withLock { $0 }) - (try #require(revokedAt.withLock { $0 }))
                #expect(elapsed < .seconds(1), "closed \(elapsed) after the revocation")
            }
        }
    }

    @Test func upgradesAreAuthenticatedAndTunnelledWithTheDownstreamToken() async throws {
        let upstream = EchoWebSocketUpstream()
        try await upstream.run {
            let gateway = try await TestGateway.make { configuration in
                configuration.routes = [
                    .init(
                        name: "ws", prefix: "/api/ws", upstream: "http://127.0.0.1:\(upstream.port)", audience: "chat")
                ]
                // Short, so the idle pause below outlasts it: an upgraded connection is not subject to the HTTP
                // deadlines.
                configuration.http.idleTimeout = 1
            }
            try await gateway.test(.live) { _, client in
                let port = try #require(client.port)
                let token = try await client.token()
                // Asked now: the test client's keep-alive connection is closed as idle during the pause below.
                let subject = try await client.send(.get, "/v1/me", bearer: token).string("sub")
                let replies = Mutex<[String]>([])
                let witnessClosed = Mutex(false)
                try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/api/ws/room?name=a",
                    configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)", .cookie: "theme=dark"]),
                    logger: Logger(label: "ws-client")
                ) { inbound, outbound, _ in
                    var iterator = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
                    try await outbound.write(.text("hello"))
                    if case .text(let text) = try await iterator.next() { replies.withLock { $0.append(text) } }
                    // The idle pause: an HTTP connection answered after this one's last frame is closed as idle, so
                    // this one has been idle for longer than the idle timeout.
                    let (_, closed) = try await ProxyTests.rawExchange(
                        port: port, bytes: "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    witnessClosed.withLock { $0 = closed }
                    try await outbound.write(.text("again"))
                    if case .text(let text) = try await iterator.next() { replies.withLock { $0.append(text) } }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                #expect(witnessClosed.withLock { $0 }, "the HTTP connection was closed as idle")
                #expect(replies.withLock { $0 } == ["echo: hello", "echo: again"])
                let handshake = try #require(upstream.lastHandshake)
                let forwarded = try #require(handshake[.authorization])
                #expect(forwarded != "Bearer \(token)", "the client's token is replaced")
                let downstream = String(forwarded.dropFirst("Bearer ".count))
                let keys = gateway.keyRing.snapshot.publicKeys
                let claims = try TokenVerifierForTests.verify(
                    downstream, issuer: gateway.configuration.issuer, audience: "chat", keys: keys)
                #expect(claims.sub == subject)
                #expect(handshake[HTTPField.Name("X-Tenant-Id")!] == "platform")
                #expect(handshake[.cookie] == "theme=dark")

                // Without credentials the upgrade is refused (the HTTP path answers 401).
                await #expect(throws: (any Error).self) {
                    try await WebSocketClient.connect(
                        url: "ws://127.0.0.1:\(port)/api/ws/room", logger: Logger(label: "ws-client")
                    ) { _, outbound, _ in
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                // A forged token is refused the same way.
                await #expect(throws: (any Error).self) {
                    try await WebSocketClient.connect(
                        url: "ws://127.0.0.1:\(port)/api/ws/room",
                        configuration: .init(additionalHeaders: [.authorization: "Bearer forged.token.value"]),
                        logger: Logger(label: "ws-client")
                    ) { _, outbound, _ in
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                // On the wire, each refusal is the problem the HTTP path would give, and the connection closes.
                func upgrade(_ path: String, _ authorization: String?) -> String {
                    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        + "Sec-WebSocket-Version: 13\r\nX-Request-Id: ws-refused-1\r\n"
                        + (authorization.map { "Authorization: \($0)\r\n" } ?? "") + "\r\n"
                }
                for (request, status, code) in [
                    (upgrade("/api/ws/room", nil), "401", "invalid_token"),
                    (upgrade("/api/ws/room", "Bearer forged.token.value"), "401", "invalid_token"),
                    (upgrade("/api/nothing", "Bearer \(token)"), "404", "not_found"),
                    (upgrade("/api/ws/%2e%2e/x", "Bearer \(token)"), "400", "invalid_request"),
                ] {
                    let (text, closed) = try await ProxyTests.rawExchange(port: port, bytes: request)
                    #expect(text.hasPrefix("HTTP/1.1 \(status) "), "\(request.prefix(30)): \(text.prefix(40))")
                    #expect(text.contains(#""code":"\#(code)""#))
                    #expect(text.lowercased().contains("\r\ncontent-type: application/problem+json\r\n"))
                    #expect(text.lowercased().contains("\r\nx-request-id: ws-refused-1\r\n"))
                    #expect(closed)
                }
                #expect(upstream.handshakeCount == 1, "refused upgrades never reach the upstream")
            }
        }
    }
}

enum TokenVerifierForTests {
    static func verify(_ token: String, issuer: String, audience: String, keys: [String: _RSA.Signing.PublicKey]) throws
        -> AccessTokenClaims
    {
        try TokenVerifier(issuer: issuer, audience: audience, leeway: 30).verify(token, now: Date(), key: { keys[$0] })
    }
}
