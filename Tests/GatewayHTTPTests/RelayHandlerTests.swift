import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import Testing

@testable import GatewayHTTP

/// ``ProxyFastPathHandler`` on an `EmbeddedChannel`, its upstream connections `EmbeddedChannel`s on the same loop:
/// what each transition of the relay writes to the client and the upstream, with virtual time for the deadlines.
@Suite struct RelayHandlerTests {
    /// Upstream connections as embedded channels: `idle` are handed out for reuse, new ones are recorded.
    final class Connector: UpstreamConnector {
        let loop: EmbeddedEventLoop
        var idle: [UpstreamConnection] = []
        var opened: [EmbeddedChannel] = []
        var released: [UpstreamConnection] = []
        var refuse = false

        init(loop: EmbeddedEventLoop) { self.loop = loop }

        func makeConnection() -> (UpstreamConnection, EmbeddedChannel) {
            let connection = UpstreamConnection(target: UpstreamTarget(upstream: "http://127.0.0.1:9")!, pool: nil)
            let channel = EmbeddedChannel(handler: connection, loop: loop)
            connection.channel = channel
            return (connection, channel)
        }

        func reuse(_ target: UpstreamTarget) -> UpstreamConnection? { idle.popLast() }

        func connect(_ target: UpstreamTarget, _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void)
        {
            if refuse { return completion(.failure(ChannelError.connectTimeout(.seconds(1)))) }
            let (connection, channel) = makeConnection()
            opened.append(channel)
            completion(.success(connection))
        }

        func release(_ connection: UpstreamConnection) { released.append(connection) }
    }

    /// Records the events that reach the end of the pipeline (what Hummingbird would see).
    final class Events: ChannelInboundHandler {
        typealias InboundIn = HTTPRequestPart
        var userEvents: [String] = []
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            userEvents.append("\(type(of: event))")
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }
    }

    struct Harness {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let connector: Connector
        let events = Events()

        init(idleTimeout: TimeAmount = .seconds(10), closeAfter: Bool = false) throws {
            let connector = Connector(loop: loop)
            self.connector = connector
            let handler = ProxyFastPathHandler(
                planner: { request, _ in
                    guard let path = request.path, path.hasPrefix("/relay") else { return nil }
                    var plan = RelayStateMachineTests.plan(
                        path, retryable: request.method != .post, closeAfter: closeAfter)
                    plan.timeout = .seconds(5)
                    return plan
                },
                connector: { _ in connector },
                idleTimeout: idleTimeout, serverName: "iam-gateway", logger: Logger(label: "test")
            )
            client = EmbeddedChannel(loop: loop)
            try client.pipeline.syncOperations.addHandler(handler)
            try client.pipeline.syncOperations.addHandler(events)
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func request(_ path: String, method: HTTPRequest.Method = .get) throws {
            try client.writeInbound(
                HTTPRequestPart.head(HTTPRequest(method: method, scheme: nil, authority: "gw", path: path)))
            try client.writeInbound(HTTPRequestPart.end(nil))
        }

        /// What the upstream connection `channel` was sent: the request head's URI, and whether its end followed.
        func sent(on channel: EmbeddedChannel) throws -> String? {
            guard case .head(let head)? = try channel.readOutbound(as: HTTPClientRequestPart.self) else { return nil }
            guard case .end? = try channel.readOutbound(as: HTTPClientRequestPart.self) else { return nil }
            return head.uri
        }

        func answer(
            on channel: EmbeddedChannel, status: HTTPResponseStatus = .ok, body: String = "hello",
            keepAlive: Bool = true, end: Bool = true
        ) throws {
            var headers: HTTPHeaders = ["Content-Length": "\(body.utf8.count)", "X-Upstream": "yes"]
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            try channel.writeInbound(
                HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
            try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: body)))
            if end { try channel.writeInbound(HTTPClientResponsePart.end(nil)) }
        }

        /// The response written to the client so far: status, headers, body text, whether it ended.
        func response() throws -> (status: Int, fields: HTTPFields, body: String, ended: Bool)? {
            guard case .head(let head)? = try client.readOutbound(as: HTTPResponsePart.self) else { return nil }
            var body = ""
            while let part = try client.readOutbound(as: HTTPResponsePart.self) {
                switch part {
                case .body(let buffer): body += String(buffer: buffer)
                case .end: return (head.status.code, head.headerFields, body, true)
                case .head: Issue.record("a second head")
                }
            }
            return (head.status.code, head.headerFields, body, false)
        }

        /// What reached Hummingbird's place in the pipeline.
        func forwarded() throws -> [String] {
            var parts: [String] = []
            while let part = try client.readInbound(as: HTTPRequestPart.self) {
                switch part {
                case .head(let request): parts.append("head \(request.path ?? "")")
                case .body: parts.append("body")
                case .end: parts.append("end")
                }
            }
            return parts
        }
    }

    @Test func aRelayedRequestIsSentUpstreamAndItsAnswerWrittenWithTheGatewaysHeaders() throws {
        let harness = try Harness()
        try harness.request("/relay/items?a=1")
        let upstream = try #require(harness.connector.opened.first)
        #expect(try harness.sent(on: upstream) == "/relay/items?a=1")
        try harness.answer(on: upstream, body: "hello")
        let response = try #require(try harness.response())
        #expect(response.status == 200 && response.body == "hello" && response.ended)
        #expect(response.fields[.xRequestID] == "rid-/relay/items?a=1")
        #expect(response.fields[.server] == "iam-gateway" && response.fields[.date] != nil)
        #expect(response.fields[.connection] == nil)
        #expect(harness.connector.released.count == 1, "a whole keep-alive answer returns the connection to the pool")
        #expect(try harness.forwarded().isEmpty, "nothing reached Hummingbird")
        #expect(harness.client.isActive)
    }

    @Test func pipelinedRequestsReachHummingbirdOnlyAfterTheRelayedAnswer() throws {
        let harness = try Harness()
        try harness.request("/relay/first")
        try harness.request("/v1/health")
        #expect(try harness.forwarded().isEmpty, "the second request waits")
        let upstream = try #require(harness.connector.opened.first)
        _ = try harness.sent(on: upstream)
        try harness.answer(on: upstream)
        #expect(try harness.response()?.status == 200)
        #expect(try harness.forwarded() == ["head /v1/health", "end"])
    }

    @Test func anUpstreamClosingMidBodyClosesTheClientAndOneClosingBeforeAnswerIsA502() throws {
        let harness = try Harness()
        try harness.request("/relay/cut")
        let upstream = try #require(harness.connector.opened.first)
        try harness.answer(on: upstream, end: false)
        try upstream.close().wait()
        let cut = try #require(try harness.response())
        #expect(cut.status == 200 && !cut.ended, "the answer is cut off, not completed")
        #expect(!harness.client.isActive, "the client's connection closes as the upstream's did")

        let second = try Harness()
        try second.request("/relay/refused")
        let refused = try #require(second.connector.opened.first)
        try refused.close().wait()
        let problem = try #require(try second.response())
        #expect(problem.status == 502 && problem.ended)
        #expect(problem.fields[.contentType] == "application/problem+json")
        #expect(problem.body.contains("upstream_unavailable"))
        #expect(second.client.isActive, "a problem answer keeps the connection")
    }

    @Test func aPooledConnectionFoundClosedIsRetriedOnANewOne() throws {
        let harness = try Harness()
        let (stale, staleChannel) = harness.connector.makeConnection()
        harness.connector.idle = [stale]
        try harness.request("/relay/again")
        #expect(try harness.sent(on: staleChannel) == "/relay/again")
        try staleChannel.close().wait()
        let fresh = try #require(harness.connector.opened.first, "a new connection was opened")
        #expect(try harness.sent(on: fresh) == "/relay/again")
        try harness.answer(on: fresh)
        #expect(try harness.response()?.status == 200)

        let post = try Harness()
        let (stalePost, stalePostChannel) = post.connector.makeConnection()
        post.connector.idle = [stalePost]
        try post.request("/relay/post", method: .post)
        try stalePostChannel.close().wait()
        #expect(post.connector.opened.isEmpty, "a POST is not sent twice")
        #expect(try post.response()?.status == 502)
    }

    @Test func aClientGoingAwayClosesTheUpstreamConnection() throws {
        let harness = try Harness()
        try harness.request("/relay/long")
        let upstream = try #require(harness.connector.opened.first)
        try harness.answer(on: upstream, end: false)
        try harness.client.close().wait()
        #expect(!upstream.isActive, "an upstream connection mid-answer cannot be reused")
        #expect(harness.connector.released.isEmpty)
    }

    @Test func deadlinesUseTheEventLoopsClock() throws {
        let harness = try Harness(idleTimeout: .seconds(10))
        harness.connector.refuse = true
        try harness.request("/relay/refused")
        let refused = try #require(try harness.response())
        #expect(refused.status == 502 && refused.body.contains("upstream_unavailable"))

        harness.connector.refuse = false
        try harness.request("/relay/slow")
        let upstream = try #require(harness.connector.opened.first)
        harness.loop.advanceTime(by: .seconds(4))
        #expect(try harness.response() == nil, "no answer yet")
        harness.loop.advanceTime(by: .seconds(2))
        let timeout = try #require(try harness.response())
        #expect(timeout.status == 504 && timeout.body.contains("upstream_timeout"))
        #expect(!upstream.isActive, "the upstream connection is dropped")
        #expect(harness.client.isActive)
        // Idle from the 504 (at 5 s): closed after the idle timeout, not before.
        harness.loop.advanceTime(by: .seconds(8))
        #expect(harness.client.isActive)
        harness.loop.advanceTime(by: .seconds(2))
        #expect(!harness.client.isActive, "closed once idle")
    }

    @Test func aSlowUpstreamKeepsTheConnectionPastTheIdleTimeout() throws {
        let harness = try Harness(idleTimeout: .seconds(1))
        try harness.request("/relay/slow")
        let upstream = try #require(harness.connector.opened.first)
        harness.loop.advanceTime(by: .milliseconds(4500))
        #expect(harness.client.isActive, "an awaited answer is not idleness")
        try harness.answer(on: upstream)
        #expect(try harness.response()?.status == 200)
        harness.loop.advanceTime(by: .seconds(2))
        #expect(!harness.client.isActive)
    }

    @Test func gracefulShutdownLetsTheRelayedAnswerFinishWithConnectionClose() throws {
        let harness = try Harness()
        try harness.request("/relay/a")
        let upstream = try #require(harness.connector.opened.first)
        harness.client.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(harness.events.userEvents.isEmpty, "held back from Hummingbird")
        try harness.answer(on: upstream)
        let response = try #require(try harness.response())
        #expect(response.status == 200 && response.ended)
        #expect(response.fields[.connection] == "close")
        #expect(!harness.client.isActive, "closed after the answer")

        let idle = try Harness()
        idle.client.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(idle.events.userEvents == ["ChannelShouldQuiesceEvent"], "nothing in flight: Hummingbird closes")
    }

    @Test func connectionCloseFromTheClientClosesAfterTheAnswer() throws {
        let harness = try Harness(closeAfter: true)
        try harness.request("/relay/once")
        let upstream = try #require(harness.connector.opened.first)
        try harness.answer(on: upstream)
        let response = try #require(try harness.response())
        #expect(response.fields[.connection] == "close" && response.ended)
        #expect(!harness.client.isActive)
    }
}
