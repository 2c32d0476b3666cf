import Hummingbird
import IAMEnforcement

/// A Hummingbird request context that carries the verified claims of the request's gateway token.
///
/// The enforcement middleware sets ``iamClaims`` before calling the handler; it is `nil` on routes without it.
public protocol IAMRequestContext: RequestContext {
    var iamClaims: AccessTokenClaims? { get set }
}
