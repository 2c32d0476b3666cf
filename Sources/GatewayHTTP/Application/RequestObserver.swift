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
    /// The access line's format (`log.format`): the line is rendered here, in one pass, and handed to the access
    /// logger whole; building swift-log metadata for it cost the relay about 15% of its throughput (perf, PROFILE.md).
    var format: GatewayConfiguration.Log.Format = .text

    static let disabled = RequestObserver(metrics: .disabled, accessLog: nil)

    /// The route label of an API answer: `none` for a 404 outside the gateway's own path prefixes.
    static func apiRoute(path: Substring, status: Int) -> String {
        guard status == 404 else { return "api" }
        for prefix in RoutePath.reservedPrefixes where path == prefix || path.hasPrefix(prefix + "/") { return "api" }
        return "none"
    }

    func finished(_ record: AccessRecord) {
        metrics.request(
            route: record.route, method: record.method, status: record.status, nanoseconds: record.nanoseconds)
        if let upstream = record.upstreamNanoseconds { metrics.upstream(route: record.route, nanoseconds: upstream) }
        guard let accessLog, accessLog.logLevel <= .info else { return }
        accessLog.info("\(Self.line(record, format: format))")
    }

    /// The access line (SPEC 10 fields, in that order), without its newline: `text` as `key=value` pairs after the
    /// usual `<ts> info access: request` prefix, `json` as one object with numbers as numbers.
    static func line(_ record: AccessRecord, format: GatewayConfiguration.Log.Format, now: Date = Date()) -> String {
        var line = ""
        line.reserveCapacity(320)
        let ts = GatewayLogHandler.timestamp(now)
        func text(_ key: String, _ value: String) {
            line += " "
            line += key
            line += "="
            line += GatewayLogHandler.needsQuotes(value) ? GatewayLogHandler.quoted(value) : value
        }
        func json(_ key: String, _ value: String, quoted: Bool = true) {
            line += ",\""
            line += key
            line += "\":"
            line += quoted ? GatewayLogHandler.quoted(value) : value
        }
        let method = GatewayMetrics.methodLabel(record.method)
        let path = printable(record.path)
        let status = String(record.status)
        let duration = milliseconds(record.nanoseconds)
        let upstream = record.upstreamNanoseconds.map(milliseconds)
        let bytes = String(record.bytes)
        switch format {
        case .text:
            line += ts
            line += " info access: request"
            text("request_id", record.requestID)
            text("method", method)
            text("route", record.route)
            text("path", path)
            text("status", status)
            text("duration_ms", duration)
            if let upstream { text("upstream_ms", upstream) }
            text("bytes", bytes)
            if let tenant = record.tenantID { text("tenant_id", tenant) }
            if let workspace = record.workspaceID { text("workspace_id", workspace) }
            if let principal = record.principal { text("principal", principal) }
        case .json:
            line += "{\"ts\":\""
            line += ts
            line += "\",\"level\":\"info\",\"logger\":\"access\",\"msg\":\"request\""
            json("request_id", record.requestID)
            json("method", method)
            json("route", record.route)
            json("path", path)
            json("status", status, quoted: false)
            json("duration_ms", duration, quoted: false)
            if let upstream { json("upstream_ms", upstream, quoted: false) }
            json("bytes", bytes, quoted: false)
            if let tenant = record.tenantID { json("tenant_id", tenant) }
            if let workspace = record.workspaceID { json("workspace_id", workspace) }
            if let principal = record.principal { json("principal", principal) }
            line += "}"
        }
        return line
    }

    /// Milliseconds with microsecond precision, as text (`0.412`).
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds / 1000)
        let fraction = String(micros % 1000)
        return String(micros / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// At most 256 bytes of the path, control characters replaced, so a line stays one line.
    static func printable(_ path: String) -> String {
        let limited = path.utf8.count > 256 ? String(decoding: path.utf8.prefix(256), as: UTF8.self) + "…" : path
        guard limited.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return limited }
        return String(
            String.UnicodeScalarView(limited.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }
}

extension Duration {
    /// The whole duration in nanoseconds.
    var nanoseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
