import GatewayCore
import Synchronization

/// A replica's ``ChangeNotifier`` as a test sees it: every change passes through, and what the replica did with it
/// is counted, so that a test waits for the event instead of sleeping or polling: the first delivery (the catch-up
/// each connection reports once its `LISTEN` is in place) and every reload the replica finished.
final class ObservedChangeNotifier: ChangeNotifier {
    struct Counts: Sendable {
        /// Changes the listener delivered, catch-ups included.
        var delivered = 0
        /// Reloads the replica finished, by kind.
        var reloaded: [StoreChange: Int] = [:]

        var totalReloaded: Int { reloaded.values.reduce(0, +) }
    }

    private struct State {
        var counts = Counts()
        var watchers: [Int: AsyncStream<Void>.Continuation] = [:]
        var lastWatcher = 0
    }

    private let inner: any ChangeNotifier
    private let state = Mutex(State())

    init(_ inner: any ChangeNotifier) {
        self.inner = inner
    }

    var counts: Counts { state.withLock { $0.counts } }

    func listen(_ handler: @escaping @Sendable (StoreChange) async -> Void) async throws {
        try await inner.listen { change in
            self.update { $0.delivered += 1 }
            await handler(change)
        }
    }

    func reloaded(_ change: StoreChange) async {
        update { $0.reloaded[change, default: 0] += 1 }
    }

    /// Waits until `condition` holds of the counts, checking it each time they change; returns whether it held
    /// before `deadline`. The deadline bounds a wait for an event: it is not a pause.
    func wait(until deadline: ContinuousClock.Instant, for condition: (Counts) -> Bool) async -> Bool {
        let (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            state.lastWatcher += 1
            state.watchers[state.lastWatcher] = changed
            return state.lastWatcher
        }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            changed.finish()
        }
        defer {
            timer.cancel()
            state.withLock { _ = $0.watchers.removeValue(forKey: id) }
        }
        if condition(counts) { return true }
        for await _ in changes where condition(counts) { return true }
        return condition(counts)
    }

    private func update(_ change: (inout Counts) -> Void) {
        let watchers = state.withLock { state in
            change(&state.counts)
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield() }
    }
}
