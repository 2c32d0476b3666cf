import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Hands a client's request body to the upstream request so that it has one reader at a time.
///
/// A request body from the server is a view of the connection's inbound stream, which allows one reader. Given the
/// body itself, AsyncHTTPClient reads it in a task of its own, and that task can still be waiting for the next part
/// when the upstream has already answered (or the route's timeout has passed); once the responder returns,
/// Hummingbird reads what is left of the body too, and the second reader traps the process. Here the body is read
/// by a task the relay owns, passed on through a stream with back-pressure, and ``close()``, called before the
/// responder is done, stops that task and waits until it has left the inbound stream. If it was waiting for the
/// client at that point, the wait is cancelled, which ends the inbound stream: the connection is closed after the
/// answer, as the rest of the body will not be read.
final class RequestBodyRelay: Sendable {
    private struct State {
        /// No further read may start.
        var closed = false
        /// The reader is inside the inbound stream.
        var reading = false
        /// ``close()`` calls waiting for the reader to leave the stream.
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        /// Why reading the client's body failed (bad framing from the client, say), when it did.
        var readFailure: (any Error)?
    }

    /// What the upstream request sends.
    let body: RequestBody
    private let state: NIOLockedValueBox<State>
    private let reader: Task<Void, Never>

    init(_ source: RequestBody) {
        let (relayed, sink) = RequestBody.makeStream()
        let state = NIOLockedValueBox(State())
        self.body = relayed
        self.state = state
        self.reader = Task {
            var parts = source.makeAsyncIterator()
            while true {
                let mayRead = state.withLockedValue { state in
                    guard !state.closed else { return false }
                    state.reading = true
                    return true
                }
                guard mayRead else {
                    sink.finish(CancellationError())
                    return
                }
                let part: ByteBuffer?
                let failure: (any Error)?
                do {
                    part = try await parts.next()
                    failure = nil
                } catch {
                    part = nil
                    failure = error
                }
                let waiters = state.withLockedValue { state in
                    state.reading = false
                    if let failure { state.readFailure = failure }
                    defer { state.closeWaiters = [] }
                    return state.closeWaiters
                }
                for waiter in waiters { waiter.resume() }
                guard let part else {
                    if let failure { sink.finish(failure) } else { sink.finish() }
                    return
                }
                await sink.yield(part)
            }
        }
    }

    deinit {
        // A response dropped unwritten never calls close(): stop reading anyway. Cancelling ends the inbound stream
        // at once, so a later reader finds it finished instead of a read in progress.
        reader.cancel()
    }

    /// Why reading the client's body failed, if it did: the upstream call then failed because of the client.
    var readFailure: (any Error)? { state.withLockedValue { $0.readFailure } }

    /// Stops reading the client's body and returns once nothing reads it on the relay's behalf. Idempotent.
    func close() async {
        let reading = state.withLockedValue { state in
            state.closed = true
            return state.reading
        }
        guard reading else { return }
        reader.cancel()
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let mustWait = state.withLockedValue { state in
                guard state.reading else { return false }
                state.closeWaiters.append(waiter)
                return true
            }
            if !mustWait { waiter.resume() }
        }
    }
}
