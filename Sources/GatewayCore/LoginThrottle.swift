import Foundation
import Synchronization

/// Throttles failed logins with exponential back-off, independently per account+address, per account (from any
/// address, against distributed guessing) and per address (against spraying many accounts). One attacked account
/// never locks out another, and an attacker's address never locks out the real user's address until the account-
/// wide threshold, which is several times higher.
public final class LoginThrottle: Sendable {
    public struct Limits: Sendable {
        /// Failures allowed before back-off starts, per key kind.
        public var perAccountAndAddress = 5
        public var perAccount = 20
        public var perAddress = 50
        /// First lock in seconds; doubles with each further failure, capped.
        public var baseDelay: TimeInterval = 1
        public var maximumDelay: TimeInterval = 900
        /// A key with no failure for this long is forgotten.
        public var window: TimeInterval = 900
        /// Bound on tracked keys; the oldest are dropped first.
        public var maximumEntries = 100_000

        public init() {}
    }

    struct Entry {
        var failures: Int
        var lastFailure: Date
        var lockedUntil: Date
    }

    let limits: Limits
    let clock: any GatewayClock
    private let entries = Mutex<[String: Entry]>([:])

    public init(limits: Limits = Limits(), clock: any GatewayClock) {
        self.limits = limits
        self.clock = clock
    }

    func keys(account: String, address: String) -> [(String, Int)] {
        [("aa|\(account)|\(address)", limits.perAccountAndAddress), ("a|\(account)", limits.perAccount), ("ip|\(address)", limits.perAddress)]
    }

    /// Seconds the caller must wait, or `nil` when a login may be tried now.
    public func retryAfter(account: String, address: String) -> Int? {
        let now = clock.now()
        return entries.withLock { entries in
            var wait: TimeInterval = 0
            for (key, _) in keys(account: account, address: address) {
                if let entry = entries[key], entry.lockedUntil > now {
                    wait = max(wait, entry.lockedUntil.timeIntervalSince(now))
                }
            }
            return wait > 0 ? max(1, Int(wait.rounded(.up))) : nil
        }
    }

    public func recordFailure(account: String, address: String) {
        let now = clock.now()
        entries.withLock { entries in
            if entries.count >= limits.maximumEntries {
                let cutoff = now.addingTimeInterval(-limits.window)
                entries = entries.filter { $0.value.lastFailure > cutoff }
                if entries.count >= limits.maximumEntries, let oldest = entries.min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key {
                    entries[oldest] = nil
                }
            }
            for (key, allowed) in keys(account: account, address: address) {
                var entry = entries[key] ?? Entry(failures: 0, lastFailure: now, lockedUntil: .distantPast)
                if now.timeIntervalSince(entry.lastFailure) > limits.window { entry.failures = 0 }
                entry.failures += 1
                entry.lastFailure = now
                if entry.failures >= allowed {
                    let exponent = min(entry.failures - allowed, 20)
                    let delay = min(limits.maximumDelay, limits.baseDelay * pow(2, Double(exponent)))
                    entry.lockedUntil = now.addingTimeInterval(delay)
                }
                entries[key] = entry
            }
        }
    }

    /// A successful login clears its account+address key (the account- and address-wide counts decay by time).
    public func recordSuccess(account: String, address: String) {
        entries.withLock { $0["aa|\(account)|\(address)"] = nil }
    }
}
