import CoreMetrics
import Foundation
import Synchronization

/// The gateway's metrics (SPEC 10), recorded through swift-metrics into the factory given at start-up (the
/// Prometheus registry of `metrics.listen`; a no-op factory when metrics are off and in tests that do not look).
///
/// Label values are bounded by construction: route names come from the configuration (or the reserved `api` and
/// `none`), methods are folded to the standard ones or `OTHER`, statuses are numeric codes, and the remaining labels
/// are the fixed enumerations below. No label ever carries a tenant, user or token.
public final class GatewayMetrics: Sendable {
    public enum TokenKind: String, CaseIterable, Sendable { case access, downstream, refresh, id }
    public enum LoginResult: String, CaseIterable, Sendable {
        case success
        case invalidCredentials = "invalid_credentials"
        case throttled, denied
    }

    public let factory: any MetricsFactory
    let minted: [TokenKind: Counter]
    let logins: [LoginResult: Counter]
    let downstreamCacheHits: Counter
    let downstreamCacheMisses: Counter
    let refreshReuse: Counter
    let storeErrors: Counter
    let droppedSpans: Counter
    /// Request counters and timers by label set, made once each (a factory call takes the registry's lock and
    /// allocates the label array; this table is read under a short lock of its own).
    private let handles = Mutex(Handles())

    struct Handles {
        var requests: [RequestKey: Counter] = [:]
        var durations: [String: CoreMetrics.Timer] = [:]
        var upstream: [String: CoreMetrics.Timer] = [:]
    }

    /// Latency buckets for this gateway: a cached proxy decision takes tens of microseconds, a password check tens of
    /// milliseconds, an upstream call up to its timeout.
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1),
        .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    public static let requestsTotal = "iam_gateway_http_requests_total"
    public static let requestDuration = "iam_gateway_http_request_duration_seconds"
    public static let upstreamDuration = "iam_gateway_upstream_request_duration_seconds"
    public static let signingKeyAge = "iam_gateway_signing_key_age_seconds"

    public init(factory: any MetricsFactory) {
        self.factory = factory
        minted = Dictionary(
            uniqueKeysWithValues: TokenKind.allCases.map {
                (
                    $0,
                    Counter(
                        label: "iam_gateway_tokens_minted_total", dimensions: [("kind", $0.rawValue)], factory: factory)
                )
            })
        logins = Dictionary(
            uniqueKeysWithValues: LoginResult.allCases.map {
                (
                    $0,
                    Counter(label: "iam_gateway_logins_total", dimensions: [("result", $0.rawValue)], factory: factory)
                )
            })
        downstreamCacheHits = Counter(label: "iam_gateway_downstream_token_cache_hits_total", factory: factory)
        downstreamCacheMisses = Counter(label: "iam_gateway_downstream_token_cache_misses_total", factory: factory)
        refreshReuse = Counter(label: "iam_gateway_refresh_reuse_detected_total", factory: factory)
        storeErrors = Counter(label: "iam_gateway_store_errors_total", factory: factory)
        droppedSpans = Counter(label: "iam_gateway_trace_spans_dropped_total", factory: factory)
    }

    /// Records nothing.
    public static let disabled = GatewayMetrics(factory: NOOPMetricsHandler.instance)

    public func minted(_ kind: TokenKind) { minted[kind]?.increment() }
    public func downstreamCache(hit: Bool) { (hit ? downstreamCacheHits : downstreamCacheMisses).increment() }
    public func refreshReuseDetected() { refreshReuse.increment() }
    public func storeError() { storeErrors.increment() }
    public func spansDropped(_ count: Int) { droppedSpans.increment(by: count) }
    public func login(_ result: LoginResult) { logins[result]?.increment() }

    // MARK: - Requests

    struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    /// `method` folded to a bounded set (SPEC 10).
    public static func methodLabel(_ method: String) -> String {
        switch method {
        case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE": method
        default: "OTHER"
        }
    }

    /// One request answered: counted by route, method and status, its duration in the route's histogram.
    public func request(route: String, method: String, status: Int, nanoseconds: Int64) {
        let key = RequestKey(route: route, method: Self.methodLabel(method), status: status)
        let (count, duration) = handles.withLock { table in
            let count =
                table.requests[key]
                ?? {
                    let made = Counter(
                        label: Self.requestsTotal,
                        dimensions: [("route", key.route), ("method", key.method), ("status", String(key.status))],
                        factory: factory)
                    table.requests[key] = made
                    return made
                }()
            let duration =
                table.durations[key.route]
                ?? {
                    let made = CoreMetrics.Timer(
                        label: Self.requestDuration, dimensions: [("route", key.route)], factory: factory)
                    table.durations[key.route] = made
                    return made
                }()
            return (count, duration)
        }
        count.increment()
        duration.recordNanoseconds(nanoseconds)
    }

    /// The time an upstream took to answer (headers received), by route.
    public func upstream(route: String, nanoseconds: Int64) {
        let timer = handles.withLock { table in
            if let found = table.upstream[route] { return found }
            let made = CoreMetrics.Timer(label: Self.upstreamDuration, dimensions: [("route", route)], factory: factory)
            table.upstream[route] = made
            return made
        }
        timer.recordNanoseconds(nanoseconds)
    }
}
