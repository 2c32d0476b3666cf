import Hummingbird
import Logging
import NIOCore

/// The request context of every gateway route.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's socket address (never taken from client-supplied headers).
    public let remoteAddress: SocketAddress?
    /// Who the caller turned out to be and the upstream's time, for the access line (SPEC 10).
    let observation = RequestObservation()

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

extension GatewayRequestContext: ObservedRequestContext {}
