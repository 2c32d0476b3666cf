import GatewayCore
import NIOCore
import NIOHTTP1

/// Answers a first request that is not valid HTTP/1.1 (a broken request line, a malformed header, headers over the
/// decoder's limits) with a problem+json 400 or 431 and closes the connection.
///
/// Hummingbird's WebSocket-capable HTTP/1 channel turns its own handling of parse errors off and only installs its
/// HTTP handlers once the first head has been decoded, so without this such a connection got no answer at all and
/// stayed open until a timeout. This sits right after the request decoder and leaves once the first head has been
/// decoded; parse errors of later requests are answered in order by Hummingbird, and ``ProxyFastPathHandler`` gives
/// that answer its problem+json body.
final class FirstRequestParseError: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if answered { return }
        let isHead = if case .head = unwrapInboundIn(data) { true } else { false }
        context.fireChannelRead(data)
        if isHead { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !answered else { return }
        answered = true
        let written = context.eventLoop.makePromise(of: Void.self)
        let parts = GatewayError.malformed(parseError).closingResponseParts()
        for (index, part) in parts.enumerated() {
            context.write(wrapOutboundOut(part), promise: index == parts.count - 1 ? written : nil)
        }
        context.flush()
        // Input closed before any request: the upgrade handler closes the connection, and Hummingbird takes that
        // as a client gone rather than an error.
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

}

/// Carries why a WebSocket upgrade was refused, from the upgrade decision to ``ProxyFastPathHandler``, which puts
/// it in place of the WebSocket layer's bare 400. It passes every event on unchanged (NIO needs a handler to be
/// inbound or outbound).
final class UpgradeRefusal: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    let error: GatewayError
    let requestID: String

    init(error: GatewayError, requestID: String) {
        self.error = error
        self.requestID = requestID
    }
}

/// Request heads as SPEC 7 wants them before anything else reads them, right after the request decoder:
/// - an HTTP/1.0 request without `Connection: keep-alive` gets `Connection: close`, so the connection is closed
///   after the answer (HTTP/1.0's default) instead of waiting for the idle timeout;
/// - an `Upgrade` to anything but `websocket` (`h2c` from `curl --http2`) is dropped, with its `Connection` token,
///   so the request is answered as plain HTTP/1.1 instead of the connection being closed unanswered.
final class RequestHeadNormalizer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// A WebSocket upgrade was asked for: once its request ends, the decoder may be gone and raw frames follow, so
    /// the normalizer leaves the pipeline.
    private var leaveAfterRequest = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .end = part, leaveAfterRequest {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        // The common case (HTTP/1.1, no Upgrade) passes untouched: this runs for every request.
        guard case .head(var head) = part, head.version == .http1_0 || head.headers.contains(name: "upgrade") else {
            context.fireChannelRead(data)
            return
        }
        func tokens(_ name: String) -> [String] {
            head.headers[name].flatMap { $0.split(separator: ",") }.map {
                RequestAuthenticator.trimmed($0).lowercased()
            }
        }
        if head.version == .http1_0, !tokens("connection").contains("keep-alive") {
            head.headers.replaceOrAdd(name: "Connection", value: "close")
        }
        if head.headers.contains(name: "upgrade"), !tokens("upgrade").allSatisfy({ $0 == "websocket" }) {
            let kept = tokens("connection").filter { $0 != "upgrade" && $0 != "http2-settings" }
            head.headers.remove(name: "Upgrade")
            head.headers.remove(name: "HTTP2-Settings")
            head.headers.remove(name: "Connection")
            if !kept.isEmpty { head.headers.add(name: "Connection", value: kept.joined(separator: ", ")) }
        }
        if head.headers.contains(name: "upgrade") { leaveAfterRequest = true }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
