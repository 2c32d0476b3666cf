/// The outcome of checking a request's token against a ``PermissionRequirement``, for any framework.
///
/// `.unauthorized` and `.stalePolicy` map to 401 (problem codes `invalid_token` and `stale_policy`),
/// `.forbidden` to 403 (`forbidden`).
public enum PermissionDecision: Sendable, Equatable {
    /// The token is valid and meets the requirement; hand these claims to the handler.
    case allowed(AccessTokenClaims)
    /// No token, or one that failed verification; the error names the failed check, for logs only.
    case unauthorized(VerificationError)
    /// The token is valid but predates a policy change in its workspace; the client must get a new one.
    case stalePolicy
    /// The token is valid but lacks the permission; the claims say whose token it was, for logs.
    case forbidden(AccessTokenClaims)

    /// The verified claims when allowed.
    public var claims: AccessTokenClaims? {
        if case .allowed(let claims) = self { return claims }
        return nil
    }
}
