import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The event-loop relay of one client connection, as a value: every event (a request part from the client, a
/// response part or a close from the upstream, a deadline, a shutdown request) goes in, and what to do comes out as
/// an action for ``ProxyFastPathHandler`` to carry out. The machine owns every decision (what is relayed and what
/// goes to Hummingbird, the order of answers, retries, which failure becomes which problem, when to close); the
/// handler owns the channels. Built the way async-http-client's `HTTP1ConnectionStateMachine` and NIO's
/// `HTTPServerPipelineHandler` are, so each transition is a unit test (`RelayStateMachineTests`).
///
/// Responses stay in request order: a request is relayed only when Hummingbird owes no response, and pipelined
/// requests behind a relayed one wait (with reading held) until its answer has ended.
struct ProxyRelayStateMachine {
    /// Where the relayed request is.
    enum Phase: Equatable {
        /// Waiting for an upstream connection (a new one, or a retry on a new one).
        case connecting
        /// The request was written upstream; no final response head yet.
        case awaitingResponse
        /// The response head went to the client; its body is being relayed.
        case streaming(keepAlive: Bool)
    }

    /// The request being relayed.
    struct Exchange {
        /// Tells a callback of this exchange (connect, deadline) from one of an exchange that has ended.
        let id: UInt64
        let plan: ProxyFastPath.Plan
        var phase = Phase.connecting
        var requestEnded = false
        var reused = false
        var retried = false
    }

    /// Why an exchange is answered by the gateway instead of the upstream.
    enum Failure: Equatable {
        /// 502 `upstream_unavailable`: no connection, or it closed before a response head.
        case unavailable
        /// 504 `upstream_timeout`: no response head within the route's timeout.
        case timeout
    }

    /// How an exchange ends.
    struct Finish: Equatable {
        /// The upstream connection goes back to the pool (a whole keep-alive response); otherwise it is closed.
        var reuseUpstream: Bool
        /// The client connection closes once the answer is written (`Connection: close`, HTTP/1.0, shutdown).
        var closeClient: Bool
    }

    enum InboundAction {
        /// Nothing to do now (consumed, or queued behind the exchange in flight).
        case none
        /// Pass the part on to Hummingbird.
        case forward(HTTPRequestPart)
        /// Relay this request: arm its deadline, take a pooled connection or open one.
        case start(id: UInt64, plan: ProxyFastPath.Plan)
    }

    enum UpstreamAction: Equatable {
        case none
        /// Write the upstream's response head to the client (with `Connection: close` when `closing`), cancel the
        /// deadline.
        case writeHead(closing: Bool)
        /// Write the body part to the client.
        case writeBody
        /// Write the response's end, then release or close the upstream connection and continue per `Finish`.
        case finish(Finish)
        /// Close the upstream connection (if any), answer the client with the failure's problem, then `finish`.
        case fail(Failure, Finish)
        /// Open a new upstream connection and send the request again (a reused connection was found closed).
        case retry
        /// The response was cut off mid-body: close the client connection, as the upstream's closed.
        case closeClient
        /// A callback of an exchange that has ended: close the connection it brought, if any.
        case discard
    }

    /// What to do after an exchange ended without closing: pass on queued parts, then one of these.
    enum ResumeAction: Equatable {
        case none
        /// Ask the channel for more (reading was held while the exchange was answered).
        case read
        /// Pass on the error that arrived behind the exchange (a malformed pipelined request), now in order.
        case passError
    }

    enum IdleDecision: Equatable {
        case close
        case check(at: NIODeadline)
    }

    let idleTimeout: TimeAmount
    private(set) var exchange: Exchange?
    /// Requests passed to Hummingbird whose response has not ended yet.
    private(set) var slowInProgress = 0
    private var slowRequestBeingRead = false
    /// Pipelined request parts waiting for the exchange in flight.
    private(set) var pending = CircularBuffer<HTTPRequestPart>()
    private(set) var readHeld = false
    private(set) var quiescing = false
    /// An error that arrived behind the exchange in flight: passed on once the requests before it are answered.
    private(set) var pendingError: (any Error)?
    private var lastActivity: NIODeadline
    private var nextID: UInt64 = 0
    /// An exchange was answered before its request's end was read (an early upstream answer): that end is the
    /// relayed request's, not a request for Hummingbird.
    private var relayedEndUnread = false

    init(idleTimeout: TimeAmount, now: NIODeadline) {
        self.idleTimeout = idleTimeout
        self.lastActivity = now
    }

    // MARK: Client side

    /// A request part from the client. `plan` is asked only for a head that may be relayed (no response owed by
    /// Hummingbird, not shutting down); `nil` from it sends the request to Hummingbird.
    mutating func received(_ part: HTTPRequestPart, now: NIODeadline, plan: (HTTPRequest) -> ProxyFastPath.Plan?)
        -> InboundAction
    {
        lastActivity = now
        if pending.isEmpty, let action = consume(part, plan: plan) { return action }
        pending.append(part)
        return .none
    }

    /// Handles one part; `nil` when it belongs to a request that must wait for the exchange in flight.
    private mutating func consume(_ part: HTTPRequestPart, plan: (HTTPRequest) -> ProxyFastPath.Plan?) -> InboundAction?
    {
        if exchange != nil {
            guard exchange?.requestEnded == false else { return nil }
            // The relayed request has no body: only its end is left to read.
            if case .end = part { exchange?.requestEnded = true }
            return InboundAction.none
        }
        if relayedEndUnread, case .end = part {
            relayedEndUnread = false
            return InboundAction.none
        }
        switch part {
        case .head(let request):
            if slowInProgress == 0, !quiescing, let plan = plan(request) {
                nextID &+= 1
                exchange = Exchange(id: nextID, plan: plan)
                return .start(id: nextID, plan: plan)
            }
            slowInProgress += 1
            slowRequestBeingRead = true
        case .body:
            break
        case .end:
            slowRequestBeingRead = false
        }
        return .forward(part)
    }

    /// The channel asks for more input: `false` holds reading while a relayed request is answered, so pipelined
    /// requests cannot pile up here.
    mutating func readRequested() -> Bool {
        if !pending.isEmpty || exchange?.requestEnded == true {
            readHeld = true
            return false
        }
        return true
    }

    /// After an exchange ended (without closing): the next queued part to pass on, or `nil` when none can go yet.
    /// Carry out each before asking for the next (a `.start` begins an exchange the following parts wait for).
    mutating func nextQueued(plan: (HTTPRequest) -> ProxyFastPath.Plan?) -> InboundAction? {
        guard let part = pending.first, let action = consume(part, plan: plan) else { return nil }
        pending.removeFirst()
        return action
    }

    /// Once the queued parts that could go have gone.
    mutating func resumed() -> ResumeAction {
        if exchange == nil, pending.isEmpty, pendingError != nil { return .passError }
        if readHeld, pending.isEmpty, exchange?.requestEnded != true {
            readHeld = false
            return .read
        }
        return .none
    }

    /// Takes the error that ``resumed()`` said to pass on.
    mutating func takePendingError() -> (any Error)? {
        defer { pendingError = nil }
        return pendingError
    }

    /// An error from the layers before (a parse error): `true` passes it on now; otherwise it waits its turn.
    mutating func errorCaught(_ error: any Error) -> Bool {
        if exchange != nil || !pending.isEmpty {
            pendingError = pendingError ?? error
            return false
        }
        return true
    }

    /// Graceful shutdown: `true` passes the event on to Hummingbird; with an exchange in flight the connection
    /// closes after its answer instead (Hummingbird does not know of it).
    mutating func quiesce() -> Bool {
        quiescing = true
        return exchange == nil
    }

    /// A response part written by Hummingbird.
    mutating func responsePartWritten(isEnd: Bool, now: NIODeadline) {
        lastActivity = now
        if isEnd { slowInProgress = max(0, slowInProgress - 1) }
    }

    /// The client connection closed: `true` when an exchange was abandoned (its upstream connection must close,
    /// it cannot be reused mid-exchange).
    mutating func clientClosed() -> Bool {
        pending.removeAll()
        defer { exchange = nil }
        return exchange != nil
    }

    // MARK: Upstream side

    /// An upstream connection for exchange `id` is ready: `.none` to send the request on it, `.discard` to close
    /// it (the exchange has ended).
    mutating func connected(id: UInt64, reused: Bool) -> UpstreamAction {
        guard exchange?.id == id, exchange?.phase == .connecting else { return .discard }
        exchange?.phase = .awaitingResponse
        exchange?.reused = reused
        return .none
    }

    /// Opening a connection for exchange `id` failed.
    mutating func connectFailed(id: UInt64, now: NIODeadline) -> UpstreamAction {
        guard exchange?.id == id, exchange?.phase == .connecting else { return .none }
        return fail(.unavailable, now: now)
    }

    /// The route's deadline for exchange `id` passed.
    mutating func timedOut(id: UInt64, now: NIODeadline) -> UpstreamAction {
        guard let exchange, exchange.id == id else { return .none }
        if case .streaming = exchange.phase { return .none }
        return fail(.timeout, now: now)
    }

    /// A response head from the upstream (informational ones are not relayed).
    mutating func upstreamHead(statusCode: Int, keepAlive: Bool, now: NIODeadline) -> UpstreamAction {
        guard let current = exchange, current.phase == .awaitingResponse, statusCode >= 200 else { return .none }
        lastActivity = now
        exchange?.phase = .streaming(keepAlive: keepAlive)
        return .writeHead(closing: current.plan.closeAfter || quiescing)
    }

    mutating func upstreamBody(now: NIODeadline) -> UpstreamAction {
        guard case .streaming = exchange?.phase else { return .none }
        lastActivity = now
        return .writeBody
    }

    mutating func upstreamEnd(now: NIODeadline) -> UpstreamAction {
        guard case .streaming(let keepAlive) = exchange?.phase else { return .none }
        return .finish(finish(reusable: keepAlive, now: now))
    }

    /// The upstream connection closed (or failed) before the exchange finished.
    mutating func upstreamClosed(now: NIODeadline) -> UpstreamAction {
        guard let current = exchange else { return .none }
        switch current.phase {
        case .streaming:
            relayedEndUnread = current.requestEnded == false
            exchange = nil
            pending.removeAll()
            return .closeClient
        case .awaitingResponse where current.reused && !current.retried && current.plan.retryable:
            // A kept-alive connection the upstream had closed: an idempotent request is sent once more on a new one.
            exchange?.retried = true
            exchange?.phase = .connecting
            return .retry
        case .awaitingResponse, .connecting:
            return fail(.unavailable, now: now)
        }
    }

    private mutating func fail(_ failure: Failure, now: NIODeadline) -> UpstreamAction {
        .fail(failure, finish(reusable: false, now: now))
    }

    private mutating func finish(reusable: Bool, now: NIODeadline) -> Finish {
        let close = (exchange?.plan.closeAfter ?? false) || quiescing
        relayedEndUnread = exchange?.requestEnded == false
        exchange = nil
        lastActivity = now
        if close { pending.removeAll() }
        return Finish(reuseUpstream: reusable, closeClient: close)
    }

    // MARK: Idle timeout

    /// Busy: a response is awaited (relayed, or Hummingbird's once its request was read).
    private var busy: Bool { exchange != nil || (slowInProgress > 0 && !slowRequestBeingRead) }

    /// When to look at the idle timeout next, or `.close` when the connection has been idle for `idleTimeout`.
    /// A connection is never idle while a response is awaited, however long the upstream takes.
    func idleCheck(now: NIODeadline) -> IdleDecision {
        if busy { return .check(at: now + idleTimeout) }
        let deadline = lastActivity + idleTimeout
        return now >= deadline ? .close : .check(at: deadline)
    }
}
