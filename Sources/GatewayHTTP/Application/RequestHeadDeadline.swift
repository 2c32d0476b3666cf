import HummingbirdCore
import Logging
import NIOCore

/// Closes a connection that has not delivered a complete first request head within `timeout`: without it a
/// client could hold a connection open for ever by sending nothing or a header a byte at a time (slowloris).
/// Hummingbird's WebSocket-capable HTTP/1 channel adds its HTTP handlers, and with them any idle timeout, only
/// once the first head is complete, so this sits at the front of the pipeline until then. It steps aside when the
/// gateway's HTTP handler is added (the first head arrived; ``ProxyFastPathHandler`` keeps the idle timeout from
/// there) or when anything is written (a WebSocket upgrade's 101).
final class RequestHeadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var done = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Forwarded first: a handler leaving the pipeline cannot pass on what it is given.
        context.write(data, promise: promise)
        stepAside(context)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !done else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    /// The first head arrived or an answer is being written: the deadline no longer applies.
    func stepAside(_ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        deadline?.cancel()
        deadline = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Removes the deadline from `pipeline`, if it is there (called when the first request head was decoded).
    static func stepAside(in pipeline: ChannelPipeline) {
        guard let context = try? pipeline.syncOperations.context(handlerType: RequestHeadDeadline.self),
            let handler = context.handler as? RequestHeadDeadline
        else { return }
        handler.stepAside(context)
    }
}

/// A server child channel with ``RequestHeadDeadline`` in front of `inner`'s pipeline and ``FirstRequestParseError``
/// after its request decoder.
struct RequestHeadDeadlineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let timeout = self.timeout
        let inner = self.inner
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestHeadDeadline(timeout: timeout), position: .first)
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            try HummingbirdPipeline.addAfterRequestDecoder(RequestHeadNormalizer(), in: channel.pipeline.syncOperations)
            try HummingbirdPipeline.addAfterRequestDecoder(
                FirstRequestParseError(), in: channel.pipeline.syncOperations)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
