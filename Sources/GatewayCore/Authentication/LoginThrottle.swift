import Foundation
import Synchronization

/// Throttles password checks (SPEC 5): per account+address, per account from any address (distributed guessing)
/// and per address across accounts (spraying). A check is **reserved before the hash and released after it**, so
/// attempts still in flight count: 200 wrong guesses sent at once for one account from one address get at most
/// `perAccountAndAddress` password checks and 429 for the rest.
///
/// An attacked account never locks out another, and an attacker's address never locks the real user's address out
/// until the account-wide bound, which is ten times higher.
///
/// Across replicas: failures are also recorded in the shared store
/// (``GatewayStore/recordLoginFailure(keys:at:forgetBefore:)``, under digests of the keys) and read back before each
/// reservation, so sequential guesses spread over replicas count together. Checks *in flight* are counted per process,
/// so a burst sent at once to N replicas gets at most N x `perAccountAndAddress` password checks before the first
/// failures are recorded.
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
        /// The store had failures for the account+address key (a success must clear them there too).
        let sharedAccountFailures: Bool

        /// The store's names of its keys, under which a failure is recorded.
        public var sharedKeys: [String] { keys.map(\.shared) }
        /// The store's name of its account+address key, which a successful check clears.
        public var sharedAccountAndAddressKey: String { keys[0].shared }
    }

    /// One throttled key: account+address, account, or address.
    public struct Key: Sendable {
        let name: String
        let allowed: Int
        /// Its name in the shared store: a SHA-256 digest, so the table holds no username or address.
        public let shared: String

        init(name: String, allowed: Int) {
            self.name = name
            self.allowed = allowed
            self.shared = SecretToken.hash(name)
        }
    }

    let limits: Limits
    let clock: any GatewayClock
    private let entries = Mutex<[String: Entry]>([:])

    public init(limits: Limits = Limits(), clock: any GatewayClock) {
        self.limits = limits
        self.clock = clock
    }

    /// The keys of `account` and `address`, account+address first.
    public func keys(account: String, address: String) -> [Key] {
        [
            Key(name: "aa|\(account)|\(address)", allowed: limits.perAccountAndAddress),
            Key(name: "a|\(account)", allowed: limits.perAccount),
            Key(name: "ip|\(address)", allowed: limits.perAddress),
        ]
    }

    /// The lock that `failures` failures of a key allowed `allowed`, the last at `last`, impose.
    func lock(failures: Int, allowed: Int, last: Date) -> Date {
        guard failures >= allowed else { return .distantPast }
        let exponent = min(failures - allowed, 20)
        return last.addingTimeInterval(min(limits.maximumDelay, limits.baseDelay * pow(2, Double(exponent))))
    }

    /// ``reserve(_:shared:)`` for the keys of `account` and `address`.
    public func reserve(account: String, address: String, shared: [String: LoginFailures] = [:]) -> Result<
        Reservation, RetryAfter
    > {
        reserve(keys(account: account, address: address), shared: shared)
    }

    /// Reserves one password check, or returns the seconds to wait (`Retry-After`) when a key is locked or its
    /// failures plus the checks in flight reach its bound. `shared` holds the failures other replicas recorded,
    /// by ``Key/shared``: a key's count is the larger of this process's and the store's.
    public func reserve(_ keys: [Key], shared: [String: LoginFailures] = [:]) -> Result<Reservation, RetryAfter> {
        let now = clock.now()
        return entries.withLock { entries -> Result<Reservation, RetryAfter> in
            var wait: TimeInterval = 0
            for key in keys {
                var entry = entries[key.name] ?? Entry(lastFailure: .distantPast)
                if now.timeIntervalSince(entry.lastFailure) > limits.window, entry.lockedUntil <= now {
                    entry.failures = 0
                    if entries[key.name] != nil { entries[key.name] = entry }
                }
                // Other replicas' failures: taken for this decision, not kept (they are read again next time).
                if let remote = shared[key.shared], remote.count > entry.failures {
                    entry.failures = remote.count
                    entry.lockedUntil = max(
                        entry.lockedUntil, lock(failures: remote.count, allowed: key.allowed, last: remote.last))
                }
                if entry.lockedUntil > now {
                    wait = max(wait, entry.lockedUntil.timeIntervalSince(now))
                } else if entry.failures >= key.allowed
                    ? entry.inFlight > 0 : entry.failures + entry.inFlight >= key.allowed
                {
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
            return .success(Reservation(keys: keys, sharedAccountFailures: shared[keys[0].shared] != nil))
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
                    if key.name.hasPrefix("aa|") {
                        entry.failures = 0
                        entry.lockedUntil = .distantPast
                    }
                } else {
                    if now.timeIntervalSince(entry.lastFailure) > limits.window { entry.failures = 0 }
                    entry.failures += 1
                    entry.lastFailure = now
                    entry.lockedUntil = max(
                        entry.lockedUntil, lock(failures: entry.failures, allowed: key.allowed, last: now))
                }
                entries[key.name] = entry.failures == 0 && entry.inFlight == 0 ? nil : entry
            }
        }
    }

    /// Drops keys idle past the window (never one with a check in flight), then the oldest if still full.
    private func evict(_ entries: inout [String: Entry], now: Date) {
        let cutoff = now.addingTimeInterval(-limits.window)
        entries = entries.filter {
            $0.value.inFlight > 0 || $0.value.lastFailure > cutoff || $0.value.lockedUntil > now
        }
        while entries.count >= limits.maximumEntries,
            let oldest = entries.filter({ $0.value.inFlight == 0 }).min(by: {
                $0.value.lastFailure < $1.value.lastFailure
            })?.key
        {
            entries[oldest] = nil
        }
    }

    /// Seconds to wait before trying again.
    public struct RetryAfter: Error, Sendable, Equatable {
        public var seconds: Int
    }
}
