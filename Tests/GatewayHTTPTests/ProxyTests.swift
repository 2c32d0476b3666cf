import AsyncHTTPClient
import Crypto
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import JWTKit
import NIOCore
import NIOHTTP1
import Testing

/// The proxy over real HTTP on loopback: the gateway live on port 0 in front of a recording upstream.
@Suite struct ProxyTests {
    func withProxy(_ body: @Sendable (TestGateway, RecordingUpstream, any TestClientProtocol) async throws -> Void)
        async throws
    {
        try await withWiredProxy { gateway, _, upstream, client in try await body(gateway, upstream, client) }
    }

    /// ``withProxy(_:)`` with the wired ``Gateway`` too, for its counters.
    func withWiredProxy(
        configure: @escaping @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestGateway, Gateway, RecordingUpstream, any TestClientProtocol) async throws -> Void
    ) async throws {
        let upstream = RecordingUpstream()
        try await upstream.run {
            let base = "http://127.0.0.1:\(upstream.port)"
            let gateway = try await TestGateway.make { configuration in
                configuration.routes = [
                    .init(name: "echo", prefix: "/api/echo", upstream: base + "/echo", audience: "echo"),
                    .init(name: "echo-deep", prefix: "/api/echo/deep", upstream: base + "/deep", audience: "deep"),
                    .init(name: "keep", prefix: "/api/keep", upstream: base, audience: "echo", stripPrefix: false),
                    .init(
                        name: "guarded", prefix: "/api/guarded", upstream: base + "/echo", audience: "connections",
                        permission: "connections.create"),
                    .init(name: "files", prefix: "/api/files", upstream: base, audience: "echo"),
                    .init(name: "slow", prefix: "/api/slow", upstream: base + "/slow", audience: "echo", timeout: 1),
                    .init(name: "down", prefix: "/api/down", upstream: "http://127.0.0.1:1", audience: "echo"),
                ]
                configure(&configuration)
            }
            try await gateway.test(.live) { wired, client in try await body(gateway, wired, upstream, client) }
        }
    }

    func verify(_ authorization: String?, audience: String, client: some TestClientProtocol) async throws
        -> GatewayPayload
    {
        let token = try #require(authorization?.split(separator: " ").last.map(String.init))
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: try await client.send(.get, "/.well-known/jwks.json").text)
        let payload = try await keys.verify(token, as: GatewayPayload.self)
        #expect(payload.aud.value == [audience])
        return payload
    }

    @Test func forwardsWithADownstreamTokenAndCleanHeaders() async throws {
        try await withProxy { gateway, upstream, client in
            let login = try await client.login(cookie: true)
            let token = try #require(login.string("access_token"))
            let sessionCookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
            var headers: HTTPFields = [
                .authorization: "Bearer \(token)",
                HTTPField.Name("X-Tenant-Id")!: "evil", HTTPField.Name("X-Workspace-Id")!: "evil",
                HTTPField.Name("X-Forwarded-For")!: "6.6.6.6", HTTPField.Name("X-Forwarded-Host")!: "evil.example",
                HTTPField.Name("X-Forwarded-Proto")!: "gopher", HTTPField.Name("Forwarded")!: "for=6.6.6.6",
                HTTPField.Name("X-API-Key")!: "iamk_stolen_secret",
                .cookie: "\(sessionCookie); theme=dark",
                HTTPField.Name("traceparent")!: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                HTTPField.Name("tracestate")!: "vendor=1",
                HTTPField.Name("Keep-Alive")!: "timeout=5", .te: "trailers",
                HTTPField.Name("X-Request-Id")!: "client-req-1",
                HTTPField.Name("X-Other")!: "kept",
            ]
            headers[.accept] = "application/json"
            let reply = try await client.send(.get, "/api/echo/items/42?a=1&b=two%20words", headers: headers)
            #expect(reply.status == .created, "upstream status relayed")
            #expect(reply.headers[HTTPField.Name("X-Upstream")!] == "yes")
            #expect(reply.headers[HTTPField.Name("X-Secret-Hop")!] == nil, "hop-by-hop from upstream dropped")
            #expect(reply.headers[HTTPField.Name("X-Request-Id")!] == "client-req-1")
            let seen = try #require(upstream.last)
            #expect(seen.method == "GET")
            #expect(seen.path == "/echo/items/42", "prefix stripped, upstream base path kept")
            #expect(seen.query == "a=1&b=two%20words")
            let payload = try await verify(seen.header("Authorization"), audience: "echo", client: client)
            #expect(payload.tenant_id == "platform")
            #expect(payload.sid == nil)
            #expect(seen.all("Authorization").count == 1)
            #expect(seen.header("X-Tenant-Id") == "platform")
            #expect(seen.header("X-Workspace-Id") == "default")
            #expect(seen.all("X-Tenant-Id").count == 1 && seen.all("X-Workspace-Id").count == 1)
            #expect(seen.header("X-Forwarded-For") == "127.0.0.1")
            #expect(seen.header("X-Forwarded-Proto") == "http")
            #expect(
                seen.header("X-Forwarded-Host")?.hasPrefix("localhost") == true
                    || seen.header("X-Forwarded-Host")?.hasPrefix("127.0.0.1") == true)
            #expect(seen.header("Forwarded") == nil)
            #expect(seen.header("X-API-Key") == nil)
            #expect(seen.header("Cookie") == "theme=dark")
            #expect(seen.header("traceparent") == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            #expect(seen.header("tracestate") == "vendor=1")
            #expect(seen.header("Keep-Alive") == nil)
            #expect(seen.header("TE") == nil)
            #expect(seen.header("X-Request-Id") == "client-req-1")
            #expect(seen.header("X-Other") == "kept")
            #expect(seen.header("Accept") == "application/json")
        }
    }

    @Test func requestIDIsGeneratedWhenAbsentOrMalformed() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            _ = try await client.send(.get, "/api/echo/x", bearer: token)
            let generated = try #require(upstream.last?.header("X-Request-Id"))
            #expect(generated.count >= 32)
            _ = try await client.send(
                .get, "/api/echo/x", headers: [HTTPField.Name("X-Request-Id")!: "bad value with spaces"], bearer: token)
            #expect(upstream.last?.header("X-Request-Id") != "bad value with spaces")
        }
    }

    @Test func routesMatchWholeSegmentsLongestFirst() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            #expect(try await client.send(.get, "/api/echo/deep/x", bearer: token).status == .created)
            #expect(upstream.last?.path == "/deep/x")
            #expect(try await client.send(.get, "/api/echo", bearer: token).status == .created)
            #expect(upstream.last?.path == "/echo/")
            #expect(try await client.send(.get, "/api/echoes/x", bearer: token).status == .notFound)
            #expect(try await client.send(.get, "/api/keep/a/b", bearer: token).status == .created)
            #expect(upstream.last?.path == "/api/keep/a/b", "no strip")
            let payload = try await verify(upstream.last?.header("Authorization"), audience: "echo", client: client)
            #expect(payload.roles == ["platform_admin"])
            #expect(try await client.send(.get, "/nothing/here", bearer: token).status == .notFound)
        }
    }

    @Test(arguments: [
        "/api/echo/../v1/users", "/api/echo/%2e%2e/x", "/api/echo/%2E%2e/x", "/api/echo/./x", "/api/echo/%2e/x",
        "/api/echo/a%2Fb", "/api/echo/a%2fb", "/api/echo/a%5cb", "/api/echo/%zz", "/v1/../v1/me", "/api/echo/x/..",
    ])
    func unsafePathsAreRejectedBeforeRouting(_ path: String) async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            let reply = try await client.send(.get, path, bearer: token)
            #expect(reply.status == .badRequest)
            #expect(reply.string("code") == "invalid_request")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func authenticationAndAuthorizationFailures() async throws {
        try await withProxy { gateway, upstream, client in
            let missing = try await client.send(.get, "/api/echo/x")
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.wwwAuthenticate]?.hasPrefix("Bearer realm=\"iam-gateway\"") == true)
            let forged = try await client.send(
                .get, "/api/echo/x", headers: [.authorization: "Bearer eyJhbGciOiJub25lIn0.e30."])
            #expect(forged.status == .unauthorized)
            #expect(forged.headers[.wwwAuthenticate] == #"Bearer realm="iam-gateway", error="invalid_token""#)
            // A downstream token replayed at the gateway.
            let token = try await client.token()
            _ = try await client.send(.get, "/api/echo/x", bearer: token)
            let downstream = try #require(
                upstream.last?.header("Authorization")?.split(separator: " ").last.map(String.init))
            #expect(try await client.send(.get, "/api/echo/x", bearer: downstream).status == .unauthorized)
            // Edge permission: a viewer lacks connections.create.
            _ = try await gateway.addUser(
                tenantID: "platform", username: "viewer", password: "viewer-password", roles: ["viewer"])
            let viewer = try await client.token(username: "viewer", password: "viewer-password")
            let denied = try await client.send(.post, "/api/guarded/x", bearer: viewer)
            #expect(denied.status == .forbidden)
            #expect(denied.string("code") == "forbidden")
            let allowed = try await client.send(.post, "/api/guarded/x", bearer: token)
            #expect(allowed.status == .created)
            let payload = try await verify(
                upstream.last?.header("Authorization"), audience: "connections", client: client)
            #expect(
                Set(payload.permissions) == [
                    "connections.read", "connections.create", "connections.update", "connections.delete",
                ], "filtered to the service's permissions")
            // API keys authenticate at the proxy too.
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "k", "workspace_id": "default"], bearer: token)
            let secret = try #require(key.string("api_key"))
            // A key with no assignment in its workspace gets nothing (SPEC 7 step 3), not a token with `roles: []`.
            let unassigned = try await client.send(.get, "/api/echo/k", headers: [HTTPField.Name("X-API-Key")!: secret])
            #expect(unassigned.status == .forbidden && unassigned.string("code") == "forbidden")
            #expect(
                try await client.send(
                    .post, "/v1/auth/token", json: ["audience": "echo"], headers: [HTTPField.Name("X-API-Key")!: secret]
                ).status == .forbidden)
            let assigned = try await client.send(
                .post, "/v1/assignments",
                json: ["user_id": key.string("key_id") ?? "", "role_id": "viewer", "workspace_id": "default"],
                bearer: token)
            #expect(assigned.status == .created)
            #expect(
                try await client.send(.get, "/api/echo/k", headers: [HTTPField.Name("X-API-Key")!: secret]).status
                    == .created)
            #expect(upstream.last?.header("X-API-Key") == nil)
            #expect(
                try await verify(upstream.last?.header("Authorization"), audience: "echo", client: client).sub.value
                    == key.string("key_id"))
        }
    }

    @Test func downstreamTokenCacheReusesAndInvalidates() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            func forwarded() async throws -> String {
                #expect(try await client.send(.get, "/api/echo/c", bearer: token).status == .created)
                return try #require(upstream.last?.header("Authorization"))
            }
            let first = try await forwarded()
            #expect(try await forwarded() == first, "reused")
            // A key rotation yields a token from the new active key.
            try await gateway.keyRing.rotate(force: true)
            let afterRotation = try await forwarded()
            #expect(afterRotation != first)
            let headerData = try #require(Base64URL.decode(afterRotation.dropFirst(7).split(separator: ".")[0]))
            let kid = (try JSONSerialization.jsonObject(with: headerData) as? [String: Any])?["kid"] as? String
            #expect(kid == gateway.keyRing.snapshot.active.kid)
            #expect(try await forwarded() == afterRotation)
            // A policy change (new assignment in the workspace) yields a token with the new version.
            let before = try await verify(afterRotation, audience: "echo", client: client).policy_version
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "p", "password": "p-password", "user_id": "p"], bearer: token)
            #expect(
                try await client.send(
                    .post, "/v1/assignments", json: ["user_id": "p", "role_id": "viewer", "workspace_id": "default"],
                    bearer: token
                ).status == .created)
            let afterPolicy = try await forwarded()
            #expect(afterPolicy != afterRotation)
            #expect(try await verify(afterPolicy, audience: "echo", client: client).policy_version == before + 1)
            // Near expiry the token is replaced.
            gateway.clock.advance(by: 110)
            let fresh = try await forwarded()
            #expect(fresh != afterPolicy)
        }
    }

    @Test func upstreamFailuresAreProblemJSONAndOtherRoutesKeepWorking() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            let down = try await client.send(.get, "/api/down/x", bearer: token)
            #expect(down.status == .badGateway)
            #expect(down.string("code") == "upstream_unavailable")
            #expect(down.headers[.contentType] == "application/problem+json")
            let slow = try await client.send(.get, "/api/slow", bearer: token)
            #expect(slow.status == .gatewayTimeout)
            #expect(slow.string("code") == "upstream_timeout")
            #expect(try await client.send(.get, "/api/echo/still", bearer: token).status == .created)
        }
    }

    /// An upstream that answers (or times out) before the client has sent the whole body. The request body must
    /// have one reader at a time: the upload to the upstream stops before the server reads what is left of it,
    /// and the connection is closed after the answer because the rest of the body will not be read.
    @Test func anAnswerBeforeTheWholeBodyClosesTheConnectionAndNothingElse() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            let port = try #require(client.port)
            func partialPost(_ path: String) -> String {
                "POST \(path) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nContent-Length: 100000\r\n\r\n0123456789"
            }
            // The echo upstream answers without reading the body.
            let (early, earlyClosed) = try await Self.rawExchange(port: port, bytes: partialPost("/api/echo/early"))
            #expect(early.hasPrefix("HTTP/1.1 201 "), "the upstream's answer is relayed: \(early.prefix(40))")
            #expect(earlyClosed, "then the connection is closed: the rest of the body is not read")
            // The slow upstream is given up after the route's 1 s timeout.
            let (late, lateClosed) = try await Self.rawExchange(port: port, bytes: partialPost("/api/slow"))
            #expect(late.hasPrefix("HTTP/1.1 504 "))
            #expect(late.contains("upstream_timeout"))
            #expect(lateClosed)
            // The gateway is still serving, and a whole body still goes through.
            var upload = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/files/upload")
            upload.method = .POST
            upload.headers.add(name: "Authorization", value: "Bearer \(token)")
            upload.body = .bytes(ByteBuffer(string: "whole body"))
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let reply = try await http.execute(upload, timeout: .seconds(10))
            let text = String(buffer: try await reply.body.collect(upTo: 4096))
            try await http.shutdown()
            #expect(reply.status == .ok)
            #expect(text.contains(#""bytes":10"#))
        }
    }

    @Test func oversizedHeadersGet431() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            let reply = try await client.send(
                .get, "/api/echo/x", headers: [HTTPField.Name("X-Big")!: String(repeating: "a", count: 40 * 1024)],
                bearer: token)
            #expect(reply.status.code == 431)
            #expect(reply.string("code") == "request_header_fields_too_large")
            #expect(upstream.requests.isEmpty)
        }
    }

    /// 64 MiB each way through the gateway, checked by SHA-256, with a streaming client on both ends so neither
    /// side holds the whole body.
    @Test func streams64MiBEachWayIntact() async throws {
        try await withProxy { gateway, upstream, client in
            let token = try await client.token()
            let port = try #require(client.port)
            let size = Int(ProcessInfo.processInfo.environment["PROXY_STREAM_BYTES"] ?? "") ?? 64 * 1024 * 1024
            var expectedHasher = SHA256()
            for try await chunk in RecordingUpstream.pattern(size) {
                expectedHasher.update(data: chunk.readableBytesView)
            }
            let expected = expectedHasher.finalize().map { String(format: "%02x", $0) }.joined()
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                var upload = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/files/upload")
                upload.method = .POST
                upload.headers.add(name: "Authorization", value: "Bearer \(token)")
                upload.body = .stream(RecordingUpstream.pattern(size), length: .known(Int64(size)))
                let uploaded = try await http.execute(upload, timeout: .seconds(300))
                #expect(uploaded.status == .ok)
                let result =
                    try JSONSerialization.jsonObject(
                        with: Data((try await uploaded.body.collect(upTo: 4096)).readableBytesView)) as? [String: Any]
                #expect(result?["bytes"] as? Int == size)
                #expect(result?["sha256"] as? String == expected)

                var download = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/files/download?bytes=\(size)")
                download.headers.add(name: "Authorization", value: "Bearer \(token)")
                let downloaded = try await http.execute(download, timeout: .seconds(300))
                #expect(downloaded.status == .ok)
                var hasher = SHA256()
                var received = 0
                for try await chunk in downloaded.body {
                    hasher.update(data: chunk.readableBytesView)
                    received += chunk.readableBytes
                }
                #expect(received == size)
                #expect(hasher.finalize().map { String(format: "%02x", $0) }.joined() == expected)
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }
}
