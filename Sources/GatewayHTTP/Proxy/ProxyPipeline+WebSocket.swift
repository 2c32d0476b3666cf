import GatewayCore
import HTTPTypes
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// WebSocket upgrades on a proxy route: authenticated and authorized like any request (stages 1 to 4), then
/// tunnelled to the upstream, with the downstream token attached to the upstream handshake, message by message in
/// both directions. A request that is refused is not upgraded: the HTTP path answers it (401, 403, 404...).
extension ProxyPipeline {
    /// Largest message relayed in either direction.
    static let maximumWebSocketMessage = 1 << 20

    func webSocketUpgrade(
        _ head: HTTPRequest, routes: RouteTable, clientAddress: String,
        refused: (GatewayError, _ requestID: String) async -> Void
    ) async -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let requestID = GatewayResponder.requestID(head.headerFields[.xRequestID])
        guard let target = head.path else {
            await refused(.invalidRequest("The request has no path."), requestID)
            return .dontUpgrade
        }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        if let violation = RequestHygiene.violation(head) ?? webSocketViolation(head) {
            await refused(violation, requestID)
            return .dontUpgrade
        }
        guard let match = routes.match(path: path) else {
            await refused(.notFound("No route matches this path."), requestID)
            return .dontUpgrade
        }
        let headers: HTTPHeaders
        let principal: Principal
        do {
            (principal, headers) = try await authorize(
                head.headerFields, authority: head.authority, match: match, requestID: requestID,
                clientAddress: clientAddress)
        } catch {
            await refused(GatewayError.from(error), requestID)
            return .dontUpgrade
        }
        var upstream = match.route.upstream
        while upstream.hasSuffix("/") { upstream.removeLast() }
        if upstream.hasPrefix("https://") {
            upstream = "wss://" + upstream.dropFirst("https://".count)
        } else {
            upstream = "ws://" + upstream.dropFirst("http://".count)
        }
        let query = parts.count == 2 && !parts[1].isEmpty ? "?" + parts[1] : ""
        let url = upstream + match.upstreamPath + query
        var fields = HTTPFields()
        for (name, value) in headers where !name.lowercased().hasPrefix("sec-websocket-") {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        // The upstream handshake completes before the client gets 101; else the client gets 502.
        guard
            let (session, connection) = await UpstreamWebSocket.open(
                url: url, headers: fields, maximumMessage: Self.maximumWebSocketMessage,
                timeout: .seconds(Int64(match.route.timeout)), logger: Self.quietLogger
            )
        else {
            logger.warning("websocket upstream unavailable", metadata: ["route": "\(match.route.name)"])
            await refused(
                GatewayError(.upstreamUnavailable, "The upstream did not accept the WebSocket connection."), requestID)
            return .dontUpgrade
        }
        // If the client's side never starts (the upgrade fails after this), the upstream is let go.
        let started = Atomic<Bool>(false)
        Task {
            try? await Task.sleep(for: .seconds(30))
            if !started.load(ordering: .relaxed) { session.finish() }
        }
        let logger = self.logger
        let route = match.route
        return .upgrade([.xRequestID: requestID]) { inbound, outbound, _ in
            started.store(true, ordering: .relaxed)
            defer { session.finish() }
            do {
                try await Self.tunnel(inbound: inbound, outbound: outbound, upstream: connection) {
                    await self.stillAuthorized(principal, route: route)
                }
            } catch {
                logger.warning(
                    "websocket tunnel ended with an error",
                    metadata: ["route": "\(route.name)", "error_type": "\(type(of: error))"])
                try? await outbound.close(.unexpectedServerError, reason: "upstream failed")
            }
        }
    }

    /// How often an open tunnel re-checks its principal (SPEC 7: closed within a second of a revocation).
    static let tunnelRecheckInterval: Duration = .milliseconds(400)

    /// SPEC 7's WebSocket rules: GET only; at most one `Origin`; an upgrade authenticated by the session cookie needs
    /// an `Origin` listed in `http.allowed_origins` (cross-site WebSocket hijacking).
    func webSocketViolation(_ head: HTTPRequest) -> GatewayError? {
        guard head.method == .get else { return .invalidRequest("A WebSocket upgrade must be a GET request.") }
        let origins = head.headerFields[values: HTTPField.Name("Origin")!]
        guard origins.count <= 1 else { return .invalidRequest("A WebSocket upgrade may carry one Origin header.") }
        let fields = head.headerFields
        let usesCookie =
            fields[.authorization] == nil && fields[HTTPField.Name("X-API-Key")!] == nil
            && fields[values: .cookie].contains { $0.contains(SessionCookie.name + "=") }
        if usesCookie {
            guard let origin = origins.first?.lowercased(), allowedOrigins.contains(origin) else {
                return .forbidden(
                    "A WebSocket authenticated by the session cookie needs an Origin listed in http.allowed_origins.")
            }
        }
        return nil
    }

    static func tunnel(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, upstream: UpstreamWebSocket.Connection,
        stillAuthorized: @escaping @Sendable () async -> Bool
    ) async throws {
        let upstreamInbound = upstream.inbound
        let upstreamOutbound = upstream.outbound
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: maximumWebSocketMessage) {
                    try await upstreamOutbound.write(Self.frame(message))
                }
                try await upstreamOutbound.close(.normalClosure, reason: nil)
            }
            group.addTask {
                for try await message in upstreamInbound.messages(maxSize: maximumWebSocketMessage) {
                    try await outbound.write(Self.frame(message))
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            group.addTask {
                // The session revoked, the principal deleted or its permission gone: close with 1008.
                while true {
                    try await Task.sleep(for: tunnelRecheckInterval)
                    if await !stillAuthorized() {
                        try? await upstreamOutbound.close(.normalClosure, reason: nil)
                        try await outbound.close(.policyViolation, reason: "access revoked")
                        return
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func frame(_ message: WebSocketMessage) -> WebSocketOutboundWriter.OutboundFrame {
        switch message {
        case .text(let text): .text(text)
        case .binary(let buffer): .binary(buffer)
        }
    }
}
