import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// The proxy's event-loop path: a request to a plain-HTTP route without a body, whose credential, resolution and
/// downstream token are all in memory, is relayed by a channel handler to a pooled upstream connection on the same
/// event loop, with no task, no AsyncHTTPClient and no thread hop. Everything else (a first request that mints, an
/// API key, a body, an error to answer) goes to the responder unchanged. Both paths build the upstream request with
/// the same ``ProxyPipeline`` functions, and answer the same headers.
final class ProxyFastPath: Sendable {
    struct Plan {
        var target: UpstreamTarget
        var head: HTTPRequestHead
        var requestID: String
        var routeName: String
        var timeout: TimeAmount
        /// Idempotent: may be sent again on a fresh connection when a reused one turns out closed.
        var retryable: Bool
        /// The client asked to close the connection after this response.
        var closeAfter: Bool
        /// For the request's metrics and access line: who asked, what, and when the request head arrived.
        var caller: Principal? = nil
        var method = "GET"
        var path = ""
        var started = NIODeadline.now()
    }

    let routes: RouteTable
    let targets: [String: UpstreamTarget]
    let pipeline: ProxyPipeline
    let pools: UpstreamPools
    let maximumHeaderBytes: Int
    let idleTimeout: TimeAmount
    let serverName: String
    let logger: Logger
    let observer: RequestObserver
    private let handledCount = Atomic<Int>(0)
    private let enabled = Atomic<Bool>(true)

    init(
        routes: RouteTable, targets: [String: UpstreamTarget], pipeline: ProxyPipeline, pools: UpstreamPools,
        maximumHeaderBytes: Int, idleTimeout: TimeAmount, serverName: String, logger: Logger,
        observer: RequestObserver = .disabled
    ) {
        self.observer = observer
        self.routes = routes
        self.targets = targets
        self.pipeline = pipeline
        self.pools = pools
        self.maximumHeaderBytes = maximumHeaderBytes
        self.idleTimeout = idleTimeout
        self.serverName = serverName
        self.logger = logger
    }

    /// Requests relayed on the event loop since start (tests and diagnostics).
    var handled: Int { handledCount.load(ordering: .relaxed) }

    /// Off: every request goes to the responder (tests compare both paths).
    var isEnabled: Bool {
        get { enabled.load(ordering: .relaxed) }
        set { enabled.store(newValue, ordering: .relaxed) }
    }

    func handler() -> ProxyFastPathHandler {
        ProxyFastPathHandler(fastPath: self)
    }

    static let retryableMethods: Set<HTTPRequest.Method> = [.get, .head, .options, .trace, .put, .delete]
    /// Methods whose empty request gets no `Content-Length: 0` (as AsyncHTTPClient frames them on the other path).
    static let noBodyExpected: Set<HTTPRequest.Method> = [.get, .head, .delete, .connect, .trace]

    /// How to relay `request` on the event loop, or `nil` when the responder must handle it.
    func plan(_ request: HTTPRequest, clientAddress: String) -> Plan? {
        let started = NIODeadline.now()
        // Anything the hygiene rules refuse goes to the responder, which answers it.
        guard isEnabled, request.method != .connect, let rawPath = request.path,
            RequestHygiene.violation(request) == nil
        else { return nil }
        let fields = request.headerFields
        // No request body, nothing to negotiate.
        guard fields[.transferEncoding] == nil, fields[.expect] == nil, fields[.upgrade] == nil else { return nil }
        let lengths = fields[values: .contentLength]
        guard lengths.isEmpty || (lengths.count == 1 && lengths[0] == "0") else { return nil }
        var headerBytes = 0
        for field in fields { headerBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
        guard headerBytes <= maximumHeaderBytes else { return nil }
        let uri = URI(rawPath)
        let path = uri.path
        // The path's safety was checked with the whole target by RequestHygiene above.
        guard let match = routes.match(path: path), let target = targets[match.route.name] else { return nil }
        let requestID = GatewayResponder.requestID(fields[.xRequestID])
        guard
            let (preparedHeaders, caller) = pipeline.prepareInProcess(
                fields, authority: request.authority, match: match, requestID: requestID, clientAddress: clientAddress)
        else {
            return nil
        }
        var headers = preparedHeaders
        headers.add(name: "Host", value: target.hostHeader)
        if !Self.noBodyExpected.contains(request.method) { headers.add(name: "Content-Length", value: "0") }
        var upstreamURI = target.basePath + match.upstreamPath
        if let query = uri.query, !query.isEmpty { upstreamURI += "?" + query }
        handledCount.add(1, ordering: .relaxed)
        return Plan(
            target: target,
            head: HTTPRequestHead(
                version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: upstreamURI,
                headers: headers),
            requestID: requestID,
            routeName: match.route.name,
            timeout: .seconds(Int64(match.route.timeout)),
            retryable: Self.retryableMethods.contains(request.method),
            closeAfter: fields[.connection]?.lowercased() == "close",
            caller: caller, method: request.method.rawValue, path: String(path), started: started
        )
    }
}
