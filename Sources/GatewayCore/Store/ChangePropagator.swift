import Logging
import ServiceLifecycle

/// Reloads this process's cached shared state as soon as a ``ChangeNotifier`` reports a change: the key ring
/// (``KeyRingManager/maintain()``), the revocation list and the policy versions.
///
/// Bursts are coalesced: at most one reload of a kind runs at a time, and at most one more is queued behind it.
public struct ChangePropagator: Service {
    let notifier: any ChangeNotifier
    let keyRing: KeyRingManager
    let revocations: RevocationList
    let resolver: AccessResolver
    let logger: Logger

    public init(
        notifier: any ChangeNotifier, keyRing: KeyRingManager, revocations: RevocationList, resolver: AccessResolver,
        logger: Logger
    ) {
        self.notifier = notifier
        self.keyRing = keyRing
        self.revocations = revocations
        self.resolver = resolver
        self.logger = logger
    }

    public func run() async throws {
        var continuations: [StoreChange: AsyncStream<Void>.Continuation] = [:]
        var streams: [(StoreChange, AsyncStream<Void>)] = []
        for change in StoreChange.allCases {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            continuations[change] = continuation
            streams.append((change, stream))
        }
        let inbox = continuations
        let outboxes = streams
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for (change, stream) in outboxes {
                    group.addTask {
                        for await _ in stream {
                            await self.reload(change)
                        }
                    }
                }
                group.addTask {
                    do {
                        try await self.notifier.listen { change in
                            inbox[change]?.yield()
                        }
                    } catch {
                        if !(error is CancellationError) {
                            self.logger.error(
                                "change notifications stopped; relying on polling", metadata: ["error": "\(error)"])
                        }
                    }
                    for continuation in inbox.values { continuation.finish() }
                }
            }
        }
    }

    func reload(_ change: StoreChange) async {
        do {
            switch change {
            case .keys: try await keyRing.maintain()
            case .policy: try await resolver.refreshVersions()
            case .sessions: try await revocations.reload()
            }
        } catch {
            logger.warning(
                "reload after a change notification failed; the poll will retry",
                metadata: ["change": "\(change.rawValue)", "error_type": "\(type(of: error))"])
        }
        await notifier.reloaded(change)
    }
}
