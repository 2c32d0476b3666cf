import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// The proxy's event-loop path: a request to a plain-HTTP route without a body, whose credential, resolution and
/// downstream token are all in memory, is relayed by a channel handler to a pooled upstream connection on the same
/// event loop, with no task, no AsyncHTTPClient and no thread hop. Everything else (a first request that mints, an
/// API key, a body, an error to answer) goes to the responder unchanged. Both paths build the upstream request with
/// the same ``ProxyPipeline`` functions, and answer the same headers.
final class ProxyFastPath: Sendable {
    struct Plan {
        var target: UpstreamTarget
        var head: HTTPRequestHead
        var requestID: String
        var routeName: String
        var timeout: TimeAmount
        /// Idempotent: may be sent again on a fresh connection when a reused one turns out closed.
        var retryable: Bool
        /// The client asked to close the connection after this response.
        var closeAfter: Bool
    }

    let routes: RouteTable
    let targets: [String: UpstreamTarget]
    let pipeline: ProxyPipeline
    let pools: UpstreamPools
    let maximumHeaderBytes: Int
    let idleTimeout: TimeAmount
    let serverName: String
    let logger: Logger
    private let handledCount = Atomic<Int>(0)
    private let enabled = Atomic<Bool>(true)

    init(routes: RouteTable, targets: [String: UpstreamTarget], pipeline: ProxyPipeline, pools: UpstreamPools, maximumHeaderBytes: Int, idleTimeout: TimeAmount, serverName: String, logger: Logger) {
        self.routes = routes
        self.targets = targets
        self.pipeline = pipeline
        self.pools = pools
        self.maximumHeaderBytes = maximumHeaderBytes
        self.idleTimeout = idleTimeout
        self.serverName = serverName
        self.logger = logger
    }

    /// Requests relayed on the event loop since start (tests and diagnostics).
    var handled: Int { handledCount.load(ordering: .relaxed) }

    /// Off: every request goes to the responder (tests compare both paths).
    var isEnabled: Bool {
        get { enabled.load(ordering: .relaxed) }
        set { enabled.store(newValue, ordering: .relaxed) }
    }

    func handler() -> ProxyFastPathHandler {
        ProxyFastPathHandler(fastPath: self)
    }

    static let retryableMethods: Set<HTTPRequest.Method> = [.get, .head, .options, .trace, .put, .delete]
    /// Methods whose empty request gets no `Content-Length: 0` (as AsyncHTTPClient frames them on the other path).
    static let noBodyExpected: Set<HTTPRequest.Method> = [.get, .head, .delete, .connect, .trace]

    /// How to relay `request` on the event loop, or `nil` when the responder must handle it.
    func plan(_ request: HTTPRequest, clientAddress: String) -> Plan? {
        // Anything the hygiene rules refuse goes to the responder, which answers it.
        guard isEnabled, request.method != .connect, let rawPath = request.path, RequestHygiene.violation(request) == nil else { return nil }
        let fields = request.headerFields
        // No request body, nothing to negotiate.
        guard fields[.transferEncoding] == nil, fields[.expect] == nil, fields[.upgrade] == nil else { return nil }
        let lengths = fields[values: .contentLength]
        guard lengths.isEmpty || (lengths.count == 1 && lengths[0] == "0") else { return nil }
        var headerBytes = 0
        for field in fields { headerBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
        guard headerBytes <= maximumHeaderBytes else { return nil }
        let uri = URI(rawPath)
        let path = uri.path
        // The path's safety was checked with the whole target by RequestHygiene above.
        guard let match = routes.match(path: path), let target = targets[match.route.name] else { return nil }
        let requestID = GatewayResponder.requestID(fields[.xRequestID])
        guard var headers = pipeline.prepareInProcess(fields, authority: request.authority, match: match, requestID: requestID, clientAddress: clientAddress) else {
            return nil
        }
        headers.add(name: "Host", value: target.hostHeader)
        if !Self.noBodyExpected.contains(request.method) { headers.add(name: "Content-Length", value: "0") }
        var upstreamURI = target.basePath + match.upstreamPath
        if let query = uri.query, !query.isEmpty { upstreamURI += "?" + query }
        handledCount.add(1, ordering: .relaxed)
        return Plan(
            target: target,
            head: HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: upstreamURI, headers: headers),
            requestID: requestID,
            routeName: match.route.name,
            timeout: .seconds(Int64(match.route.timeout)),
            retryable: Self.retryableMethods.contains(request.method),
            closeAfter: fields[.connection]?.lowercased() == "close"
        )
    }
}

/// One client connection's share of the event-loop path, placed after Hummingbird's HTTP codec. It passes every
/// request it does not relay to Hummingbird, keeps responses in request order (a relayed request starts only when
/// Hummingbird owes no response, and later pipelined requests wait for it), and takes over the connection's idle
/// timeout and graceful-shutdown handling, which Hummingbird's own handler cannot see for relayed requests.
final class ProxyFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamConnectionDelegate {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A request being relayed.
    final class Exchange {
        let plan: ProxyFastPath.Plan
        var requestEnded = false
        var connection: UpstreamConnection?
        var reused = false
        var retried = false
        var responseStarted = false
        var keepAlive = true
        var timeout: Scheduled<Void>?

        init(plan: ProxyFastPath.Plan) {
            self.plan = plan
        }
    }

    let fastPath: ProxyFastPath
    private var context: ChannelHandlerContext?
    private var pool: UpstreamPool?
    private var clientAddress = "unknown"
    private var exchange: Exchange?
    /// Requests passed to Hummingbird whose response has not been written yet.
    private var slowInProgress = 0
    private var slowRequestBeingRead = false
    /// Pipelined request parts waiting for the exchange in flight.
    private var pending = CircularBuffer<HTTPRequestPart>()
    private var readHeld = false
    private var quiescing = false
    /// An error that arrived behind the exchange in flight (a malformed pipelined request): passed on once the
    /// requests before it are answered, so Hummingbird answers it (400 and close) in order.
    private var pendingError: (any Error)?
    /// What a bare 400 written by the layers below is really answering, and the request id to give it: a parse
    /// error passed on to Hummingbird, or a refused WebSocket upgrade. The 400 is written as this problem instead.
    private var bareBadRequest: (error: GatewayError, requestID: String?)?
    private var lastActivity = NIODeadline.now()
    private var idleTask: Scheduled<Void>?
    private var dateSecond = -1
    private var dateValue = ""

    init(fastPath: ProxyFastPath) {
        self.fastPath = fastPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The first request head has arrived: from here the idle timeout below applies.
        RequestHeadDeadline.stepAside(in: context.pipeline)
        if let refusal = try? context.pipeline.syncOperations.handler(type: UpgradeRefusal.self) {
            bareBadRequest = (refusal.error, refusal.requestID)
        }
        self.context = context
        pool = fastPath.pools.pool(for: context.eventLoop)
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
        pending.removeAll()
        context.fireChannelInactive()
    }

    // MARK: Inbound requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        let part = unwrapInboundIn(data)
        if pending.isEmpty, consume(part, context: context) { return }
        pending.append(part)
    }

    /// Handles one request part; `false` when it belongs to a request that must wait for the exchange in flight.
    private func consume(_ part: HTTPRequestPart, context: ChannelHandlerContext) -> Bool {
        if let exchange {
            guard !exchange.requestEnded else { return false }
            // The relayed request has no body: only its end is left to read.
            if case .end = part { exchange.requestEnded = true }
            return true
        }
        switch part {
        case .head(let request):
            if slowInProgress == 0, !quiescing, let plan = fastPath.plan(request, clientAddress: clientAddress) {
                start(plan, context: context)
                return true
            }
            slowInProgress += 1
            slowRequestBeingRead = true
        case .body:
            break
        case .end:
            slowRequestBeingRead = false
        }
        context.fireChannelRead(wrapInboundOut(part))
        return true
    }

    /// After an exchange: the pipelined parts that waited, then reading resumes.
    private func resume(_ context: ChannelHandlerContext) {
        var forwarded = false
        while let part = pending.first, consume(part, context: context) {
            pending.removeFirst()
            forwarded = true
        }
        if forwarded { context.fireChannelReadComplete() }
        if exchange == nil, pending.isEmpty, let error = pendingError {
            pendingError = nil
            passOn(error, context: context)
            return
        }
        if readHeld, pending.isEmpty, exchange.map({ !$0.requestEnded }) ?? true {
            readHeld = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        // Hold reading while a relayed request is answered, so pipelined requests cannot pile up here.
        if !pending.isEmpty || exchange?.requestEnded == true {
            readHeld = true
            return
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            // Hummingbird does not know of the exchange in flight: the connection closes after it instead.
            if exchange != nil { return }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if exchange != nil || !pending.isEmpty {
            pendingError = pendingError ?? error
            return
        }
        passOn(error, context: context)
    }

    private func passOn(_ error: any Error, context: ChannelHandlerContext) {
        if let parseError = error as? HTTPParserError { bareBadRequest = (.malformed(parseError), nil) }
        context.fireErrorCaught(error)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Back-pressure: read from the upstream only while the client keeps up.
        if let channel = exchange?.connection?.channel {
            try? channel.syncOptions?.setOption(.autoRead, value: context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound (Hummingbird's responses)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        let part = unwrapOutboundIn(data)
        if case .end = part { slowInProgress = max(0, slowInProgress - 1) }
        if let answer = bareBadRequest, case .head(let head) = part, head.status == .badRequest, head.headerFields[.contentLength] == "0",
            head.headerFields[.connection] == "close"
        {
            bareBadRequest = nil
            var (fields, body) = answer.error.framedProblemParts()
            if let requestID = answer.requestID { fields[.xRequestID] = requestID }
            decorate(&fields, closing: true)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.error.status, headerFields: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: promise)
            return
        }
        context.write(data, promise: promise)
    }

    // MARK: The exchange

    private func start(_ plan: ProxyFastPath.Plan, context: ChannelHandlerContext) {
        let exchange = Exchange(plan: plan)
        self.exchange = exchange
        exchange.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: plan.timeout) { [weak self] in
            guard let self, self.exchange === exchange, !exchange.responseStarted else { return }
            self.fastPath.logger.warning("upstream timeout", metadata: ["route": "\(plan.routeName)"])
            self.fail(exchange, GatewayError(.upstreamTimeout, "The upstream did not answer in time."))
        }
        if let connection = pool?.reuse(plan.target) {
            send(exchange, on: connection, reused: true)
        } else {
            connect(exchange)
        }
    }

    private func connect(_ exchange: Exchange) {
        pool?.connect(exchange.plan.target) { [weak self] result in
            guard let self, self.exchange === exchange else {
                if case .success(let connection) = result { connection.channel?.close(promise: nil) }
                return
            }
            switch result {
            case .success(let connection):
                self.send(exchange, on: connection, reused: false)
            case .failure(let error):
                self.fastPath.logger.warning("upstream unavailable", metadata: ["route": "\(exchange.plan.routeName)", "error_type": "\(type(of: error))"])
                self.fail(exchange, GatewayError(.upstreamUnavailable, "The upstream cannot be reached."))
            }
        }
    }

    private func send(_ exchange: Exchange, on connection: UpstreamConnection, reused: Bool) {
        guard let channel = connection.channel else { return }
        exchange.connection = connection
        exchange.reused = reused
        connection.delegate = self
        if let context, !context.channel.isWritable {
            try? channel.syncOptions?.setOption(.autoRead, value: false)
        }
        channel.write(HTTPClientRequestPart.head(exchange.plan.head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func upstreamRead(_ part: HTTPClientResponsePart) {
        guard let exchange, let context else { return }
        switch part {
        case .head(let head):
            // Informational answers (100 Continue, 103 Early Hints) are not relayed.
            guard head.status.code >= 200 else { return }
            exchange.timeout?.cancel()
            exchange.timeout = nil
            exchange.keepAlive = head.isKeepAlive
            exchange.responseStarted = true
            var fields = ProxyHeaders.downstream(from: head.headers)
            fields[.xRequestID] = exchange.plan.requestID
            decorate(&fields, closing: exchange.plan.closeAfter || quiescing)
            let status = HTTPResponse.Status(code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        case .body(let buffer):
            guard exchange.responseStarted else { return }
            context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        case .end:
            guard exchange.responseStarted else { return }
            finish(exchange, reusable: exchange.keepAlive, context: context)
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamClosed() {
        guard let exchange, let context else { return }
        exchange.connection = nil
        if !exchange.responseStarted {
            // A kept-alive connection the upstream had closed: an idempotent request is sent once more on a new one.
            if exchange.reused, !exchange.retried, exchange.plan.retryable {
                exchange.retried = true
                connect(exchange)
                return
            }
            fastPath.logger.warning("upstream unavailable", metadata: ["route": "\(exchange.plan.routeName)", "error_type": "connection closed"])
            fail(exchange, GatewayError(.upstreamUnavailable, "The upstream cannot be reached."))
            return
        }
        // The response was cut off mid-body: the client sees its connection close, as the upstream's did.
        exchange.timeout?.cancel()
        self.exchange = nil
        pending.removeAll()
        context.flush()
        context.close(promise: nil)
    }

    /// Answers the client with `error` as problem+json (nothing of the response has been sent yet).
    private func fail(_ exchange: Exchange, _ error: GatewayError) {
        guard let context else { return }
        if let connection = exchange.connection {
            connection.delegate = nil
            connection.channel?.close(promise: nil)
            exchange.connection = nil
        }
        var (fields, body) = error.framedProblemParts()
        fields[.xRequestID] = exchange.plan.requestID
        decorate(&fields, closing: exchange.plan.closeAfter || quiescing)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: error.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        finish(exchange, reusable: false, context: context)
    }

    private func finish(_ exchange: Exchange, reusable: Bool, context: ChannelHandlerContext) {
        exchange.timeout?.cancel()
        exchange.timeout = nil
        if let connection = exchange.connection {
            exchange.connection = nil
            connection.delegate = nil
            if reusable, let channel = connection.channel {
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                pool?.release(connection)
            } else {
                connection.channel?.close(promise: nil)
            }
        }
        self.exchange = nil
        lastActivity = .now()
        if exchange.plan.closeAfter || quiescing {
            pending.removeAll()
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        resume(context)
    }

    /// The client went away or the connection failed: the upstream connection cannot be reused mid-exchange.
    private func abandonExchange() {
        guard let exchange else { return }
        exchange.timeout?.cancel()
        if let connection = exchange.connection {
            connection.delegate = nil
            connection.channel?.close(promise: nil)
        }
        exchange.connection = nil
        self.exchange = nil
    }

    // MARK: Connection upkeep

    /// The headers Hummingbird adds to its own responses.
    private func decorate(_ fields: inout HTTPFields, closing: Bool) {
        fields[.date] = httpDate()
        fields[.server] = fastPath.serverName
        if closing { fields[.connection] = "close" }
    }

    private func scheduleIdleCheck(_ context: ChannelHandlerContext) {
        guard idleTask == nil else { return }
        let busy = exchange != nil || (slowInProgress > 0 && !slowRequestBeingRead)
        let deadline = busy ? NIODeadline.now() + fastPath.idleTimeout : lastActivity + fastPath.idleTimeout
        idleTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.idleTask = nil
            let busy = self.exchange != nil || (self.slowInProgress > 0 && !self.slowRequestBeingRead)
            if !busy, NIODeadline.now() >= self.lastActivity + self.fastPath.idleTimeout {
                context.close(promise: nil)
                return
            }
            self.scheduleIdleCheck(context)
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
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
