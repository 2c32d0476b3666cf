import IAMEnforcement
import Vapor

/// Vapor middleware that lets a request through only with a valid, current gateway token meeting a
/// ``PermissionRequirement``, and stores the verified claims on the request (``Vapor/Request/iamClaims``).
///
/// Answers as the Hummingbird adapter does, in `application/problem+json`: 401 `invalid_token` for a missing or
/// bad token, 401 `stale_policy` for a token older than its workspace's policy, both with `WWW-Authenticate`;
/// 403 `forbidden` for a valid token without the permission. The failed check is logged at `info`, never the token.
public struct IAMAuthorizationMiddleware: AsyncMiddleware {
    public let authenticator: GatewayTokenAuthenticator
    public let requirement: PermissionRequirement

    public init(authenticator: GatewayTokenAuthenticator, requirement: PermissionRequirement) {
        self.authenticator = authenticator
        self.requirement = requirement
    }

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let decision = await authenticator.authorize(
            authorizationHeader: request.headers.first(name: .authorization), requirement: requirement)
        switch decision {
        case .allowed(let claims):
            request.iamClaims = claims
            return try await next.respond(to: request)
        case .unauthorized(let error):
            request.logger.info(
                "request refused: invalid token",
                metadata: ["reason": "\(error.reason)", "path": "\(request.url.path)"])
        case .stalePolicy:
            request.logger.info("request refused: stale policy version", metadata: ["path": "\(request.url.path)"])
        case .forbidden(let claims):
            request.logger.info(
                "request refused: missing permission",
                metadata: [
                    "sub": "\(claims.sub)", "tenant_id": "\(claims.tenantID)", "requirement": "\(requirement)",
                    "path": "\(request.url.path)",
                ])
        }
        return (decision.problem(for: requirement) ?? .invalidToken(.missingToken)).vaporResponse()
    }
}

extension GatewayTokenAuthenticator {
    /// Middleware admitting valid tokens that carry this permission, e.g. `connections.create`.
    public func requirePermission(_ permission: String) -> IAMAuthorizationMiddleware {
        IAMAuthorizationMiddleware(authenticator: self, requirement: .permission(permission))
    }

    /// Middleware admitting any valid token.
    public func requireAuthentication() -> IAMAuthorizationMiddleware {
        IAMAuthorizationMiddleware(authenticator: self, requirement: .authenticated)
    }

    /// Middleware admitting valid tokens that meet the requirement.
    public func require(_ requirement: PermissionRequirement) -> IAMAuthorizationMiddleware {
        IAMAuthorizationMiddleware(authenticator: self, requirement: requirement)
    }
}

extension IAMProblem {
    /// The Vapor answer: problem JSON, `Cache-Control: no-store`, and on a 401 the bearer challenge.
    public func vaporResponse() -> Response {
        var fields = HTTPHeaders()
        for header in headers {
            fields.add(name: header.name, value: header.value)
        }
        return Response(status: HTTPResponseStatus(statusCode: status), headers: fields, body: .init(data: Data(body)))
    }
}
