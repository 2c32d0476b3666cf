import IAMEnforcement
import Vapor

/// Where ``IAMAuthorizationMiddleware`` keeps the verified claims.
struct IAMClaimsKey: StorageKey {
    typealias Value = AccessTokenClaims
}

extension Request {
    /// The verified claims of the request's gateway token, set by ``IAMAuthorizationMiddleware``; `nil` on routes
    /// without it.
    public var iamClaims: AccessTokenClaims? {
        get { storage[IAMClaimsKey.self] }
        set { storage[IAMClaimsKey.self] = newValue }
    }

    /// The verified claims, or a 401 when the route has no ``IAMAuthorizationMiddleware`` (a wiring mistake).
    public func requireIAMClaims() throws -> AccessTokenClaims {
        guard let claims = iamClaims else { throw Abort(.unauthorized) }
        return claims
    }
}
