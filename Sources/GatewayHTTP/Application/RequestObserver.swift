import Foundation
import GatewayCore
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// What one request did, for its metrics and its access line (SPEC 10). Never a token, a credential or a query.
struct AccessRecord {
    var requestID: String
    var method: String
    /// The proxy route's name, `api` for the gateway's own endpoints, `none` for a path nothing serves.
    var route: String
    /// The path without its query.
    var path: String
    var status: Int
    var nanoseconds: Int64
    var upstreamNanoseconds: Int64?
    /// Response body bytes written (or announced by Content-Length when streamed).
    var bytes: Int
    var tenantID: String?
    var workspaceID: String?
    var principal: String?
}

/// Who a request turned out to be and how long its upstream took: filled in by the handlers of an API request or a
/// proxied one, read once the answer is written.
final class RequestObservation: Sendable {
    struct State {
        var tenantID: String?
        var workspaceID: String?
        var principal: String?
        var upstreamNanoseconds: Int64?
    }

    private let state = Mutex(State())

    func caller(_ principal: Principal) {
        state.withLock {
            $0.tenantID = principal.tenantID
            $0.workspaceID = principal.workspaceID
            $0.principal = principal.subject
        }
    }

    func upstream(nanoseconds: Int64) {
        state.withLock { $0.upstreamNanoseconds = nanoseconds }
    }

    var snapshot: State { state.withLock { $0 } }
}

/// A request context that carries a ``RequestObservation``.
protocol ObservedRequestContext {
    var observation: RequestObservation { get }
}

/// Records every answered request: the request counter and duration histogram (and the upstream one), and the access
/// line on the access logger when access logging is on.
struct RequestObserver: Sendable {
    let metrics: GatewayMetrics
    let accessLog: Logger?

    static let disabled = RequestObserver(metrics: .disabled, accessLog: nil)

    /// The route label of an API answer: `none` for a 404 outside the gateway's own path prefixes.
    static func apiRoute(path: Substring, status: Int) -> String {
        guard status == 404 else { return "api" }
        for prefix in ["/v1", "/.well-known", "/oauth", "/console"] where path == prefix || path.hasPrefix(prefix + "/") { return "api" }
        return "none"
    }

    func finished(_ record: AccessRecord) {
        metrics.request(route: record.route, method: record.method, status: record.status, nanoseconds: record.nanoseconds)
        if let upstream = record.upstreamNanoseconds { metrics.upstream(route: record.route, nanoseconds: upstream) }
        guard let accessLog else { return }
        var metadata: Logger.Metadata = [
            "request_id": .string(record.requestID),
            "method": .string(GatewayMetrics.methodLabel(record.method)),
            "route": .string(record.route),
            "path": .string(Self.printable(record.path)),
            "status": .stringConvertible(record.status),
            "duration_ms": .stringConvertible(Self.milliseconds(record.nanoseconds)),
            "bytes": .stringConvertible(record.bytes),
        ]
        if let upstream = record.upstreamNanoseconds { metadata["upstream_ms"] = .stringConvertible(Self.milliseconds(upstream)) }
        if let tenant = record.tenantID { metadata["tenant_id"] = .string(tenant) }
        if let workspace = record.workspaceID { metadata["workspace_id"] = .string(workspace) }
        if let principal = record.principal { metadata["principal"] = .string(principal) }
        accessLog.info("request", metadata: metadata)
    }

    /// Milliseconds with microsecond precision.
    static func milliseconds(_ nanoseconds: Int64) -> Double {
        Double(nanoseconds / 1000) / 1000
    }

    /// At most 256 bytes of the path, control characters replaced, so a line stays one line.
    static func printable(_ path: String) -> String {
        let limited = path.utf8.count > 256 ? String(decoding: path.utf8.prefix(256), as: UTF8.self) + "…" : path
        guard limited.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return limited }
        return String(String.UnicodeScalarView(limited.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }
}

extension Duration {
    /// The whole duration in nanoseconds.
    var nanoseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
