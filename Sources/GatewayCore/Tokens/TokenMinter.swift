import CryptoExtras
import Foundation
import IAMEnforcement

/// A token as minted, with what callers need to answer or cache it.
public struct MintedToken: Sendable {
    public var token: String
    public var claims: AccessTokenClaims
    public var kid: String
    public var expiresIn: Int
}

/// What a token is minted for: the caller's identity and resolved authorization, and the audience.
public struct TokenRequest: Sendable {
    public var subject: String
    public var tenantID: String
    public var workspaceID: String
    public var roles: [String]
    public var permissions: [String]
    public var policyVersion: Int64
    public var audience: String
    public var ttl: Int
    public var sessionID: String?
    /// RFC 9068 `client_id`.
    public var clientID: String
    /// RFC 9068 `scope` (OAuth sign-ins only).
    public var scope: String?

    public init(
        subject: String, tenantID: String, workspaceID: String, roles: [String], permissions: [String],
        policyVersion: Int64, audience: String, ttl: Int,
        sessionID: String? = nil, clientID: String = Principal.firstParty, scope: String? = nil
    ) {
        self.clientID = clientID
        self.scope = scope
        self.subject = subject
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.roles = roles
        self.permissions = permissions
        self.policyVersion = policyVersion
        self.audience = audience
        self.ttl = ttl
        self.sessionID = sessionID
    }
}

/// Mints RS256 JWS tokens (`typ: at+jwt`, RFC 9068) with the ring's active key.
public struct TokenMinter: Sendable {
    let keyRing: KeyRingManager
    let clock: any GatewayClock
    let issuer: String
    /// Counts access tokens (this audience) and downstream tokens (any other) as they are minted.
    let gatewayAudience: String
    let metrics: GatewayMetrics

    public init(
        keyRing: KeyRingManager, clock: any GatewayClock, issuer: String, gatewayAudience: String = "",
        metrics: GatewayMetrics = .disabled
    ) {
        self.keyRing = keyRing
        self.clock = clock
        self.issuer = issuer
        self.gatewayAudience = gatewayAudience
        self.metrics = metrics
    }

    /// Signs a token for `request` with the key that is active in the snapshot read here.
    public func mint(_ request: TokenRequest) throws -> MintedToken {
        let now = clock.now().unixSeconds
        let claims = AccessTokenClaims(
            iss: issuer, sub: request.subject, aud: request.audience,
            exp: now + Int64(request.ttl), iat: now, nbf: now, jti: Self.newTokenID(),
            tenantID: request.tenantID, workspaceID: request.workspaceID, roles: request.roles,
            policyVersion: request.policyVersion, permissions: request.permissions, sid: request.sessionID,
            clientID: request.clientID,
            scope: request.scope
        )
        let key = keyRing.snapshot.active
        let token = try Self.sign(claims, with: key)
        metrics.minted(request.audience == gatewayAudience ? .access : .downstream)
        return MintedToken(token: token, claims: claims, kid: key.kid, expiresIn: request.ttl)
    }

    /// The compact JWS of `claims` signed with `key`: header `{"alg":"RS256","kid":...,"typ":"at+jwt"}`.
    public static func sign(_ claims: AccessTokenClaims, with key: SigningKey) throws -> String {
        try sign(claims, headerSegment: key.jwsHeaderSegment, with: key)
    }

    /// The compact JWS of any claims under an encoded header (access tokens and ID tokens alike).
    static func sign(_ claims: some Encodable, headerSegment: String, with key: SigningKey) throws -> String {
        let signingInput = headerSegment + "." + Base64URL.encode(try encoder.encode(claims))
        return signingInput + "." + Base64URL.encode(try key.sign(Array(signingInput.utf8)))
    }

    /// Sorted keys and unescaped slashes: the same bytes for the same claims.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// 16 random bytes, base64url.
    static func newTokenID() -> String {
        Base64URL.encode(SecretToken.randomBytes(16))
    }
}
