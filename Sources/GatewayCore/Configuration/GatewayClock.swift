import Foundation
import Synchronization

/// The source of "now" wherever expiry or rotation is decided; tests move a ``ManualClock`` instead of sleeping.
public protocol GatewayClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemClock: GatewayClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to.
public final class ManualClock: GatewayClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}

extension Date {
    /// Whole seconds since 1970, as JWT NumericDate.
    public var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
}
