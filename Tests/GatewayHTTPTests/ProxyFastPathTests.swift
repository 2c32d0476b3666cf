import AsyncHTTPClient
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Testing

@testable import GatewayHTTP

/// The proxy's event-loop path against the responder's: the same request through each must reach the upstream
/// identically and get the same answer.
extension ProxyTests {
    /// Header lines as comparable, order-free text, without `Date` (it may tick between the two requests).
    static func lines(_ fields: HTTPFields) -> [String] {
        fields.filter { $0.name != .date }.map { "\($0.name.canonicalName): \($0.value)" }.sorted()
    }

    @Test(arguments: [
        (HTTPRequest.Method.get, "/api/echo/items/42?a=1&b=two%20words"),
        (.head, "/api/echo/h"),
        (.delete, "/api/keep/d/e"),
        (.post, "/api/echo/no-body"),
        (.options, "/api/echo"),
    ])
    func eventLoopPathForwardsAndAnswersAsTheResponderDoes(_ method: HTTPRequest.Method, _ path: String) async throws {
        try await withWiredProxy { gateway, wired, upstream, client in
            let login = try await client.login(cookie: true)
            let token = try #require(login.string("access_token"))
            let cookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
            // An explicit empty body: the test client would otherwise frame a bodiless POST as chunked.
            let headers: HTTPFields = [
                .contentLength: "0", HTTPField.Name("X-Request-Id")!: "same-request-id", .accept: "application/json",
                HTTPField.Name("X-Other")!: "kept",
                .cookie: "theme=dark", HTTPField.Name("X-Tenant-Id")!: "evil",
                HTTPField.Name("Keep-Alive")!: "timeout=5", .te: "trailers",
            ]
            // Warm the caches (the first request mints the downstream token).
            _ = try await client.send(.get, "/api/echo/warm", bearer: token)

            for credential in ["bearer", "cookie"] {
                var sent = headers
                if credential == "bearer" {
                    sent[.authorization] = "Bearer \(token)"
                } else {
                    sent[.cookie] = "\(cookie); theme=dark"
                }
                wired.proxyFastPath.isEnabled = false
                let relayedBefore = wired.eventLoopProxiedRequests
                let viaResponder = try await client.send(method, path, headers: sent)
                let seenByResponder = try #require(upstream.last)
                #expect(wired.eventLoopProxiedRequests == relayedBefore, "responder path")

                wired.proxyFastPath.isEnabled = true
                let viaEventLoop = try await client.send(method, path, headers: sent)
                let seenByEventLoop = try #require(upstream.last)
                #expect(wired.eventLoopProxiedRequests == relayedBefore + 1, "event-loop path (\(credential))")

                #expect(viaEventLoop.status == viaResponder.status)
                #expect(
                    NSDictionary(dictionary: viaEventLoop.json).isEqual(to: viaResponder.json),
                    "\(viaEventLoop.text) vs \(viaResponder.text)")
                #expect(Self.lines(viaEventLoop.headers) == Self.lines(viaResponder.headers))
                #expect(viaEventLoop.headers[.date] != nil)
                #expect(seenByEventLoop.method == seenByResponder.method)
                #expect(seenByEventLoop.path == seenByResponder.path)
                #expect(seenByEventLoop.query == seenByResponder.query)
                #expect(Self.lines(seenByEventLoop.headers) == Self.lines(seenByResponder.headers))
                #expect(seenByEventLoop.header("X-Tenant-Id") == "platform")
            }
        }
    }

    @Test func eventLoopPathFailuresAreTheSameProblems() async throws {
        try await withWiredProxy { gateway, wired, upstream, client in
            let token = try await client.token()
            let headers: HTTPFields = [HTTPField.Name("X-Request-Id")!: "failure-id"]
            for path in ["/api/down/x", "/api/slow"] {
                wired.proxyFastPath.isEnabled = false
                let viaResponder = try await client.send(.get, path, headers: headers, bearer: token)
                wired.proxyFastPath.isEnabled = true
                let relayedBefore = wired.eventLoopProxiedRequests
                let viaEventLoop = try await client.send(.get, path, headers: headers, bearer: token)
                #expect(wired.eventLoopProxiedRequests == relayedBefore + 1, "\(path) went through the event-loop path")
                #expect([HTTPResponse.Status.badGateway, .gatewayTimeout].contains(viaEventLoop.status))
                #expect(viaEventLoop.status == viaResponder.status)
                #expect(viaEventLoop.text == viaResponder.text)
                #expect(Self.lines(viaEventLoop.headers) == Self.lines(viaResponder.headers))
            }
            // The connection that timed out was dropped; the route works again on a new one.
            #expect(try await client.send(.get, "/api/echo/after", bearer: token).status == .created)
        }
    }

    /// Pipelined requests on one connection, some relayed on the event loop and some answered by the responder,
    /// come back in request order; `Connection: close` on a relayed request closes the connection after it.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withWiredProxy { gateway, wired, upstream, client in
            let token = try await client.token()
            _ = try await client.send(.get, "/api/echo/warm", bearer: token)
            let port = try #require(client.port)
            let relayedBefore = wired.eventLoopProxiedRequests
            func request(_ path: String, id: String, close: Bool = false) -> String {
                "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nX-Request-Id: \(id)\r\n"
                    + (close ? "Connection: close\r\n" : "") + "\r\n"
            }
            let batch =
                request("/api/echo/1", id: "p1") + request("/v1/health", id: "p2") + request("/api/echo/3", id: "p3")
                + request("/api/nothing", id: "p4") + request("/api/echo/5", id: "p5")
                + request("/api/echo/6", id: "p6", close: true)
            let (text, closed) = try await Self.rawExchange(port: port, bytes: batch)
            let ids = text.split(separator: "\r\n").filter { $0.lowercased().hasPrefix("x-request-id:") }.map {
                $0.split(separator: " ").last.map(String.init) ?? ""
            }
            #expect(ids == ["p1", "p2", "p3", "p4", "p5", "p6"])
            let statuses = text.matches(of: #/HTTP\/1\.1 (\d{3}) /#).map { String($0.output.1) }
            #expect(statuses == ["201", "200", "201", "404", "201", "201"])
            #expect(closed, "closed after the request that asked for it")
            #expect(wired.eventLoopProxiedRequests > relayedBefore, "some went through the event-loop path")

            // A relayed request with `Connection: close` is answered with it, and the connection closes.
            let relayedBeforeClose = wired.eventLoopProxiedRequests
            let (single, singleClosed) = try await Self.rawExchange(
                port: port, bytes: request("/api/echo/last", id: "c1", close: true))
            #expect(wired.eventLoopProxiedRequests == relayedBeforeClose + 1)
            #expect(single.hasPrefix("HTTP/1.1 201 "))
            #expect(single.lowercased().contains("\r\nconnection: close\r\n"))
            #expect(singleClosed)

            // A malformed request pipelined behind a relayed one: the relayed one is answered first, then 400.
            let relayedBeforeGarbage = wired.eventLoopProxiedRequests
            let (garbled, garbledClosed) = try await Self.rawExchange(
                port: port, bytes: request("/api/echo/g", id: "g1") + "NOT\u{01} A REQUEST\r\n\r\n")
            #expect(wired.eventLoopProxiedRequests == relayedBeforeGarbage + 1)
            #expect(garbled.matches(of: #/HTTP\/1\.1 (\d{3}) /#).map { String($0.output.1) } == ["201", "400"])
            #expect(garbled.contains(#""code":"invalid_request""#), "the 400 is a problem")
            #expect(garbledClosed)
        }
    }

    /// A pooled upstream connection that the upstream drops just as it is reused: an idempotent request is sent
    /// once more on a new connection; a POST is not (it might have been processed) and gets 502.
    @Test func aDroppedPooledConnectionIsRetriedForIdempotentRequestsOnly() async throws {
        let upstream = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(OneAnswerPerConnection())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(upstream.localAddress?.port)
        let gateway = try await TestGateway.make { configuration in
            configuration.routes = [
                .init(name: "once", prefix: "/api/once", upstream: "http://127.0.0.1:\(port)", audience: "echo")
            ]
        }
        do {
            try await gateway.test(.live) { wired, client in
                let token = try await client.token()
                #expect(
                    try await client.send(.get, "/api/once/warm", bearer: token).status == .ok,
                    "mints, through AsyncHTTPClient")
                let before = wired.eventLoopProxiedRequests
                #expect(
                    try await client.send(.get, "/api/once/1", bearer: token).status == .ok, "a new pooled connection")
                #expect(
                    try await client.send(.get, "/api/once/2", bearer: token).status == .ok,
                    "reused, dropped, sent again on a new one")
                let post = try await client.send(.post, "/api/once/3", headers: [.contentLength: "0"], bearer: token)
                #expect(post.status == .badGateway, "reused, dropped, not sent again")
                #expect(post.string("code") == "upstream_unavailable")
                #expect(wired.eventLoopProxiedRequests == before + 3)
                #expect(try await client.send(.get, "/api/once/4", bearer: token).status == .ok)
            }
        } catch {
            try await upstream.close()
            throw error
        }
        try await upstream.close()
    }

    /// The idle timeout, kept by the event-loop path's handler for both paths: a connection closes once idle for
    /// `http.idle_timeout`, but never while a response is awaited, however long the upstream takes.
    @Test(.timeLimit(.minutes(1))) func idleConnectionsCloseButNotDuringAResponse() async throws {
        let upstream = RecordingUpstream()
        try await upstream.run {
            let base = "http://127.0.0.1:\(upstream.port)"
            let gateway = try await TestGateway.make { configuration in
                configuration.http.idleTimeout = 1
                configuration.routes = [
                    .init(name: "echo", prefix: "/api/echo", upstream: base + "/echo", audience: "echo"),
                    .init(name: "slow", prefix: "/api/slow", upstream: base + "/slow", audience: "echo", timeout: 10),
                ]
            }
            try await gateway.test(.live) { wired, client in
                let token = try await client.token()
                _ = try await client.send(.get, "/api/echo/warm", bearer: token)
                let port = try #require(client.port)
                let request = "GET /api/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
                for eventLoopPath in [true, false] {
                    wired.proxyFastPath.isEnabled = eventLoopPath
                    let relayedBefore = wired.eventLoopProxiedRequests
                    async let exchange = Self.rawExchange(port: port, bytes: request)
                    await upstream.waitForArrival(of: "/slow")
                    // A connection answered after the request reached the upstream, and so idle for less time, is
                    // closed as idle: the idle timeout has passed while the answer was awaited.
                    let (_, witnessClosed) = try await Self.rawExchange(
                        port: port, bytes: "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    #expect(witnessClosed, "an idle connection is closed")
                    upstream.releaseSlow()
                    // The answer arrives, then the idle connection is closed by the gateway.
                    let (text, closed) = try await exchange
                    #expect(text.hasPrefix("HTTP/1.1 200 "), "whole answer first (event-loop path: \(eventLoopPath))")
                    #expect(closed, "then closed as idle")
                    #expect(wired.eventLoopProxiedRequests == relayedBefore + (eventLoopPath ? 1 : 0))
                }
            }
        }
    }

    /// A connection must deliver its first request head within `http.idle_timeout`: one that sends nothing, or a
    /// head that never ends (slowloris), is closed; a complete request on a new connection is answered.
    @Test func connectionsWithoutACompleteRequestHeadAreClosed() async throws {
        let gateway = try await TestGateway.make { configuration in configuration.http.idleTimeout = 1 }
        try await gateway.test(.live) { _, client in
            let port = try #require(client.port)
            let (silent, silentClosed) = try await Self.rawExchange(port: port, bytes: "")
            #expect(silent.isEmpty && silentClosed, "nothing sent: closed")
            let (partial, partialClosed) = try await Self.rawExchange(
                port: port, bytes: "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
            #expect(partial.isEmpty && partialClosed, "unfinished head: closed")
            let (answered, answeredClosed) = try await Self.rawExchange(
                port: port, bytes: "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(answered.hasPrefix("HTTP/1.1 200 "), "a complete request is answered")
            #expect(answeredClosed, "and the connection closes once idle")
        }
    }

    /// Bytes that are not HTTP/1.1 get a problem+json answer and the connection is closed, whether they are the
    /// connection's first request or follow a request handled by Hummingbird's responder.
    @Test func malformedRequestsGetAProblemAndTheConnectionCloses() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.live) { _, client in
            let port = try #require(client.port)
            func problem(_ text: String) -> (status: String?, code: String?, contentType: String?) {
                let status = text.firstMatch(of: #/^HTTP\/1\.1 (\d{3}) /#).map { String($0.output.1) }
                let code = text.firstMatch(of: #/"code":"([a-z_]+)"/#).map { String($0.output.1) }
                let type = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-type:") }.map {
                    $0.split(separator: " ").last.map(String.init) ?? ""
                }
                return (status, code, type)
            }
            // The first request of a connection: a broken request line, a malformed header, headers over the limit.
            for (bytes, status, code) in [
                ("NOT\u{01} A REQUEST\r\n\r\n", "400", "invalid_request"),
                ("GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400", "invalid_request"),
                (
                    "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 70 * 1024))\r\n\r\n",
                    "431", "request_header_fields_too_large"
                ),
            ] {
                let (text, closed) = try await Self.rawExchange(port: port, bytes: bytes)
                let answer = problem(text)
                #expect(answer.status == status, "\(bytes.prefix(30)): \(text.prefix(60))")
                #expect(answer.code == code)
                #expect(answer.contentType == "application/problem+json")
                #expect(text.lowercased().contains("\r\nconnection: close\r\n"))
                #expect(closed, "closed without waiting for a timeout")
            }
            // Behind a request the responder answers: that answer first, then the problem.
            let (text, closed) = try await Self.rawExchange(
                port: port, bytes: "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nNOT\u{01} A REQUEST\r\n\r\n")
            #expect(text.matches(of: #/HTTP\/1\.1 (\d{3}) /#).map { String($0.output.1) } == ["200", "400"])
            let at = try #require(text.range(of: "HTTP/1.1 400 "))
            let second = String(text[at.lowerBound...])
            #expect(problem(second).code == "invalid_request")
            #expect(problem(second).contentType == "application/problem+json")
            #expect(closed)
        }
    }

    /// Graceful shutdown (SIGTERM) while a relayed answer is awaited: the answer is delivered whole, with
    /// `Connection: close`, and the server stops after it.
    @Test(.timeLimit(.minutes(1))) func gracefulShutdownLetsARelayedAnswerFinish() async throws {
        let upstream = RecordingUpstream()
        try await upstream.run {
            let base = "http://127.0.0.1:\(upstream.port)"
            let gateway = try await TestGateway.make { configuration in
                configuration.http.port = 0
                configuration.routes = [
                    .init(name: "echo", prefix: "/api/echo", upstream: base + "/echo", audience: "echo"),
                    .init(name: "slow", prefix: "/api/slow", upstream: base + "/slow", audience: "echo", timeout: 10),
                ]
            }
            let (running, listening) = AsyncStream.makeStream(of: (any Channel).self)
            let (application, wired) = try await gateway.wiredApplication { channel in
                listening.yield(channel)
            }
            let services = ServiceGroup(configuration: .init(services: [application], logger: Logger(label: "test")))
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await services.run() }
                    var listener: (any Channel)?
                    for await channel in running {
                        listener = channel
                        break
                    }
                    let server = try #require(listener)
                    let port = try #require(server.localAddress?.port)
                    var login = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/auth/login")
                    login.method = .POST
                    login.headers.add(name: "Content-Type", value: "application/json")
                    login.body = .bytes(
                        ByteBuffer(
                            string:
                                #"{"tenant_id":"platform","workspace_id":"default","username":"admin","password":"\#(TestGateway.adminPassword)"}"#
                        ))
                    let reply = try await http.execute(login, timeout: .seconds(5))
                    #expect(reply.status == .ok)
                    let body = try await reply.body.collect(upTo: 1 << 16)
                    let token =
                        (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?[
                            "access_token"] as? String
                    let bearer = try #require(token)
                    var warm = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/echo/warm")
                    warm.headers.add(name: "Authorization", value: "Bearer \(bearer)")
                    _ = try await http.execute(warm, timeout: .seconds(5)).body.collect(upTo: 1 << 16)
                    let relayedBefore = wired.eventLoopProxiedRequests
                    async let answer = Self.rawExchange(
                        port: port,
                        bytes: "GET /api/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(bearer)\r\n\r\n")
                    // Shut down once the relayed request is at the upstream; let the upstream answer once every
                    // connection has been told to quiesce.
                    await upstream.waitForArrival(of: "/slow")
                    await services.triggerGracefulShutdown()
                    try await Self.quiesced(listener: server)
                    upstream.releaseSlow()
                    let (text, closed) = try await answer
                    #expect(text.hasPrefix("HTTP/1.1 200 "), "the awaited answer arrives: \(text.prefix(40))")
                    #expect(text.lowercased().contains("\r\nconnection: close\r\n"))
                    #expect(closed)
                    #expect(wired.eventLoopProxiedRequests == relayedBefore + 1)
                    try await tasks.waitForAll()
                }
            } catch {
                try? await http.shutdown()
                await gateway.cleanUp()
                throw error
            }
            try await http.shutdown()
            await gateway.cleanUp()
        }
    }

    /// Returns once graceful shutdown has reached every connection of the server listening on `listener`: the
    /// server closes its listener, then queues `ChannelShouldQuiesceEvent` on each connection's event loop in the
    /// same event-loop task. A task queued on the listener's loop after the close runs after that one; a task
    /// queued then on every loop of the group runs after the quiesce events.
    static func quiesced(listener: any Channel) async throws {
        try await listener.closeFuture.get()
        try await listener.eventLoop.submit {}.get()
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
            try await loop.submit {}.get()
        }
    }

    /// Writes `bytes` on a new connection and returns everything read until the server closes it, and whether the
    /// server did close it (the client gives up after 10 s).
    static func rawExchange(port: Int, bytes: String) async throws -> (text: String, closedByServer: Bool) {
        /// Lives on the connection's event loop; its result leaves through the promise. It writes the bytes as soon as
        /// the connection is up, on the event loop: a test task scheduled late on a busy machine cannot leave the
        /// connection silent long enough for the server's first-request deadline to close it first.
        final class Collector: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let done: EventLoopPromise<(String, Bool)>
            let bytes: String
            var text = ""
            var gaveUp = false
            init(done: EventLoopPromise<(String, Bool)>, bytes: String) {
                self.done = done
                self.bytes = bytes
            }
            func channelActive(context: ChannelHandlerContext) {
                if !bytes.isEmpty { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: bytes)), promise: nil) }
                context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(10)) {
                    self.gaveUp = true
                    context.close(promise: nil)
                }
                context.fireChannelActive()
            }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                text += String(buffer: unwrapInboundIn(data))
            }
            func channelInactive(context: ChannelHandlerContext) { done.succeed((text, !gaveUp)) }
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let done = loop.makePromise(of: (String, Bool).self)
        _ = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done, bytes: bytes))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let (text, closedByServer) = try await done.futureResult.get()
        return (text, closedByServer)
    }
}

/// Answers the first request of each connection (keep-alive) and closes the connection, unanswered, when a second
/// request arrives: what an upstream's keep-alive timeout does to a connection being reused.
final class OneAnswerPerConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    var requests = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requests += 1
            if requests > 1 { context.close(promise: nil) }
        case .body:
            break
        case .end:
            guard requests == 1 else { return }
            context.write(
                wrapOutboundOut(
                    .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2"]))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
