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

    /// Places the handler right after `pipeline`'s HTTP request decoder.
    static func install(in pipeline: ChannelPipeline.SynchronousOperations) throws {
        let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try pipeline.addHandler(FirstRequestParseError(), position: .after(decoder.handler))
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
