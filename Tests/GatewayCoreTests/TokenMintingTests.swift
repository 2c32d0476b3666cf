import Crypto
import CryptoExtras
import Foundation
import GatewayCore
import IAMEnforcement
import JWTKit
import Logging
import Testing

/// What jwt-kit, an independent implementation, reads out of our tokens.
struct IndependentPayload: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var nbf: NotBeforeClaim
    var jti: IDClaim
    var tenant_id: String
    var workspace_id: String
    var roles: [String]
    var policy_version: Int
    var service: String
    var permissions: [String]
    var sid: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired(currentDate: Date(timeIntervalSince1970: Double(iat.value.timeIntervalSince1970) + 1))
    }
}

@Suite struct TokenMintingTests {
    let clock = ManualClock(Date())
    let issuer = "http://127.0.0.1:8080"

    func makeMinter() async throws -> (TokenMinter, KeyRingManager) {
        let manager = try await KeyRingManager.open(
            store: InMemoryKeyStore(), configuration: KeyRingTests.configuration(), clock: clock,
            logger: Logger(label: "test"))
        return (TokenMinter(keyRing: manager, clock: clock, issuer: issuer), manager)
    }

    static let request = TokenRequest(
        subject: "u-1", tenantID: "acme", workspaceID: "default", roles: ["viewer"],
        permissions: ["connections.read", "integrations.read"], policyVersion: 7, audience: "iam-gateway", ttl: 300,
        sessionID: "s-1"
    )

    func segments(_ token: String) throws -> (header: [String: Any], claims: [String: Any]) {
        let parts = token.split(separator: ".")
        #expect(parts.count == 3)
        let headerData = try #require(Base64URL.decode(parts[0]))
        let claimsData = try #require(Base64URL.decode(parts[1]))
        let header = try #require(try JSONSerialization.jsonObject(with: headerData) as? [String: Any])
        let claims = try #require(try JSONSerialization.jsonObject(with: claimsData) as? [String: Any])
        return (header, claims)
    }

    @Test func headerAndClaimsFollowTheContract() async throws {
        let (minter, manager) = try await makeMinter()
        let minted = try minter.mint(Self.request)
        let (header, claims) = try segments(minted.token)
        #expect(header["alg"] as? String == "RS256")
        #expect(header["typ"] as? String == "at+jwt")
        #expect(header["kid"] as? String == manager.snapshot.active.kid)
        #expect(Set(header.keys) == ["alg", "kid", "typ"])
        let now = clock.now().unixSeconds
        #expect(claims["iss"] as? String == issuer)
        #expect(claims["sub"] as? String == "u-1")
        #expect(claims["aud"] as? String == "iam-gateway")
        #expect(claims["service"] as? String == "iam-gateway")
        #expect((claims["exp"] as? NSNumber)?.int64Value == now + 300)
        #expect((claims["iat"] as? NSNumber)?.int64Value == now)
        #expect((claims["nbf"] as? NSNumber)?.int64Value == now)
        #expect(!(claims["exp"] as? NSNumber).map { "\($0)".contains(".") }!)
        #expect((claims["jti"] as? String)?.count ?? 0 >= 22)
        #expect(claims["tenant_id"] as? String == "acme")
        #expect(claims["workspace_id"] as? String == "default")
        #expect(claims["roles"] as? [String] == ["viewer"])
        #expect((claims["policy_version"] as? NSNumber)?.int64Value == 7)
        #expect(claims["permissions"] as? [String] == ["connections.read", "integrations.read"])
        #expect(claims["sid"] as? String == "s-1")
        #expect(try minter.mint(Self.request).claims.jti != minted.claims.jti)
    }

    @Test func independentVerifierAcceptsTokensFromTheJWKS() async throws {
        let (minter, manager) = try await makeMinter()
        let minted = try minter.mint(Self.request)
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: String(decoding: manager.snapshot.jwksJSON, as: UTF8.self))
        let payload = try await keys.verify(minted.token, as: IndependentPayload.self)
        #expect(payload.sub.value == "u-1")
        #expect(payload.aud.value == ["iam-gateway"])
        #expect(payload.tenant_id == "acme")
        #expect(payload.policy_version == 7)

        // After a rotation, the new active key signs, and the JWKS served then verifies the token.
        try await manager.rotate(force: true)
        let rotated = try minter.mint(Self.request)
        #expect(rotated.kid == manager.snapshot.active.kid)
        #expect(rotated.kid != minted.kid)
        let fresh = JWTKeyCollection()
        try await fresh.add(jwksJSON: String(decoding: manager.snapshot.jwksJSON, as: UTF8.self))
        _ = try await fresh.verify(rotated.token, as: IndependentPayload.self)
        _ = try await fresh.verify(minted.token, as: IndependentPayload.self)
    }

    @Test func everyMintedKidIsInTheJWKSAtThatMoment() async throws {
        let (minter, manager) = try await makeMinter()
        for step in 0..<6 {
            let minted = try minter.mint(Self.request)
            let published = manager.snapshot.jwks.keys.compactMap(\.kid)
            #expect(published.contains(minted.kid), "step \(step)")
            switch step % 3 {
            case 0: try await manager.rotate(force: true)
            case 1: try await manager.revoke(kid: manager.snapshot.active.kid)
            default:
                clock.advance(by: 1000)
                try await manager.maintain()
            }
        }
    }

    @Test func ownVerifierAcceptsAndChecksClaims() async throws {
        let (minter, manager) = try await makeMinter()
        let minted = try minter.mint(Self.request)
        let verifier = TokenVerifier(issuer: issuer, audience: "iam-gateway", leeway: 30)
        let keys = manager.snapshot.publicKeys
        let claims = try verifier.verify(minted.token, now: clock.now(), key: { keys[$0] })
        #expect(claims == minted.claims)
    }

    // MARK: - Forged and invalid tokens

    func expectRejected(
        _ token: String, _ expected: VerificationError, keys: [String: _RSA.Signing.PublicKey], now: Date? = nil,
        audience: String = "iam-gateway", sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let verifier = TokenVerifier(issuer: issuer, audience: audience, leeway: 30)
        #expect(throws: expected, sourceLocation: sourceLocation) {
            _ = try verifier.verify(token, now: now ?? clock.now(), key: { keys[$0] })
        }
    }

    func forge(header: [String: Any], claims: AccessTokenClaims, sign: (String) throws -> Data) throws -> String {
        let encoder = JSONEncoder()
        let input =
            Base64URL.encode(try JSONSerialization.data(withJSONObject: header)) + "."
            + Base64URL.encode(try encoder.encode(claims))
        return input + "." + Base64URL.encode(try sign(input))
    }

    @Test func forgedTokensAreRejected() async throws {
        let (minter, manager) = try await makeMinter()
        let keys = manager.snapshot.publicKeys
        let active = manager.snapshot.active
        let claims = try minter.mint(Self.request).claims

        // alg none, with and without a signature.
        let none = try forge(header: ["alg": "none", "typ": "at+jwt", "kid": active.kid], claims: claims) { _ in Data()
        }
        expectRejected(String(none.dropLast(0)) + "", .malformed, keys: keys)
        let noneSigned = try forge(header: ["alg": "none", "typ": "at+jwt", "kid": active.kid], claims: claims) { _ in
            Data([1])
        }
        expectRejected(noneSigned, .unsupportedAlgorithm, keys: keys)

        // HS256 keyed with the public key's PEM (algorithm confusion).
        let publicPEM = active.privateKey.publicKey.pemRepresentation
        let hs256 = try forge(header: ["alg": "HS256", "typ": "at+jwt", "kid": active.kid], claims: claims) { input in
            Data(
                HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(publicPEM.utf8))))
        }
        expectRejected(hs256, .unsupportedAlgorithm, keys: keys)

        // A foreign key claiming a known kid.
        let foreign = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let foreignSigned = try forge(header: ["alg": "RS256", "typ": "at+jwt", "kid": active.kid], claims: claims) {
            input in
            try foreign.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        expectRejected(foreignSigned, .badSignature, keys: keys)

        // An unknown kid, even with a jku/jwk header pointing at the forger's key.
        let foreignJWK = try JSONWebKey(rsaPublicKey: foreign.publicKey, kid: "attacker")
        let unknown = try forge(
            header: [
                "alg": "RS256", "typ": "at+jwt", "kid": "attacker", "jku": "http://evil.example/jwks.json",
                "jwk": ["kty": "RSA", "n": foreignJWK.n!, "e": foreignJWK.e!],
            ], claims: claims
        ) { input in
            try foreign.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        expectRejected(unknown, .unknownKey, keys: keys)

        // Missing kid.
        let noKid = try forge(header: ["alg": "RS256", "typ": "at+jwt"], claims: claims) { input in
            try active.privateKey.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        expectRejected(noKid, .missingKeyID, keys: keys)

        // Wrong typ.
        let jwtTyp = try forge(header: ["alg": "RS256", "typ": "JWT", "kid": active.kid], claims: claims) { input in
            try active.privateKey.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        expectRejected(jwtTyp, .invalidType, keys: keys)

        // Tampered payload: valid signature of other claims.
        let genuine = try minter.mint(Self.request).token
        var tamperedClaims = claims
        tamperedClaims.roles = ["admin"]
        let parts = genuine.split(separator: ".")
        let tampered = "\(parts[0]).\(Base64URL.encode(try JSONEncoder().encode(tamperedClaims))).\(parts[2])"
        expectRejected(tampered, .badSignature, keys: keys)

        // Expired (beyond leeway), not yet valid, wrong audience, wrong issuer.
        expectRejected(genuine, .expired, keys: keys, now: clock.now().addingTimeInterval(300 + 30))
        let early = try minter.mint(Self.request).token
        expectRejected(early, .notYetValid, keys: keys, now: clock.now().addingTimeInterval(-31))
        expectRejected(genuine, .audienceMismatch, keys: keys, audience: "integrations")
        let otherIssuer = TokenVerifier(issuer: "http://elsewhere", audience: "iam-gateway", leeway: 30)
        #expect(throws: VerificationError.issuerMismatch) {
            _ = try otherIssuer.verify(genuine, now: clock.now(), key: { keys[$0] })
        }

        // Within leeway still passes.
        let verifier = TokenVerifier(issuer: issuer, audience: "iam-gateway", leeway: 30)
        _ = try verifier.verify(genuine, now: clock.now().addingTimeInterval(300 + 29), key: { keys[$0] })

        // Garbage.
        expectRejected("", .malformed, keys: keys)
        expectRejected("a.b", .malformed, keys: keys)
        expectRejected("!!!.???.***", .malformed, keys: keys)
        expectRejected(String(repeating: "a", count: 20_000), .tooLarge, keys: keys)
    }
}
