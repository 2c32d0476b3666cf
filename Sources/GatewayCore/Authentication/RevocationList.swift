import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Revoked sessions, in memory for the hot path and backed by the store, so a logout holds across restarts and
/// processes. Only revocations younger than the longest access-token lifetime plus leeway are kept: older ones can
/// no longer have a live access token.
public final class RevocationList: Service, Sendable {
    let store: any GatewayStore
    let clock: any GatewayClock
    let horizon: TimeInterval
    let pollInterval: Duration
    let logger: Logger
    private let revoked = Mutex<[String: Date]>([:])

    public init(
        store: any GatewayStore, clock: any GatewayClock, horizon: TimeInterval, pollInterval: Duration = .seconds(1),
        logger: Logger
    ) {
        self.store = store
        self.clock = clock
        self.horizon = horizon
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func isRevoked(_ sessionID: String) -> Bool {
        revoked.withLock { $0[sessionID] != nil }
    }

    /// Records a revocation made by this process.
    public func add(_ sessionIDs: [String]) {
        let now = clock.now()
        revoked.withLock { list in
            for id in sessionIDs { list[id] = now }
        }
    }

    /// Reloads recent revocations from the store (start-up, and each poll for other processes' logouts).
    public func reload() async throws {
        let now = clock.now()
        let since = now.addingTimeInterval(-horizon)
        let ids = try await store.revokedSessionIDs(since: since)
        revoked.withLock { list in
            list = list.filter { $0.value >= since }
            for id in ids where list[id] == nil { list[id] = now }
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: self.pollInterval)
                    try await self.reload()
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning(
                        "revocation list refresh failed; keeping the current list",
                        metadata: ["error_type": "\(type(of: error))"])
                }
            }
        }
    }
}
