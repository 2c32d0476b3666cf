/// The outcome of checking a request's token against a ``PermissionRequirement``, for any framework.
///
/// `.unauthorized` and `.stalePolicy` map to 401 (problem codes `invalid_token` and `stale_policy`),
/// `.forbidden` to 403 (`forbidden`); ``problem(for:)`` gives the answer to write.
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

    /// The problem to answer instead of calling the handler (401 or 403), `nil` when allowed.
    /// - Parameter requirement: the requirement that was checked; a 403 names it.
    public func problem(for requirement: PermissionRequirement) -> IAMProblem? {
        switch self {
        case .allowed: nil
        case .unauthorized(let error): .invalidToken(error)
        case .stalePolicy: .stalePolicy
        case .forbidden: .forbidden(requirement)
        }
    }
}
