import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import Testing

@testable import GatewayHTTP

/// ``ProxyRelayStateMachine`` transition by transition, as a value: every decision of the event-loop relay
/// (relay or pass on, answer order, retry, failure, close, idle) without a channel.
@Suite struct RelayStateMachineTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let idle = TimeAmount.seconds(10)

    static func plan(_ path: String = "/x", retryable: Bool = true, closeAfter: Bool = false) -> ProxyFastPath.Plan {
        ProxyFastPath.Plan(
            target: UpstreamTarget(upstream: "http://127.0.0.1:9")!,
            head: HTTPRequestHead(version: .http1_1, method: retryable ? .GET : .POST, uri: path),
            requestID: "rid-\(path)", routeName: "route", timeout: .seconds(5), retryable: retryable,
            closeAfter: closeAfter
        )
    }

    static func head(_ path: String) -> HTTPRequestPart {
        .head(HTTPRequest(method: .get, scheme: nil, authority: "gw", path: path))
    }

    /// Requests under `/relay` are relayed with the plan built from their path; anything else goes to Hummingbird.
    static func planner(retryable: Bool = true, closeAfter: Bool = false) -> (HTTPRequest) -> ProxyFastPath.Plan? {
        { request in
            guard let path = request.path, path.hasPrefix("/relay") else { return nil }
            return plan(path, retryable: retryable, closeAfter: closeAfter)
        }
    }

    static func isForward(_ action: ProxyRelayStateMachine.InboundAction) -> Bool {
        if case .forward = action { return true }
        return false
    }

    static func startedID(_ action: ProxyRelayStateMachine.InboundAction?) -> UInt64? {
        if case .start(let id, _) = action { return id }
        return nil
    }

    static func isNone(_ action: ProxyRelayStateMachine.InboundAction?) -> Bool {
        if case ProxyRelayStateMachine.InboundAction.none? = action { return true }
        return false
    }

    /// Relays one request to the point where its response head was written; returns its id.
    static func relayUpToHead(
        _ machine: inout ProxyRelayStateMachine, _ path: String = "/relay/a", keepAlive: Bool = true
    ) throws -> UInt64 {
        let step1 = machine.received(head(path), now: start, plan: planner())
        let id = try #require(startedID(step1))
        let step2 = machine.received(.end(nil), now: start, plan: planner())
        #expect(isNone(step2))
        let step3 = machine.connected(id: id, reused: false)
        #expect(step3 == .none)
        let step4 = machine.upstreamHead(statusCode: 200, keepAlive: keepAlive, now: start)
        #expect(step4 == .writeHead(closing: false))
        return id
    }

    @Test func aRelayedRequestGoesThroughEveryPhaseAndReleasesItsConnection() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step5 = machine.received(Self.head("/relay/a"), now: Self.start, plan: Self.planner())
        let id = try #require(Self.startedID(step5))
        #expect(machine.exchange?.phase == .connecting)
        let step6 = machine.received(.end(nil), now: Self.start, plan: Self.planner())
        #expect(Self.isNone(step6))
        let step7 = machine.readRequested()
        #expect(step7 == false, "reading is held while the answer is awaited")
        let step8 = machine.connected(id: id, reused: false)
        #expect(step8 == .none)
        #expect(machine.exchange?.phase == .awaitingResponse)
        let step9 = machine.upstreamHead(statusCode: 100, keepAlive: true, now: Self.start)
        #expect(step9 == .none, "informational heads are not relayed")
        let step10 = machine.upstreamBody(now: Self.start)
        #expect(step10 == .none, "no body before a final head")
        let step11 = machine.upstreamHead(statusCode: 200, keepAlive: true, now: Self.start)
        #expect(step11 == .writeHead(closing: false))
        let step12 = machine.upstreamBody(now: Self.start)
        #expect(step12 == .writeBody)
        let step13 = machine.upstreamEnd(now: Self.start)
        #expect(step13 == .finish(.init(reuseUpstream: true, closeClient: false)))
        #expect(machine.exchange == nil)
        let step14 = machine.resumed()
        #expect(step14 == .read, "the held read is issued")
        let step15 = machine.readRequested()
        #expect(step15)
    }

    @Test func anUpstreamThatWillCloseIsNotReusedAndConnectionCloseClosesTheClient() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        _ = try Self.relayUpToHead(&machine, keepAlive: false)
        let step16 = machine.upstreamEnd(now: Self.start)
        #expect(step16 == .finish(.init(reuseUpstream: false, closeClient: false)))

        let closing = Self.planner(closeAfter: true)
        let step17 = machine.received(Self.head("/relay/b"), now: Self.start, plan: closing)
        let id = try #require(Self.startedID(step17))
        _ = machine.received(.end(nil), now: Self.start, plan: closing)
        _ = machine.connected(id: id, reused: false)
        let step18 = machine.upstreamHead(statusCode: 204, keepAlive: true, now: Self.start)
        #expect(step18 == .writeHead(closing: true))
        let step19 = machine.upstreamEnd(now: Self.start)
        #expect(step19 == .finish(.init(reuseUpstream: true, closeClient: true)))
    }

    @Test func pipelinedRequestsWaitForTheRelayedAnswerAndKeepTheirOrder() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let first = try Self.relayUpToHead(&machine)
        // Behind it: a request for Hummingbird, then another relayed one. Both wait.
        for part in [Self.head("/v1/health"), .end(nil), Self.head("/relay/c"), .end(nil)] {
            let step20 = machine.received(part, now: Self.start, plan: Self.planner())
            #expect(Self.isNone(step20))
        }
        #expect(machine.pending.count == 4)
        let step21 = machine.readRequested()
        #expect(step21 == false)
        let step22 = machine.upstreamEnd(now: Self.start)
        #expect(step22 == .finish(.init(reuseUpstream: true, closeClient: false)))
        // The Hummingbird request goes on; the relayed one must wait for its answer (Hummingbird owes one).
        let step23 = machine.nextQueued(plan: Self.planner())
        #expect(try Self.isForward(#require(step23)))
        let step24 = machine.nextQueued(plan: Self.planner())
        #expect(try Self.isForward(#require(step24)))
        let step25 = machine.nextQueued(plan: Self.planner())
        #expect(try Self.isForward(#require(step25)), "not relayed while Hummingbird owes an answer")
        let step26 = machine.nextQueued(plan: Self.planner())
        #expect(try Self.isForward(#require(step26)))
        let step27 = machine.nextQueued(plan: Self.planner())
        #expect(step27 == nil)
        #expect(machine.slowInProgress == 2)
        let step28 = machine.resumed()
        #expect(step28 == .read)
        machine.responsePartWritten(isEnd: true, now: Self.start)
        machine.responsePartWritten(isEnd: true, now: Self.start)
        let step29 = machine.received(Self.head("/relay/d"), now: Self.start, plan: Self.planner())
        let next = try #require(Self.startedID(step29))
        #expect(next > first, "relayed again once Hummingbird owes nothing")
    }

    @Test func aRelayedRequestQueuedBehindAnotherStartsWhenItEnds() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        _ = try Self.relayUpToHead(&machine)
        _ = machine.received(Self.head("/relay/next"), now: Self.start, plan: Self.planner())
        _ = machine.received(.end(nil), now: Self.start, plan: Self.planner())
        _ = machine.upstreamEnd(now: Self.start)
        let step30 = machine.nextQueued(plan: Self.planner())
        let second = try #require(Self.startedID(step30))
        #expect(machine.exchange?.plan.head.uri == "/relay/next")
        let step31 = machine.nextQueued(plan: Self.planner())
        #expect(Self.isNone(step31), "its end is consumed")
        let step32 = machine.nextQueued(plan: Self.planner())
        #expect(step32 == nil)
        let step33 = machine.resumed()
        #expect(step33 == .none, "reading stays held: the second exchange's request has ended")
        let step34 = machine.connected(id: second, reused: true)
        #expect(step34 == .none)
    }

    @Test func anEarlyUpstreamAnswerDoesNotPassTheRequestsEndToHummingbird() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step35 = machine.received(Self.head("/relay/a"), now: Self.start, plan: Self.planner())
        let id = try #require(Self.startedID(step35))
        _ = machine.connected(id: id, reused: false)
        let step36 = machine.upstreamHead(statusCode: 200, keepAlive: true, now: Self.start)
        #expect(step36 == .writeHead(closing: false))
        let step37 = machine.upstreamEnd(now: Self.start)
        #expect(step37 == .finish(.init(reuseUpstream: true, closeClient: false)))
        let step38 = machine.received(.end(nil), now: Self.start, plan: Self.planner())
        #expect(Self.isNone(step38), "the relayed request's end")
        #expect(machine.slowInProgress == 0)
        let step39 = machine.received(Self.head("/relay/b"), now: Self.start, plan: Self.planner())
        #expect(Self.startedID(step39) != nil)
    }

    @Test func anUpstreamClosingMidBodyClosesTheClient() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        _ = try Self.relayUpToHead(&machine)
        _ = machine.received(Self.head("/relay/queued"), now: Self.start, plan: Self.planner())
        let step40 = machine.upstreamBody(now: Self.start)
        #expect(step40 == .writeBody)
        let step41 = machine.upstreamClosed(now: Self.start)
        #expect(step41 == .closeClient)
        #expect(machine.exchange == nil)
        #expect(machine.pending.isEmpty, "queued requests are dropped with the connection")
    }

    @Test func aReusedConnectionFoundClosedIsRetriedOnceForIdempotentRequestsOnly() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step42 = machine.received(Self.head("/relay/a"), now: Self.start, plan: Self.planner())
        let id = try #require(Self.startedID(step42))
        let step43 = machine.connected(id: id, reused: true)
        #expect(step43 == .none)
        let step44 = machine.upstreamClosed(now: Self.start)
        #expect(step44 == .retry)
        #expect(machine.exchange?.phase == .connecting)
        let step45 = machine.connected(id: id, reused: false)
        #expect(step45 == .none)
        let step46 = machine.upstreamClosed(now: Self.start)
        #expect(
            step46 == .fail(.unavailable, .init(reuseUpstream: false, closeClient: false)),
            "a new connection closing is a 502")

        let post = Self.planner(retryable: false)
        let step47 = machine.received(Self.head("/relay/post"), now: Self.start, plan: post)
        let second = try #require(Self.startedID(step47))
        let step48 = machine.connected(id: second, reused: true)
        #expect(step48 == .none)
        let step49 = machine.upstreamClosed(now: Self.start)
        #expect(
            step49 == .fail(.unavailable, .init(reuseUpstream: false, closeClient: false)), "POST is not sent twice")
    }

    @Test func connectFailuresAndDeadlinesBecomeProblemsAndStaleCallbacksAreDiscarded() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step50 = machine.received(Self.head("/relay/a"), now: Self.start, plan: Self.planner())
        let first = try #require(Self.startedID(step50))
        let step51 = machine.connectFailed(id: first, now: Self.start)
        #expect(step51 == .fail(.unavailable, .init(reuseUpstream: false, closeClient: false)))
        let step52 = machine.timedOut(id: first, now: Self.start)
        #expect(step52 == .none, "the deadline of an ended exchange")
        let step53 = machine.connected(id: first, reused: false)
        #expect(step53 == .discard, "a connection arriving for an ended exchange")

        _ = machine.received(.end(nil), now: Self.start, plan: Self.planner())
        let step54 = machine.received(Self.head("/relay/b"), now: Self.start, plan: Self.planner())
        let second = try #require(Self.startedID(step54))
        _ = machine.connected(id: second, reused: false)
        let step55 = machine.timedOut(id: second, now: Self.start)
        #expect(step55 == .fail(.timeout, .init(reuseUpstream: false, closeClient: false)))
        let step56 = machine.upstreamHead(statusCode: 200, keepAlive: true, now: Self.start)
        #expect(step56 == .none, "a late answer is not relayed")

        _ = machine.received(.end(nil), now: Self.start, plan: Self.planner())
        _ = try Self.relayUpToHead(&machine, "/relay/c")
        let current = try #require(machine.exchange?.id)
        let step57 = machine.timedOut(id: current, now: Self.start)
        #expect(step57 == .none, "no timeout once the answer has started")
    }

    @Test func aClientGoingAwayAbandonsTheExchange() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let id = try Self.relayUpToHead(&machine)
        _ = machine.received(Self.head("/relay/queued"), now: Self.start, plan: Self.planner())
        let step58 = machine.clientClosed()
        #expect(step58, "the upstream connection must close")
        #expect(machine.exchange == nil && machine.pending.isEmpty)
        let step59 = machine.upstreamBody(now: Self.start)
        #expect(step59 == .none)
        let step60 = machine.upstreamEnd(now: Self.start)
        #expect(step60 == .none)
        let step61 = machine.upstreamClosed(now: Self.start)
        #expect(step61 == .none)
        let step62 = machine.timedOut(id: id, now: Self.start)
        #expect(step62 == .none)
        let step63 = machine.clientClosed()
        #expect(step63 == false, "nothing left to abandon")
    }

    @Test func gracefulShutdownWaitsForTheRelayedAnswerThenCloses() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step64 = machine.received(Self.head("/relay/a"), now: Self.start, plan: Self.planner())
        let id = try #require(Self.startedID(step64))
        _ = machine.received(.end(nil), now: Self.start, plan: Self.planner())
        _ = machine.connected(id: id, reused: false)
        let step65 = machine.quiesce()
        #expect(step65 == false, "held back from Hummingbird while an answer is relayed")
        let step66 = machine.upstreamHead(statusCode: 200, keepAlive: true, now: Self.start)
        #expect(step66 == .writeHead(closing: true))
        let step67 = machine.upstreamEnd(now: Self.start)
        #expect(step67 == .finish(.init(reuseUpstream: true, closeClient: true)))
        var asked = false
        let action = machine.received(Self.head("/relay/late"), now: Self.start) { _ in
            asked = true
            return Self.plan()
        }
        #expect(Self.isForward(action) && !asked, "nothing new is relayed while shutting down")

        var idleMachine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step68 = idleMachine.quiesce()
        #expect(step68, "with nothing in flight Hummingbird closes the connection")
    }

    @Test func anErrorBehindARelayedRequestIsPassedOnInTurn() throws {
        struct Garbage: Error {}
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        let step69 = machine.errorCaught(Garbage())
        #expect(step69, "nothing in flight: passed on at once")
        _ = try Self.relayUpToHead(&machine)
        let step70 = machine.errorCaught(Garbage())
        #expect(step70 == false)
        let step71 = machine.resumed()
        #expect(step71 == .none, "not while the exchange is in flight")
        _ = machine.upstreamEnd(now: Self.start)
        let step72 = machine.resumed()
        #expect(step72 == .passError)
        let step73 = machine.takePendingError()
        #expect(step73 is Garbage)
        #expect(machine.pendingError == nil)
    }

    @Test func aConnectionIsIdleOnlyWhenNoAnswerIsAwaited() throws {
        var machine = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        #expect(machine.idleCheck(now: Self.start) == .check(at: Self.start + Self.idle))
        #expect(machine.idleCheck(now: Self.start + Self.idle) == .close)
        // A relayed request that takes longer than the idle timeout keeps the connection.
        let later = Self.start + .seconds(1)
        let step74 = machine.received(Self.head("/relay/slow"), now: later, plan: Self.planner())
        let id = try #require(Self.startedID(step74))
        _ = machine.received(.end(nil), now: later, plan: Self.planner())
        _ = machine.connected(id: id, reused: false)
        let muchLater = later + .seconds(60)
        #expect(machine.idleCheck(now: muchLater) == .check(at: muchLater + Self.idle))
        _ = machine.upstreamHead(statusCode: 200, keepAlive: true, now: muchLater)
        _ = machine.upstreamEnd(now: muchLater)
        #expect(machine.idleCheck(now: muchLater + .seconds(1)) == .check(at: muchLater + Self.idle))
        #expect(machine.idleCheck(now: muchLater + Self.idle) == .close)
        // Hummingbird's answer awaited (its request read whole): busy; a request still being read: not.
        var slow = ProxyRelayStateMachine(idleTimeout: Self.idle, now: Self.start)
        _ = slow.received(Self.head("/v1/x"), now: Self.start, plan: Self.planner())
        #expect(slow.idleCheck(now: Self.start + Self.idle) == .close, "a body that stops arriving is idle")
        _ = slow.received(.end(nil), now: Self.start, plan: Self.planner())
        #expect(slow.idleCheck(now: Self.start + Self.idle) == .check(at: Self.start + Self.idle + Self.idle))
    }
}
