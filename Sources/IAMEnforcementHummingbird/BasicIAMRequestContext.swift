import Hummingbird
import IAMEnforcement

/// A ready-made ``IAMRequestContext`` for services that need nothing else in their context.
public struct BasicIAMRequestContext: IAMRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var iamClaims: AccessTokenClaims?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        iamClaims = nil
    }
}
