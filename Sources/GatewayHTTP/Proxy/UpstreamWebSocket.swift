import HTTPTypes
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import Synchronization

/// An upstream WebSocket connection opened *before* the client is answered 101 (SPEC 7: an upstream that cannot be
/// reached is a 502, not a 101 followed by a close). The connection lives in a task of its own, inside
/// `WebSocketClient.connect`'s closure, until ``finish()``; the tunnel borrows its inbound stream and writer.
final class UpstreamWebSocket: Sendable {
    struct Connection: Sendable {
        var inbound: WebSocketInboundStream
        var outbound: WebSocketOutboundWriter
    }

    private struct State {
        var ready: CheckedContinuation<Connection?, Never>?
        var readyResult: Connection??
        var finished = false
        var finishWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Connects and waits for the upstream's handshake, at most `timeout`; `nil` when it failed or took longer.
    static func open(url: String, headers: HTTPFields, maximumMessage: Int, timeout: Duration, logger: Logger) async
        -> (UpstreamWebSocket, Connection)?
    {
        let session = UpstreamWebSocket()
        let task = Task {
            do {
                let configuration = WebSocketClientConfiguration(
                    maxFrameSize: maximumMessage, additionalHeaders: headers)
                try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                    inbound, outbound, _ in
                    session.resolve(Connection(inbound: inbound, outbound: outbound))
                    await session.waitUntilFinished()
                }
            } catch {}
            session.resolve(nil)
        }
        let deadline = Task {
            try await Task.sleep(for: timeout)
            session.resolve(nil)
            session.finish()
            task.cancel()
        }
        let connection = await withCheckedContinuation { (continuation: CheckedContinuation<Connection?, Never>) in
            let early = session.state.withLock { state -> Connection?? in
                if let result = state.readyResult { return result }
                state.ready = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }
        deadline.cancel()
        guard let connection else {
            session.finish()
            return nil
        }
        return (session, connection)
    }

    /// The first outcome wins: the handshake's connection, or `nil` (failure or timeout).
    private func resolve(_ connection: Connection?) {
        let waiter = state.withLock { state -> CheckedContinuation<Connection?, Never>? in
            guard state.readyResult == nil else { return nil }
            state.readyResult = .some(connection)
            defer { state.ready = nil }
            return state.ready
        }
        waiter?.resume(returning: connection)
    }

    private func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.finished { return true }
                state.finishWaiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Lets the upstream connection close (its closure returns). Idempotent.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.finishWaiter = nil }
            return state.finishWaiter
        }
        waiter?.resume()
    }
}
