import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import Logging
import Synchronization
import Tracing

/// The gateway's front responder: path safety first, then proxy routes (longest whole-segment prefix), then the
/// API router. Every answer carries `X-Request-Id`.
struct GatewayResponder: HTTPResponder {
    typealias Context = GatewayRequestContext

    let api: RouterResponder<GatewayRequestContext>
    let routes: RouteTable
    let proxy: ProxyPipeline
    /// Sum of header name and value bytes above which a request is refused with 431.
    let maximumHeaderBytes: Int
    let observer: RequestObserver
    let tracer: (any Tracer)?

    func respond(to request: Request, context: Context) async throws -> Response {
        // The proxy route, matched once: it serves the answer, the span's name and the metrics' route label.
        let match = routes.match(path: request.uri.path)
        guard let tracer else { return await observed(request, match: match, context: context) }
        // The client's trace continued (a malformed traceparent starts a new one), the request's server span.
        var trace = ServiceContext.topLevel
        tracer.extract(request.headers, into: &trace, using: HTTPFieldsExtractor())
        let route = match?.route.name ?? "api"
        return await tracer.withSpan("\(request.method.rawValue) \(route)", context: trace, ofKind: .server) { span in
            span.attributes["http.request.method"] = request.method.rawValue
            span.attributes["http.route"] = route
            let response = await observed(request, match: match, context: context)
            span.attributes["http.response.status_code"] = Int(response.status.code)
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }

    /// The answer, with its metrics and access line.
    func observed(_ request: Request, match: RouteTable.Match?, context: Context) async -> Response {
        let started = ContinuousClock.now
        let requestID = Self.requestID(request.headers[.xRequestID])
        var response = await answer(request, match: match, context: context, requestID: requestID)
        response.headers[.xRequestID] = requestID
        let path = request.uri.path
        let status = Int(response.status.code)
        let seen = context.observation.snapshot
        observer.finished(
            AccessRecord(
                requestID: requestID, method: request.method.rawValue,
                route: match?.route.name ?? RequestObserver.apiRoute(path: Substring(path), status: status),
                path: path,
                status: status, nanoseconds: (ContinuousClock.now - started).nanoseconds,
                upstreamNanoseconds: seen.upstreamNanoseconds,
                bytes: response.body.contentLength ?? response.headers[.contentLength].flatMap { Int($0) } ?? 0,
                tenantID: seen.tenantID, workspaceID: seen.workspaceID, principal: seen.principal
            ))
        return response
    }

    func answer(_ request: Request, match: RouteTable.Match?, context: Context, requestID: String) async -> Response {
        do {
            var headerBytes = 0
            for field in request.headers { headerBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
            guard headerBytes <= maximumHeaderBytes else {
                throw GatewayError(
                    .requestHeaderFieldsTooLarge, "The request headers exceed \(maximumHeaderBytes) bytes.")
            }
            if let violation = RequestHygiene.violation(request.head) { throw violation }
            if let match {
                return try await proxy.handle(
                    request, match: match, requestID: requestID, clientAddress: context.clientAddress,
                    observation: context.observation)
            }
            var request = request
            if request.headers[.xRequestID] != requestID {
                // API handlers (audit, logs) see only the id the gateway answers with, never a client's malformed one.
                var head = request.head
                head.headerFields[.xRequestID] = requestID
                request = Request(head: head, body: request.body)
            }
            return try await api.respond(to: request, context: context)
        } catch {
            let problem = GatewayError.from(error)
            if error is StoreError { observer.metrics.storeError() }
            if problem.code == .internal {
                context.logger.error(
                    "request failed",
                    metadata: ["error_type": "\(String(reflecting: type(of: error)))", "request_id": "\(requestID)"])
            }
            return problem.problemResponse()
        }
    }

    /// A well-formed client request id (up to 128 of `A-Z a-z 0-9 . _ : -`) is kept for tracing; anything else is
    /// replaced by a generated one.
    static func requestID(_ supplied: String?) -> String {
        if let supplied, !supplied.isEmpty, supplied.utf8.count <= 128,
            supplied.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2E || byte == 0x5F || byte == 0x3A || byte == 0x2D
            })
        {
            return supplied
        }
        return newRequestID()
    }

    /// 32 lower-case hex digits, unpredictable from outside and unique per process: two keyed hashes (SipHash under
    /// the process's random seed) of a counter that starts at a random value. No system call per request (Foundation's
    /// `UUID()` opens /dev/urandom, and `SystemRandomNumberGenerator` calls `getrandom`, each time).
    static func newRequestID() -> String {
        let counter = requestCounter.add(1, ordering: .relaxed).newValue
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for lane in 0..<2 as Range<UInt64> {
            var hasher = Hasher()
            hasher.combine(counter)
            hasher.combine(lane)
            withUnsafeBytes(of: hasher.finalize()) { bytes.append(contentsOf: $0) }
        }
        return SecretToken.hex(bytes)
    }

    private static let requestCounter = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max))
}
