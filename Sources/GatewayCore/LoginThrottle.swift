import Foundation
import Synchronization

/// Throttles password checks (SPEC 5): per account+address, per account from any address (distributed guessing)
/// and per address across accounts (spraying). A check is **reserved before the hash and released after it**, so
/// attempts still in flight count: 200 wrong guesses sent at once for one account from one address get at most
/// `perAccountAndAddress` password checks and 429 for the rest.
///
/// An attacked account never locks out another, and an attacker's address never locks the real user's address out
/// until the account-wide bound, which is ten times higher. The counts live in this process: with several replicas
/// behind a load balancer each keeps its own, so the bounds hold per replica (a burst spread over N replicas gets at
/// most N x `perAccountAndAddress` checks).
public final class LoginThrottle: Sendable {
    public struct Limits: Sendable {
        /// Failures (plus checks in flight) allowed before back-off starts, per key kind.
        public var perAccountAndAddress = 5
        public var perAccount = 50
        public var perAddress = 50
        /// First lock in seconds; doubles with each further failure, capped.
        public var baseDelay: TimeInterval = 1
        public var maximumDelay: TimeInterval = 900
        /// A key with no failure for this long is forgotten (the account-wide bound is "50 in 15 minutes").
        public var window: TimeInterval = 900
        /// Bound on tracked keys; the oldest are dropped first.
        public var maximumEntries = 100_000

        public init() {}
    }

    struct Entry {
        var failures = 0
        var inFlight = 0
        var lastFailure: Date
        var lockedUntil = Date.distantPast
    }

    /// A granted password check: release it with ``release(_:succeeded:)`` once the hash is compared.
    public struct Reservation: Sendable {
        let keys: [Key]
        let account: String
        let address: String
    }

    struct Key: Sendable {
        var name: String
        var allowed: Int
    }

    let limits: Limits
    let clock: any GatewayClock
    private let entries = Mutex<[String: Entry]>([:])

    public init(limits: Limits = Limits(), clock: any GatewayClock) {
        self.limits = limits
        self.clock = clock
    }

    func keys(account: String, address: String) -> [Key] {
        [
            Key(name: "aa|\(account)|\(address)", allowed: limits.perAccountAndAddress),
            Key(name: "a|\(account)", allowed: limits.perAccount),
            Key(name: "ip|\(address)", allowed: limits.perAddress),
        ]
    }

    /// Reserves one password check, or returns the seconds to wait (`Retry-After`) when a key is locked or its
    /// failures plus the checks in flight reach its bound.
    public func reserve(account: String, address: String) -> Result<Reservation, RetryAfter> {
        let now = clock.now()
        let keys = keys(account: account, address: address)
        return entries.withLock { entries -> Result<Reservation, RetryAfter> in
            var wait: TimeInterval = 0
            for key in keys {
                guard var entry = entries[key.name] else { continue }
                if now.timeIntervalSince(entry.lastFailure) > limits.window, entry.lockedUntil <= now {
                    entry.failures = 0
                    entries[key.name] = entry
                }
                if entry.lockedUntil > now {
                    wait = max(wait, entry.lockedUntil.timeIntervalSince(now))
                } else if entry.failures >= key.allowed ? entry.inFlight > 0 : entry.failures + entry.inFlight >= key.allowed {
                    // Below the bound, failures plus checks in flight count; past it, once the back-off has passed,
                    // one check at a time.
                    wait = max(wait, limits.baseDelay)
                }
            }
            if wait > 0 { return .failure(RetryAfter(seconds: max(1, Int(wait.rounded(.up))))) }
            if entries.count + keys.count > limits.maximumEntries { evict(&entries, now: now) }
            for key in keys {
                entries[key.name, default: Entry(lastFailure: now)].inFlight += 1
            }
            return .success(Reservation(keys: keys, account: account, address: address))
        }
    }

    /// Ends a reserved check. A failure counts against every key (and may lock it); a success clears the
    /// account+address key (the account- and address-wide counts decay by time).
    public func release(_ reservation: Reservation, succeeded: Bool) {
        let now = clock.now()
        entries.withLock { entries in
            for key in reservation.keys {
                guard var entry = entries[key.name] else { continue }
                entry.inFlight = max(0, entry.inFlight - 1)
                if succeeded {
                    if key.name.hasPrefix("aa|") { entry.failures = 0; entry.lockedUntil = .distantPast }
                } else {
                    if now.timeIntervalSince(entry.lastFailure) > limits.window { entry.failures = 0 }
                    entry.failures += 1
                    entry.lastFailure = now
                    if entry.failures >= key.allowed {
                        let exponent = min(entry.failures - key.allowed, 20)
                        entry.lockedUntil = now.addingTimeInterval(min(limits.maximumDelay, limits.baseDelay * pow(2, Double(exponent))))
                    }
                }
                entries[key.name] = entry.failures == 0 && entry.inFlight == 0 ? nil : entry
            }
        }
    }

    /// Drops keys idle past the window (never one with a check in flight), then the oldest if still full.
    private func evict(_ entries: inout [String: Entry], now: Date) {
        let cutoff = now.addingTimeInterval(-limits.window)
        entries = entries.filter { $0.value.inFlight > 0 || $0.value.lastFailure > cutoff || $0.value.lockedUntil > now }
        while entries.count >= limits.maximumEntries,
            let oldest = entries.filter({ $0.value.inFlight == 0 }).min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key {
            entries[oldest] = nil
        }
    }

    /// Seconds to wait before trying again.
    public struct RetryAfter: Error, Sendable, Equatable {
        public var seconds: Int
    }
}
