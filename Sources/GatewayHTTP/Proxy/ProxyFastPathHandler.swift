import Foundation
import GatewayCore
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Where the relay gets its upstream connections: ``UpstreamPool`` (one per event loop), or a test's own.
protocol UpstreamConnector: AnyObject {
    /// An open idle connection to `target`, if any.
    func reuse(_ target: UpstreamTarget) -> UpstreamConnection?
    /// A new connection to `target`; `completion` runs on the connector's event loop.
    func connect(_ target: UpstreamTarget, _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void)
    /// Returns a connection whose exchange ended cleanly.
    func release(_ connection: UpstreamConnection)
}

/// One client connection's share of the event-loop path, placed after Hummingbird's HTTP codec: a thin executor
/// of ``ProxyRelayStateMachine``'s actions. It passes every request the machine does not relay to Hummingbird,
/// writes relayed answers, and takes over the connection's idle timeout and graceful-shutdown handling, which
/// Hummingbird's own handler cannot see for relayed requests. What it assumes of Hummingbird's pipeline is in
/// ``HummingbirdPipeline``.
final class ProxyFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamConnectionDelegate {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    typealias Planner = (HTTPRequest, String) -> ProxyFastPath.Plan?

    private let planner: Planner
    private let makeConnector: (any EventLoop) -> any UpstreamConnector
    private let serverName: String
    private let logger: Logger
    private let observer: RequestObserver
    private var machine: ProxyRelayStateMachine
    private var context: ChannelHandlerContext?
    private var connector: (any UpstreamConnector)?
    private var clientAddress = "unknown"
    /// The upstream connection of the exchange in flight, and its deadline.
    private var connection: UpstreamConnection?
    private var deadline: Scheduled<Void>?
    /// The request id of the exchange in flight (its answer carries it).
    private var requestID = ""
    /// The exchange in flight, for its metrics and access line: its plan, when it was sent upstream, the upstream's
    /// time to answer, the status and body bytes written.
    private var current: ProxyFastPath.Plan?
    private var sentAt: NIODeadline?
    private var upstreamNanoseconds: Int64?
    private var status = 0
    private var bytes = 0
    /// What a bare 400 written by Hummingbird is really answering (see ``HummingbirdPipeline``).
    private var bareBadRequest: (error: GatewayError, requestID: String?)?
    private var idleTask: Scheduled<Void>?
    private var dateSecond = -1
    private var dateValue = ""

    init(
        planner: @escaping Planner, connector: @escaping (any EventLoop) -> any UpstreamConnector,
        idleTimeout: TimeAmount, serverName: String, logger: Logger,
        observer: RequestObserver = .disabled
    ) {
        self.observer = observer
        self.planner = planner
        self.makeConnector = connector
        self.serverName = serverName
        self.logger = logger
        self.machine = ProxyRelayStateMachine(idleTimeout: idleTimeout, now: .now())
    }

    convenience init(fastPath: ProxyFastPath) {
        self.init(
            planner: { fastPath.plan($0, clientAddress: $1) },
            connector: { fastPath.pools.pool(for: $0) },
            idleTimeout: fastPath.idleTimeout,
            serverName: fastPath.serverName,
            logger: fastPath.logger,
            observer: fastPath.observer
        )
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        machine = ProxyRelayStateMachine(idleTimeout: machine.idleTimeout, now: context.eventLoop.now)
        if let refusal = HummingbirdPipeline.firstHeadArrived(in: context.pipeline) {
            bareBadRequest = (refusal.error, refusal.requestID)
        }
        connector = makeConnector(context.eventLoop)
        clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if context.channel.isActive { scheduleIdleCheck(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTask?.cancel()
        idleTask = nil
        abandonExchange()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        scheduleIdleCheck(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTask?.cancel()
        idleTask = nil
        abandonExchange()
        context.fireChannelInactive()
    }

    // MARK: Client side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let address = clientAddress
        let planner = self.planner
        let action = machine.received(unwrapInboundIn(data), now: context.eventLoop.now) { planner($0, address) }
        execute(action, context: context)
    }

    private func execute(_ action: ProxyRelayStateMachine.InboundAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .forward(let part):
            context.fireChannelRead(wrapInboundOut(part))
        case .start(let id, let plan):
            start(id: id, plan: plan, context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        if machine.readRequested() { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !machine.quiesce() { return }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if machine.errorCaught(error) { passOn(error, context: context) }
    }

    private func passOn(_ error: any Error, context: ChannelHandlerContext) {
        if let parseError = error as? HTTPParserError { bareBadRequest = (.malformed(parseError), nil) }
        context.fireErrorCaught(error)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Back-pressure: read from the upstream only while the client keeps up.
        if let channel = connection?.channel {
            try? channel.syncOptions?.setOption(.autoRead, value: context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound (Hummingbird's responses)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        let isEnd = if case .end = part { true } else { false }
        machine.responsePartWritten(isEnd: isEnd, now: context.eventLoop.now)
        if let answer = bareBadRequest, case .head(let head) = part, HummingbirdPipeline.isBareBadRequest(head) {
            bareBadRequest = nil
            var (fields, body) = answer.error.framedProblemParts()
            if let requestID = answer.requestID { fields[.xRequestID] = requestID }
            decorate(&fields, closing: true)
            context.write(
                wrapOutboundOut(.head(HTTPResponse(status: answer.error.status, headerFields: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: promise)
            return
        }
        context.write(data, promise: promise)
    }

    // MARK: The exchange

    private func start(id: UInt64, plan: ProxyFastPath.Plan, context: ChannelHandlerContext) {
        requestID = plan.requestID
        current = plan
        sentAt = nil
        upstreamNanoseconds = nil
        status = 0
        bytes = 0
        let routeName = plan.routeName
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: plan.timeout) { [weak self] in
            guard let self, let context = self.context else { return }
            let action = self.machine.timedOut(id: id, now: context.eventLoop.now)
            if action != .none { self.logger.warning("upstream timeout", metadata: ["route": "\(routeName)"]) }
            self.execute(action, context: context)
        }
        if let reused = connector?.reuse(plan.target) {
            connected(reused, id: id, plan: plan, reused: true)
        } else {
            connect(id: id, plan: plan)
        }
    }

    private func connect(id: UInt64, plan: ProxyFastPath.Plan) {
        connector?.connect(plan.target) { [weak self] result in
            guard let self, let context = self.context else {
                if case .success(let connection) = result { connection.channel?.close(promise: nil) }
                return
            }
            switch result {
            case .success(let connection):
                self.connected(connection, id: id, plan: plan, reused: false)
            case .failure(let error):
                let action = self.machine.connectFailed(id: id, now: context.eventLoop.now)
                if action != .none {
                    self.logger.warning(
                        "upstream unavailable",
                        metadata: ["route": "\(plan.routeName)", "error_type": "\(type(of: error))"])
                }
                self.execute(action, context: context)
            }
        }
    }

    private func connected(_ connection: UpstreamConnection, id: UInt64, plan: ProxyFastPath.Plan, reused: Bool) {
        guard machine.connected(id: id, reused: reused) == .none, let channel = connection.channel else {
            connection.channel?.close(promise: nil)
            return
        }
        self.connection = connection
        connection.delegate = self
        if let context, !context.channel.isWritable {
            try? channel.syncOptions?.setOption(.autoRead, value: false)
        }
        sentAt = .now()
        channel.write(HTTPClientRequestPart.head(plan.head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func upstreamRead(_ part: HTTPClientResponsePart) {
        guard let context else { return }
        let now = context.eventLoop.now
        switch part {
        case .head(let head):
            let action = machine.upstreamHead(statusCode: Int(head.status.code), keepAlive: head.isKeepAlive, now: now)
            guard case .writeHead(let closing) = action else { return }
            deadline?.cancel()
            deadline = nil
            status = Int(head.status.code)
            if let sentAt { upstreamNanoseconds = (now - sentAt).nanoseconds }
            var fields = ProxyHeaders.downstream(from: head.headers)
            fields[.xRequestID] = requestID
            decorate(&fields, closing: closing)
            let status = HTTPResponse.Status(code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        case .body(let buffer):
            if machine.upstreamBody(now: now) == .writeBody {
                bytes += buffer.readableBytes
                context.write(wrapOutboundOut(.body(buffer)), promise: nil)
            }
        case .end:
            execute(machine.upstreamEnd(now: now), context: context)
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamClosed() {
        guard let context else { return }
        connection = nil
        let route = machine.exchange?.plan.routeName ?? ""
        let action = machine.upstreamClosed(now: context.eventLoop.now)
        if case .fail = action {
            logger.warning("upstream unavailable", metadata: ["route": "\(route)", "error_type": "connection closed"])
        }
        execute(action, context: context)
    }

    private func execute(_ action: ProxyRelayStateMachine.UpstreamAction, context: ChannelHandlerContext) {
        switch action {
        case .none, .writeHead, .writeBody, .discard:
            break
        case .finish(let finish):
            finishExchange(finish, context: context)
        case .fail(let failure, let finish):
            closeUpstream()
            let error =
                switch failure {
                case .unavailable: GatewayError(.upstreamUnavailable, "The upstream cannot be reached.")
                case .timeout: GatewayError(.upstreamTimeout, "The upstream did not answer in time.")
                }
            var (fields, body) = error.framedProblemParts()
            status = Int(error.status.code)
            bytes = body.readableBytes
            fields[.xRequestID] = requestID
            decorate(&fields, closing: finish.closeClient)
            context.write(
                wrapOutboundOut(.head(HTTPResponse(status: error.status, headerFields: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            finishExchange(finish, context: context)
        case .retry:
            guard let exchange = machine.exchange else { return }
            connect(id: exchange.id, plan: exchange.plan)
        case .closeClient:
            // The response was cut off mid-body: the client sees its connection close, as the upstream's did.
            deadline?.cancel()
            deadline = nil
            report()
            context.flush()
            context.close(promise: nil)
        }
    }

    /// The exchange's metrics and access line, once.
    private func report() {
        guard let plan = current else { return }
        current = nil
        observer.finished(
            AccessRecord(
                requestID: plan.requestID, method: plan.method, route: plan.routeName, path: plan.path, status: status,
                nanoseconds: (NIODeadline.now() - plan.started).nanoseconds, upstreamNanoseconds: upstreamNanoseconds,
                bytes: bytes,
                tenantID: plan.caller?.tenantID, workspaceID: plan.caller?.workspaceID, principal: plan.caller?.subject
            ))
    }

    private func finishExchange(_ finish: ProxyRelayStateMachine.Finish, context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        report()
        if let connection {
            self.connection = nil
            connection.delegate = nil
            if finish.reuseUpstream, let channel = connection.channel {
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                connector?.release(connection)
            } else {
                connection.channel?.close(promise: nil)
            }
        }
        if finish.closeClient {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        resume(context)
    }

    /// After an exchange: the pipelined parts that waited, then reading resumes.
    private func resume(_ context: ChannelHandlerContext) {
        let address = clientAddress
        let planner = self.planner
        var forwarded = false
        while let action = machine.nextQueued(plan: { planner($0, address) }) {
            if case .forward = action { forwarded = true }
            execute(action, context: context)
        }
        if forwarded { context.fireChannelReadComplete() }
        switch machine.resumed() {
        case .none:
            break
        case .read:
            context.read()
        case .passError:
            if let error = machine.takePendingError() { passOn(error, context: context) }
        }
    }

    private func closeUpstream() {
        guard let connection else { return }
        self.connection = nil
        connection.delegate = nil
        connection.channel?.close(promise: nil)
    }

    /// The client went away or the connection failed: the upstream connection cannot be reused mid-exchange.
    private func abandonExchange() {
        deadline?.cancel()
        deadline = nil
        if machine.clientClosed() { closeUpstream() }
    }

    // MARK: Connection upkeep

    /// The headers Hummingbird adds to its own responses.
    private func decorate(_ fields: inout HTTPFields, closing: Bool) {
        fields[.date] = httpDate()
        fields[.server] = serverName
        if closing { fields[.connection] = "close" }
    }

    private func scheduleIdleCheck(_ context: ChannelHandlerContext) {
        guard idleTask == nil else { return }
        switch machine.idleCheck(now: context.eventLoop.now) {
        case .close:
            context.close(promise: nil)
        case .check(let at):
            idleTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [weak self] in
                guard let self else { return }
                self.idleTask = nil
                self.scheduleIdleCheck(context)
            }
        }
    }

    /// RFC 9110 IMF-fixdate, formatted once per second.
    private func httpDate() -> String {
        var now = time_t()
        time(&now)
        let second = Int(now)
        if second != dateSecond {
            dateSecond = second
            dateValue = Self.formatDate(now)
        }
        return dateValue
    }

    static func formatDate(_ time: time_t) -> String {
        var time = time
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
