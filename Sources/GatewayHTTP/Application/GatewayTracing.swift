import Foundation
import GatewayCore
import HTTPTypes
import Logging
import NIOHTTP1
import OTel
import ServiceLifecycle
import Tracing

/// Tracing (SPEC 10): W3C trace context continued from the client (or started), spans for the request, its
/// authentication, resolution, minting and upstream call, exported over OTLP/HTTP (protobuf) by swift-otel when
/// `tracing.otlp_endpoint` is set. Without it there is no tracer, no exporter and nothing on the request path.
///
/// The export runs in swift-otel's batch processor: a bounded queue, exported every second with a timeout, so an
/// unreachable collector never holds a request; spans dropped from the full queue are counted in
/// `iam_gateway_trace_spans_dropped_total`.
struct GatewayTracing: Sendable {
    let tracer: any Tracer
    let service: any Service

    static let traceParentField = HTTPField.Name("traceparent")!

    /// `/v1/traces` below the endpoint unless it names a path (as `OTEL_EXPORTER_OTLP_ENDPOINT` does).
    static func tracesURL(_ endpoint: String) -> String {
        guard let url = URLComponents(string: endpoint), url.path.isEmpty || url.path == "/" else { return endpoint }
        return endpoint.hasSuffix("/") ? endpoint + "v1/traces" : endpoint + "/v1/traces"
    }

    static func make(configuration: GatewayConfiguration, metrics: GatewayMetrics) throws -> GatewayTracing? {
        guard !configuration.tracing.otlpEndpoint.isEmpty else { return nil }
        var otel = OTel.Configuration.default
        otel.serviceName = "iam-gateway"
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.enabled = true
        otel.traces.sampler = .parentBasedAlwaysOn
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = .httpProtobuf
        otel.traces.otlpExporter.endpoint = tracesURL(configuration.tracing.otlpEndpoint)
        otel.traces.otlpExporter.timeout = .seconds(5)
        otel.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        otel.traces.batchSpanProcessor.maxQueueSize = 4096
        otel.propagators = [.traceContext]
        // swift-otel reports spans it dropped from a full queue in its diagnostic log (`dropped_count`).
        otel.diagnosticLogger = .custom(
            Logger(label: "iam-gateway.tracing") { label in
                DroppedSpanCounter(
                    inner: GatewayLogHandler.standard(label: label, level: .warning, format: configuration.log.format),
                    metrics: metrics)
            })
        let backend = try OTel.makeTracingBackend(configuration: otel)
        return GatewayTracing(tracer: backend.factory, service: backend.service)
    }

    /// `traceparent` (W3C Trace Context 3.2): `version-traceid-parentid-flags` in lower-case hex, version not `ff`,
    /// ids not all zeros. A malformed one is never forwarded.
    static func isValidTraceParent(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, bytes[2] == 0x2D, bytes[35] == 0x2D, bytes[52] == 0x2D else { return false }
        let hex: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        for (index, byte) in bytes.enumerated() where ![2, 35, 52].contains(index) && index < 55 {
            guard hex(byte) else { return false }
        }
        let version = bytes[0..<2]
        guard version != [0x66, 0x66] else { return false }
        // Version 00 has exactly 55 characters; a later version may append `-...`.
        guard bytes.count == 55 || (version != [0x30, 0x30] && bytes[55] == 0x2D) else { return false }
        let zero: UInt8 = 0x30
        return !bytes[3..<35].allSatisfy { $0 == zero } && !bytes[36..<52].allSatisfy { $0 == zero }
    }
}

/// Counts the spans swift-otel's batch processor dropped, then logs as usual.
struct DroppedSpanCounter: LogHandler {
    var inner: GatewayLogHandler
    let metrics: GatewayMetrics

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        if let dropped = event.metadata?["dropped_count"].flatMap({ Int($0.description) }), dropped > 0 {
            metrics.spansDropped(dropped)
        }
        inner.log(event: event)
    }
}

/// Reads trace context from a request's fields.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}

/// Writes trace context into an upstream request's headers (replacing what the client sent).
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}

extension Optional where Wrapped == any Tracer {
    /// `body` inside a span named `name` when tracing is on; `body` alone otherwise.
    func span<T>(_ name: String, ofKind kind: SpanKind = .internal, _ body: () async throws -> T) async throws -> T {
        guard let tracer = self else { return try await body() }
        return try await tracer.withSpan(name, ofKind: kind) { _ in try await body() }
    }
}
