import Hummingbird
import Logging

/// The request context of every gateway route.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// API bodies are small JSON documents; larger ones are refused with 413.
    public var maxUploadSize: Int { 1024 * 1024 }
}
