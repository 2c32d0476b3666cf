import AsyncHTTPClient
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// Builds the gateway's HTTP application from its parts. Long-lived parts (the key ring's maintenance loop, the
/// revocation list's refresh, the policy-version poll) run as services of the application and stop on graceful
/// shutdown (SIGTERM, SIGINT).
///
/// With a `changes` notifier (PostgreSQL `LISTEN/NOTIFY`), another replica's key rotation, logout or policy change
/// triggers the matching reload at once; the one-second polls stay as the safety net.
public func buildApplication(
    configuration: GatewayConfiguration,
    store: any GatewayStore,
    keyRing: KeyRingManager,
    changes: (any ChangeNotifier)? = nil,
    clock: any GatewayClock = SystemClock(),
    logger: Logger
) async throws -> some ApplicationProtocol {
    let gateway = try await Gateway(
        configuration: configuration, store: store, keyRing: keyRing, clock: clock, logger: logger)
    return buildApplication(gateway: gateway, changes: changes, logger: logger)
}

/// The application of already wired parts (tests read the gateway's counters).
/// `onServerRunning` is called once the listener is bound (tests and the CLI learn the port from it).
public func buildApplication(
    gateway: Gateway, changes: (any ChangeNotifier)? = nil, logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = gateway.configuration
    let keyRing = gateway.keyRing
    // The event-loop proxy path sits after the HTTP codec and keeps the idle timeout (`http.idle_timeout`) itself:
    // Hummingbird's handler behind it does not see the requests it relays.
    let fastPath = gateway.proxyFastPath
    let server = HTTP1Channel.Configuration(
        additionalChannelHandlers: [fastPath.handler()],
        idleTimeout: nil,
        httpDecoderConfiguration: .init(
            maxHeaderFieldSize: 64 * 1024, maxHeaderListSize: 64 * 1024, maxHeaderFieldCount: 200)
    )
    var services: [any Service] = [
        keyRing, gateway.revocations, gateway.resolver,
        HTTPClientService(client: gateway.httpClient, pools: gateway.upstreamPools), HeapTrimmer(logger: logger),
    ]
    if let tls = gateway.tls { services.append(tls) }
    if let metrics = gateway.metricsApplication(logger: logger) { services.append(metrics) }
    if let tracing = gateway.tracing { services.append(tracing.service) }
    if let changes {
        services.append(
            ChangePropagator(
                notifier: changes, keyRing: keyRing, revocations: gateway.revocations, resolver: gateway.resolver,
                logger: logger))
    }
    return Application(
        responder: gateway.responder(),
        // HTTP/1 with WebSocket upgrades on proxy routes, behind a deadline for the first request head.
        server: HTTPServerBuilder { responder -> any ServerChildChannel in
            let plain = RequestHeadDeadlineChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: .init(http1: server)) {
                    head, channel, _ in
                    await gateway.proxy.webSocketUpgrade(
                        head, routes: gateway.routes, clientAddress: channel.remoteAddress?.ipAddress ?? "unknown"
                    ) { error, requestID in
                        // The WebSocket layer answers a refusal with a bare 400; this gives it the problem.
                        try? await channel.pipeline.addHandler(UpgradeRefusal(error: error, requestID: requestID))
                    }
                },
                timeout: .seconds(Int64(configuration.http.idleTimeout))
            )
            // `http.tls`: HTTPS on the same port, the certificate re-read when its files change.
            guard let tls = gateway.tls else { return plain }
            return ReloadingTLSChannel(inner: plain, tls: tls)
        },
        configuration: .init(
            address: .hostname(configuration.http.host, port: configuration.http.port), serverName: Gateway.serverName),
        services: services,
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// The gateway's parts, wired once.
public struct Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let store: any GatewayStore
    public let keyRing: KeyRingManager
    public let clock: any GatewayClock
    public let auth: AuthService
    public let revocations: RevocationList
    public let audit: AuditLog
    public let resolver: AccessResolver
    /// The admin plane's domain services: every write is authorized by ``AuthorizationPolicy`` there.
    public let iam: IAMService
    public let directory: DirectoryService
    /// The OAuth 2.0 token endpoint's decisions.
    public let oauth: OAuthService
    /// The metrics every part records into (SPEC 10), and the Prometheus registry behind them when
    /// `metrics.listen` is set (`nil`: metrics are off and cost nothing).
    public let metrics: GatewayMetrics
    public let metricsRegistry: PrometheusCollectorRegistry?
    /// Request counters, durations and access lines.
    let observer: RequestObserver
    /// The tracer and its OTLP exporter when `tracing.otlp_endpoint` is set.
    let tracing: GatewayTracing?
    /// The admin console's files, read once (SPEC 9).
    let consoleAssets = StaticAssets.console()
    /// The API reference served at /v1/openapi.json.
    let openAPIDocument = OpenAPIController<GatewayRequestContext>.bundled()
    let authenticator: RequestAuthenticator
    let scopes: ScopeResolver
    let logger: Logger
    /// Pooled client for upstreams; shut down by the application's ``HTTPClientService``.
    public let httpClient: HTTPClient
    public let downstreamTokens: DownstreamTokenCache
    let routes: RouteTable
    let proxy: ProxyPipeline
    /// Pooled upstream connections of the event-loop proxy path, one pool per event loop.
    let upstreamPools: UpstreamPools
    let proxyFastPath: ProxyFastPath
    /// The listener's TLS context when `http.tls` is set.
    public let tls: TLSReloader?
    static let serverName = "iam-gateway"
    static let maximumHeaderBytes = 32 * 1024

    /// `accessLog`: where access lines go; by default the `access` logger of the logging system when `log.access`
    /// is on.
    public init(
        configuration: GatewayConfiguration, store: any GatewayStore, keyRing: KeyRingManager, clock: any GatewayClock,
        logger: Logger,
        accessLog: Logger? = nil
    ) async throws {
        self.configuration = configuration
        let registry = configuration.metrics.listen.isEmpty ? nil : PrometheusCollectorRegistry()
        self.metricsRegistry = registry
        let metrics =
            registry.map { registry in
                var factory = PrometheusMetricsFactory(registry: registry)
                factory.defaultDurationHistogramBuckets = GatewayMetrics.durationBuckets
                return GatewayMetrics(factory: factory)
            } ?? .disabled
        self.metrics = metrics
        self.tracing = try GatewayTracing.make(configuration: configuration, metrics: metrics)
        self.observer = RequestObserver(
            metrics: metrics,
            accessLog: accessLog ?? (configuration.log.access ? Logger(label: GatewayLogHandler.accessLabel) : nil),
            format: configuration.log.format
        )
        self.store = store
        self.keyRing = keyRing
        self.clock = clock
        let audit = AuditLog(store: store, clock: clock, logger: logger)
        self.audit = audit
        let revocations = RevocationList(
            store: store, clock: clock,
            horizon: TimeInterval(configuration.tokens.accessTTL + configuration.tokens.leeway), logger: logger
        )
        try await revocations.reload()
        self.revocations = revocations
        keyRing.onChange { action, kid, actor in
            await audit.record(
                actor: actor.name, tenantID: Tenant.platformID, workspaceID: nil, action: action, target: "key:\(kid)",
                requestID: actor.requestID)
        }
        let resolver = AccessResolver(store: store, logger: logger)
        try await resolver.refreshVersions()
        self.resolver = resolver
        self.auth = try AuthService(
            configuration: configuration, store: store, keyRing: keyRing, resolver: resolver,
            hasher: configuration.passwords.hasher,
            throttle: LoginThrottle(clock: clock), revocations: revocations, audit: audit, clock: clock, logger: logger,
            metrics: metrics
        )
        let iam = IAMService(store: store, resolver: resolver, audit: audit, clock: clock)
        self.iam = iam
        self.directory = DirectoryService(
            store: store, iam: iam, resolver: resolver, revocations: revocations, audit: audit,
            hasher: configuration.passwords.hasher, clock: clock)
        self.oauth = OAuthService(store: store, resolver: resolver, auth: auth, configuration: configuration)
        self.authenticator = RequestAuthenticator(auth: auth)
        self.scopes = ScopeResolver(
            authenticator: authenticator, resolver: auth.accessResolver, store: store, audit: audit)
        self.logger = logger
        self.tls =
            configuration.http.servesTLS
            ? try TLSReloader(
                certificate: configuration.http.tlsCertificate, privateKey: configuration.http.tlsPrivateKey,
                logger: logger) : nil
        // Nothing may throw after this: a client dropped without `shutdown()` is a fatal error.
        self.httpClient = HTTPClientService.makeClient()
        self.downstreamTokens = DownstreamTokenCache(
            capacity: configuration.tokens.downstreamCacheSize, metrics: metrics)
        self.routes = RouteTable(routes: configuration.routes)
        var proxy = ProxyPipeline(
            authenticator: authenticator, auth: auth, resolver: resolver, tokens: downstreamTokens, keyRing: keyRing,
            clock: clock, httpClient: httpClient, logger: logger
        )
        proxy.headerPolicy = ProxyHeaders(stripHeaders: configuration.proxy.stripHeaders)
        proxy.allowedOrigins = Set(configuration.http.allowedOrigins)
        proxy.forwardedProto = configuration.http.servesTLS ? "https" : "http"
        proxy.trustedProxies = configuration.http.trustedProxies
        proxy.tracer = tracing?.tracer
        self.proxy = proxy
        self.upstreamPools = UpstreamPools()
        self.proxyFastPath = ProxyFastPath(
            routes: routes, targets: UpstreamTarget.byRoute(configuration.routes), pipeline: proxy,
            pools: upstreamPools,
            maximumHeaderBytes: Self.maximumHeaderBytes, idleTimeout: .seconds(Int64(configuration.http.idleTimeout)),
            serverName: Self.serverName,
            logger: logger, observer: observer
        )
        // Spans are made on the async path; with tracing on, every proxied request takes it.
        if tracing != nil { proxyFastPath.isEnabled = false }
    }

    /// Requests the proxy relayed on the event loop (cached credential, resolution and downstream token).
    public var eventLoopProxiedRequests: Int { proxyFastPath.handled }

    /// The front responder: path checks, proxy routes, then the API.
    public func responder() -> some HTTPResponder<GatewayRequestContext> {
        GatewayResponder(
            api: router().buildResponder(), routes: routes, proxy: proxy, maximumHeaderBytes: Self.maximumHeaderBytes,
            observer: observer,
            tracer: tracing?.tracer
        )
    }

    /// The router with every API endpoint.
    public func router() -> Router<GatewayRequestContext> {
        // Every GET endpoint answers HEAD (RFC 9110 9.3.2): the GET's status and headers, no body.
        let router = Router(context: GatewayRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: ProblemMiddleware(metrics: metrics))
        HealthController(store: store, keyRing: keyRing, metrics: metrics).addRoutes(to: router)
        DiscoveryController(keyRing: keyRing, configuration: configuration).addRoutes(to: router)
        AuthController(auth: auth, authenticator: authenticator, configuration: configuration).addRoutes(to: router)
        IdentityController(scopes: scopes, directory: directory).addRoutes(to: router)
        IAMController(scopes: scopes, iam: iam, store: store).addRoutes(to: router)
        ClientController(scopes: scopes, directory: directory).addRoutes(to: router)
        OAuthController(oauth: oauth, configuration: configuration, authenticator: authenticator).addRoutes(to: router)
        KeyAdminController(scopes: scopes, keyRing: keyRing).addRoutes(to: router)
        ConsoleController(assets: consoleAssets).addRoutes(to: router)
        OpenAPIController(document: openAPIDocument).addRoutes(to: router)
        return router
    }
}
