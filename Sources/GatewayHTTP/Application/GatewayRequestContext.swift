import Hummingbird
import Logging
import NIOCore

/// The request context of every gateway route.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's socket address (never taken from client-supplied headers).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// API bodies are small JSON documents; larger ones are refused with 413.
    public var maxUploadSize: Int { 1024 * 1024 }

    /// The client's IP address for throttling and `X-Forwarded-For`.
    public var clientAddress: String {
        remoteAddress?.ipAddress ?? "unknown"
    }
}
