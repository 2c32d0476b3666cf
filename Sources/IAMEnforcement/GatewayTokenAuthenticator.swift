import Foundation

/// Authenticates requests by their gateway token: parses `Authorization: Bearer <token>`, verifies it with a
/// ``TokenVerifier`` against the issuer's published keys, and refuses tokens whose `policy_version` is older
/// than one already seen for their workspace.
///
/// Use ``authenticate(authorizationHeader:)`` for the claims, or ``authorize(authorizationHeader:requirement:)``
/// for a ``PermissionDecision`` in any framework. `requirePermission(_:)` and `requireAuthentication()` make
/// Hummingbird middleware (module IAMEnforcementHummingbird).
public struct GatewayTokenAuthenticator: Sendable {
    public let verifier: TokenVerifier
    public let keys: any VerificationKeySource
    /// `nil` turns the stale-policy check off.
    public let policyVersions: PolicyVersionCache?
    /// Tokens already verified (``VerifiedClaimsCache``); `nil` verifies every request in full.
    public let verifiedClaims: VerifiedClaimsCache?
    private let clock: @Sendable () -> Date

    /// - Parameters:
    ///   - issuer: the gateway's `iss`.
    ///   - audience: this service's name; tokens for other audiences are refused.
    ///   - leeway: seconds of clock skew allowed on `exp` and `nbf`.
    ///   - keys: usually a ``JWKSCache`` on the gateway's JWKS URL.
    ///   - policyVersions: the cache that detects stale tokens; fed by every token that passes.
    ///   - verifiedClaims: repeated verification of the same token hits it (bounded, never past `exp`); the key
    ///     must still be published and the policy version current on every hit.
    ///   - clock: the current time, injectable for tests.
    public init(
        issuer: String,
        audience: String,
        leeway: Int64 = 30,
        keys: any VerificationKeySource,
        policyVersions: PolicyVersionCache?,
        verifiedClaims: VerifiedClaimsCache? = VerifiedClaimsCache(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.verifier = TokenVerifier(issuer: issuer, audience: audience, leeway: leeway)
        self.keys = keys
        self.policyVersions = policyVersions
        self.verifiedClaims = verifiedClaims
        self.clock = clock
    }

    /// The verified claims of the request's bearer token.
    /// - Parameter authorizationHeader: the request's `Authorization` value, `nil` when absent.
    /// - Throws: ``VerificationError/missingToken`` without a bearer token, ``VerificationError/stalePolicy`` for
    ///   a stale token, otherwise the failed verification check.
    public func authenticate(authorizationHeader: String?) async throws(VerificationError) -> AccessTokenClaims {
        let token = try Self.bearerToken(from: authorizationHeader)
        let claims = try await verifier.verify(token, now: clock(), keys: keys, cache: verifiedClaims)
        if let policyVersions, !policyVersions.admit(claims) {
            throw .stalePolicy
        }
        return claims
    }

    /// Authenticates and checks the requirement.
    public func authorize(authorizationHeader: String?, requirement: PermissionRequirement) async -> PermissionDecision
    {
        let claims: AccessTokenClaims
        do throws(VerificationError) {
            claims = try await authenticate(authorizationHeader: authorizationHeader)
        } catch {
            return error == .stalePolicy ? .stalePolicy : .unauthorized(error)
        }
        return requirement.isSatisfied(by: claims) ? .allowed(claims) : .forbidden(claims)
    }

    /// Authenticates and checks one permission, e.g. `connections.create`.
    public func requirePermission(_ permission: String, authorizationHeader: String?) async -> PermissionDecision {
        await authorize(authorizationHeader: authorizationHeader, requirement: .permission(permission))
    }

    /// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
    static func bearerToken(from header: String?) throws(VerificationError) -> Substring {
        guard let header else { throw .missingToken }
        // Refuse before any copying; the verifier would refuse such a token anyway.
        guard header.utf8.count <= TokenVerifier.maximumTokenLength + 64 else {
            throw header.prefix(7).lowercased() == "bearer " ? .tooLarge : .missingToken
        }
        let trimmed = header.drop(while: { $0 == " " })
        guard let space = trimmed.firstIndex(of: " ") else {
            // A scheme alone, "Bearer" included, presents no token.
            throw .missingToken
        }
        guard trimmed[..<space].lowercased() == "bearer" else { throw .missingToken }
        let token = trimmed[space...].drop(while: { $0 == " " })
        var end = token.endIndex
        while end > token.startIndex, token[token.index(before: end)] == " " {
            end = token.index(before: end)
        }
        let value = token[..<end]
        guard !value.isEmpty else { throw .missingToken }
        return value
    }
}
