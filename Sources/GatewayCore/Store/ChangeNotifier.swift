/// Shared state another gateway replica can change.
public enum StoreChange: String, Sendable, CaseIterable {
    /// The key ring: a rotation, a revocation, a retirement.
    case keys
    /// A policy version (role, assignment, principal or workspace change).
    case policy
    /// A session revocation (logout, refresh-token reuse, deleted principal).
    case sessions
}

/// Tells this process at once when another process changed shared state (PostgreSQL `LISTEN/NOTIFY`), so that it
/// reloads without waiting for its next poll. The periodic polls stay as the safety net.
public protocol ChangeNotifier: Sendable {
    /// Delivers changes to `handler` until cancelled. After every (re)connection it delivers every kind once,
    /// since changes made while disconnected were not announced.
    func listen(_ handler: @escaping @Sendable (StoreChange) async -> Void) async throws

    /// Told each time this process has finished the reload a delivered change called for (successfully or not;
    /// a failure is logged). Nothing by default; tests await propagation through it instead of polling.
    func reloaded(_ change: StoreChange) async
}

extension ChangeNotifier {
    public func reloaded(_ change: StoreChange) async {}
}
