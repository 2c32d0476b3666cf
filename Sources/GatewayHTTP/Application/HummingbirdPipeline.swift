import HTTPTypes
import NIOCore
import NIOHTTP1

/// Everything the gateway assumes of how Hummingbird lays out a connection's channel pipeline, in one place.
///
/// Checked against **hummingbird 2.28.1** (`HTTP1WebSocketUpgradeChannel`, `HTTP1Channel`, `HTTPChannelHandler`);
/// re-read these facts when that version changes (`Package.resolved`):
/// 1. The WebSocket-capable HTTP/1 channel puts NIO's `ByteToMessageHandler<HTTPRequestDecoder>` in the pipeline
///    first and adds its HTTP handlers (with the `additionalChannelHandlers`, so ``ProxyFastPathHandler``) only once
///    the first request head has been decoded and no upgrade was chosen.
/// 2. Until then it handles no parse error (``FirstRequestParseError`` answers those).
/// 3. Its HTTP handler answers a parse error, and the WebSocket layer answers a refused upgrade, with a bare
///    `400` that has `Content-Length: 0` and `Connection: close` (the gateway writes a problem instead).
/// 4. Its HTTP handler closes the connection on `ChannelShouldQuiesceEvent` when no request is in flight, which is
///    why ``ProxyFastPathHandler`` holds that event back while it relays one.
enum HummingbirdPipeline {
    /// Places `handler` right after the HTTP request decoder (fact 1).
    static func addAfterRequestDecoder(
        _ handler: some ChannelHandler & RemovableChannelHandler, in pipeline: ChannelPipeline.SynchronousOperations
    ) throws {
        let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try pipeline.addHandler(handler, position: .after(decoder.handler))
    }

    /// Called when ``ProxyFastPathHandler`` is added, which by fact 1 means the first request head was decoded:
    /// the first-head deadline steps aside, and a refused upgrade's reason (if the layer refused one) is returned.
    static func firstHeadArrived(in pipeline: ChannelPipeline) -> UpgradeRefusal? {
        RequestHeadDeadline.stepAside(in: pipeline)
        return try? pipeline.syncOperations.handler(type: UpgradeRefusal.self)
    }

    /// Whether `head` is Hummingbird's bare 400 (fact 3).
    static func isBareBadRequest(_ head: HTTPResponse) -> Bool {
        head.status == .badRequest && head.headerFields[.contentLength] == "0"
            && head.headerFields[.connection] == "close"
    }
}
