import CoreMetrics
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// `GET /metrics` on `metrics.listen` (SPEC 10): the Prometheus text format of the gateway's registry, on a listener
/// of its own so that scrapes never share the clients' port, and an unreachable or slow scraper costs clients
/// nothing. The signing-key ages are read from the key ring at each scrape.
struct MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    let keyRing: KeyRingManager
    let clock: any GatewayClock
    let keyAges: [KeyStatus: CoreMetrics.Gauge]

    init(
        registry: PrometheusCollectorRegistry, metrics: GatewayMetrics, keyRing: KeyRingManager, clock: any GatewayClock
    ) {
        self.registry = registry
        self.keyRing = keyRing
        self.clock = clock
        keyAges = Dictionary(
            uniqueKeysWithValues: KeyStatus.allCases.map {
                (
                    $0,
                    CoreMetrics.Gauge(
                        label: GatewayMetrics.signingKeyAge, dimensions: [("status", $0.rawValue)],
                        factory: metrics.factory)
                )
            })
    }

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The exposition, with each status's oldest key age (0 when the ring holds no key of that status).
    func exposition() -> ByteBuffer {
        let now = clock.now()
        let records = keyRing.snapshot.records
        for (status, gauge) in keyAges {
            let oldest = records.filter { $0.status == status }.map(\.createdAt).min()
            gauge.record(oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        registry.emit(into: &bytes)
        return ByteBuffer(bytes: bytes)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: Self.contentType, .cacheControl: "no-store"],
                body: .init(byteBuffer: exposition()))
        }
        return router
    }
}

/// The metrics listener could not be bound: names `metrics.listen`, so the operator knows which setting to change.
public struct MetricsListenError: Error, CustomStringConvertible {
    public var address: String
    public var reason: String
    public var description: String { "cannot listen on \(address) for metrics: \(reason) (metrics.listen)" }
}

/// The metrics application, its bind failures named as ``MetricsListenError``.
struct MetricsService<App: ApplicationProtocol>: Service {
    let application: App
    let address: String

    func run() async throws {
        do {
            try await application.run()
        } catch let error as IOError where [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(error.errnoCode) {
            throw MetricsListenError(
                address: address,
                reason: error.errnoCode == EADDRINUSE ? "the address is already in use" : "the address cannot be bound")
        }
    }
}

extension Gateway {
    /// The metrics listener as a service, when `metrics.listen` is set.
    public func metricsApplication(logger: Logger) -> (any Service)? {
        guard let registry = metricsRegistry, let address = configuration.metrics.address else { return nil }
        let endpoint = MetricsEndpoint(registry: registry, metrics: metrics, keyRing: keyRing, clock: clock)
        let application = Application(
            router: endpoint.router(),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: Gateway.serverName),
            logger: logger
        )
        return MetricsService(application: application, address: configuration.metrics.listen)
    }
}
