import Foundation
import GatewayCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Where a plain-HTTP route sends its requests: connection target, `Host` header and base path, parsed once.
struct UpstreamTarget: Hashable, Sendable {
    var host: String
    var port: Int
    /// `host` or `host:port` (the port only when it is not 80), as AsyncHTTPClient sends it.
    var hostHeader: String
    /// The upstream URL's path without trailing slashes ("" for none).
    var basePath: String

    /// The target of an `http://` upstream URL; `nil` for `https://` (those go through AsyncHTTPClient).
    init?(upstream: String) {
        guard let components = URLComponents(string: upstream), components.scheme?.lowercased() == "http",
            var host = components.host, !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? 80
        self.host = host
        self.port = port
        let authority = host.contains(":") ? "[\(host)]" : host
        self.hostHeader = port == 80 ? authority : "\(authority):\(port)"
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
    }

    /// The targets of every plain-HTTP route, by route name.
    static func byRoute(_ routes: [GatewayConfiguration.Route]) -> [String: UpstreamTarget] {
        var targets: [String: UpstreamTarget] = [:]
        for route in routes {
            if let target = UpstreamTarget(upstream: route.upstream) { targets[route.name] = target }
        }
        return targets
    }
}

/// Receives an upstream connection's response parts while it serves one exchange.
protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamRead(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    /// The connection failed or closed before the exchange finished.
    func upstreamClosed()
}

/// The end of one keep-alive connection to an upstream, on the event loop of the client connections it serves.
final class UpstreamConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    let target: UpstreamTarget
    weak var delegate: (any UpstreamConnectionDelegate)?
    /// Set once the pipeline is active; the pool drops the connection when it closes.
    var channel: (any Channel)?
    weak var pool: UpstreamPool?
    var idleSince = NIODeadline.now()
    var isOpen = true

    init(target: UpstreamTarget, pool: UpstreamPool?) {
        self.target = target
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        delegate?.upstreamRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        pool?.remove(self)
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamClosed()
    }
}

/// Idle keep-alive connections to upstreams, one pool per event loop so a client connection and its upstream
/// connection share a thread: the relay never hops between threads or tasks. Touched only on its event loop (the
/// pools hold it in a `NIOLoopBound`).
final class UpstreamPool: UpstreamConnector {
    let eventLoop: any EventLoop
    let connectTimeout: TimeAmount
    let idleTimeout: TimeAmount
    /// Idle connections kept per upstream and event loop; a connection released beyond that is closed, so a burst
    /// does not leave thousands of sockets open to the upstream.
    static let maximumIdlePerTarget = 128
    private var idle: [UpstreamTarget: [UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop, connectTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
    }

    /// An open idle connection to `target` (most recently used first), if any; stale ones are closed.
    func reuse(_ target: UpstreamTarget) -> UpstreamConnection? {
        eventLoop.preconditionInEventLoop()
        let now = NIODeadline.now()
        while let connection = idle[target]?.popLast() {
            if connection.isOpen, let channel = connection.channel, channel.isActive,
                now - connection.idleSince < idleTimeout
            {
                return connection
            }
            connection.channel?.close(promise: nil)
        }
        return nil
    }

    /// A new connection to `target`.
    func connect(_ target: UpstreamTarget, _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void) {
        eventLoop.preconditionInEventLoop()
        let connection = UpstreamConnection(target: target, pool: self)
        let handler = NIOLoopBound(connection, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // No second header validation: every field came through HTTPTypes (which does not admit CR,
                    // LF or NUL) or is one the gateway sets from validated values (its cost: Benchmarks/PROFILE.md).
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
            .connect(host: target.host, port: target.port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    connection.channel = channel
                    completion(.success(connection))
                case .failure(let error):
                    completion(.failure(error))
                }
            }
    }

    /// Returns a connection whose exchange ended cleanly (keep-alive, whole response read).
    func release(_ connection: UpstreamConnection) {
        eventLoop.preconditionInEventLoop()
        connection.delegate = nil
        guard connection.isOpen else { return }
        guard idle[connection.target, default: []].count < Self.maximumIdlePerTarget else {
            connection.channel?.close(promise: nil)
            return
        }
        connection.idleSince = .now()
        idle[connection.target, default: []].append(connection)
    }

    func remove(_ connection: UpstreamConnection) {
        guard var list = idle[connection.target], let index = list.firstIndex(where: { $0 === connection }) else {
            return
        }
        list.remove(at: index)
        idle[connection.target] = list
    }

    func closeAll() {
        for connection in idle.values.joined() { connection.channel?.close(promise: nil) }
        idle.removeAll()
    }
}

/// The pools of all event loops.
final class UpstreamPools: Sendable {
    let connectTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private let pools = Mutex<[ObjectIdentifier: NIOLoopBound<UpstreamPool>]>([:])

    init(connectTimeout: TimeAmount = .seconds(5), idleTimeout: TimeAmount = .seconds(60)) {
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
    }

    /// The pool of `eventLoop`; call on that event loop.
    func pool(for eventLoop: any EventLoop) -> UpstreamPool {
        let bound = pools.withLock { pools in
            let id = ObjectIdentifier(eventLoop)
            if let pool = pools[id] { return pool }
            let pool = NIOLoopBound(
                UpstreamPool(eventLoop: eventLoop, connectTimeout: connectTimeout, idleTimeout: idleTimeout),
                eventLoop: eventLoop)
            pools[id] = pool
            return pool
        }
        return bound.value
    }

    /// Closes every idle upstream connection (graceful shutdown).
    func closeAll() async {
        let all = pools.withLock { Array($0.values) }
        for pool in all {
            try? await pool.eventLoop.submit { pool.value.closeAll() }.get()
        }
    }
}
