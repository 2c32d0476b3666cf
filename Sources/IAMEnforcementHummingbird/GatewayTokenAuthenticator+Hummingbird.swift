import Hummingbird
import IAMEnforcement

extension GatewayTokenAuthenticator {
    /// Middleware admitting valid tokens that carry this permission, e.g. `connections.create`.
    public func requirePermission<Context: IAMRequestContext>(
        _ permission: String, context: Context.Type = Context.self
    ) -> IAMAuthorizationMiddleware<Context> {
        IAMAuthorizationMiddleware(authenticator: self, requirement: .permission(permission))
    }

    /// Middleware admitting any valid token.
    public func requireAuthentication<Context: IAMRequestContext>(context: Context.Type = Context.self)
        -> IAMAuthorizationMiddleware<Context>
    {
        IAMAuthorizationMiddleware(authenticator: self, requirement: .authenticated)
    }

    /// Middleware admitting valid tokens that meet the requirement.
    public func require<Context: IAMRequestContext>(
        _ requirement: PermissionRequirement, context: Context.Type = Context.self
    ) -> IAMAuthorizationMiddleware<Context> {
        IAMAuthorizationMiddleware(authenticator: self, requirement: requirement)
    }
}
