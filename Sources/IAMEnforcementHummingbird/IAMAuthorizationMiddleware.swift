import HTTPTypes
import Hummingbird
import IAMEnforcement
import Logging

/// Hummingbird middleware that lets a request through only with a valid, current gateway token meeting a
/// ``PermissionRequirement``, and puts the verified claims in `context.iamClaims` for the handler.
///
/// Answers, as `application/problem+json`: 401 `invalid_token` for a missing or bad token, 401 `stale_policy`
/// for a token older than its workspace's policy, both with `WWW-Authenticate`; 403 `forbidden` for a valid token
/// without the permission. The failed check is logged at `info`, never the token.
public struct IAMAuthorizationMiddleware<Context: IAMRequestContext>: RouterMiddleware {
    public let authenticator: GatewayTokenAuthenticator
    public let requirement: PermissionRequirement

    public init(authenticator: GatewayTokenAuthenticator, requirement: PermissionRequirement) {
        self.authenticator = authenticator
        self.requirement = requirement
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let decision = await authenticator.authorize(
            authorizationHeader: request.headers[.authorization], requirement: requirement)
        switch decision {
        case .allowed(let claims):
            var context = context
            context.iamClaims = claims
            return try await next(request, context)
        case .unauthorized(let error):
            context.logger.info(
                "request refused: invalid token",
                metadata: ["reason": "\(error.reason)", "path": "\(request.uri.path)"])
            return IAMProblem.invalidToken(error).response()
        case .stalePolicy:
            context.logger.info("request refused: stale policy version", metadata: ["path": "\(request.uri.path)"])
            return IAMProblem.stalePolicy.response()
        case .forbidden(let claims):
            context.logger.info(
                "request refused: missing permission",
                metadata: [
                    "sub": "\(claims.sub)", "tenant_id": "\(claims.tenantID)", "requirement": "\(requirement)",
                    "path": "\(request.uri.path)",
                ])
            return IAMProblem.forbidden(requirement).response()
        }
    }
}
