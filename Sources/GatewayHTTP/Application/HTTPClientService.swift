import AsyncHTTPClient
import NIOCore
import ServiceLifecycle

/// Owns the proxy's pooled HTTP client and upstream connections, and closes them on graceful shutdown.
struct HTTPClientService: Service {
    let client: HTTPClient
    let pools: UpstreamPools

    /// A client for upstreams: pooled keep-alive connections, no redirects followed, no decompression.
    static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.idleTimeout = .seconds(60)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func run() async throws {
        try? await gracefulShutdown()
        await pools.closeAll()
        try await client.shutdown()
    }
}
