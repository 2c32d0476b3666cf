import GatewayCore
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds the gateway's HTTP application from its parts. Long-lived parts (the key ring's maintenance loop) run as
/// services of the application and stop on graceful shutdown (SIGTERM, SIGINT).
public func buildApplication(
    configuration: GatewayConfiguration,
    store: any GatewayStore,
    keyRing: KeyRingManager,
    clock: any GatewayClock = SystemClock(),
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, store: store, keyRing: keyRing, clock: clock)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.http.host, port: configuration.http.port), serverName: "iam-gateway"),
        services: [keyRing],
        logger: logger
    )
}

/// The router with every API endpoint, for `app.test(.router)` and for ``buildApplication``.
public func buildRouter(
    configuration: GatewayConfiguration,
    store: any GatewayStore,
    keyRing: KeyRingManager,
    clock: any GatewayClock
) -> Router<GatewayRequestContext> {
    let router = Router(context: GatewayRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    HealthController(store: store, keyRing: keyRing).addRoutes(to: router)
    DiscoveryController(keyRing: keyRing, configuration: configuration).addRoutes(to: router)
    return router
}
