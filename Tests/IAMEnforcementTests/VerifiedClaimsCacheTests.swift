import CryptoExtras
import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import Synchronization
import Testing

/// Keys a test can withdraw, counting lookups.
final class MutableKeys: VerificationKeySource {
    private let keys: Mutex<[String: _RSA.Signing.PublicKey]>

    init(_ signingKeys: [TestSigningKey]) {
        keys = Mutex(Dictionary(uniqueKeysWithValues: signingKeys.map { ($0.kid, $0.privateKey.publicKey) }))
    }

    func withdraw(_ kid: String) {
        _ = keys.withLock { $0.removeValue(forKey: kid) }
    }

    func key(for kid: String) async -> _RSA.Signing.PublicKey? {
        keys.withLock { $0[kid] }
    }
}

@Suite struct VerifiedClaimsCacheTests {
    let key: TestSigningKey
    let clock = TestClock()

    init() throws {
        key = try TestSigningKey(kid: "k1")
    }

    func authenticator(
        keys: any VerificationKeySource, cache: VerifiedClaimsCache, policyVersions: PolicyVersionCache? = nil
    ) -> GatewayTokenAuthenticator {
        let clock = clock
        return GatewayTokenAuthenticator(
            issuer: TestTokens.issuer, audience: TestTokens.audience, leeway: 30, keys: keys,
            policyVersions: policyVersions, verifiedClaims: cache, clock: { clock.now() }
        )
    }

    func refusal(_ authenticator: GatewayTokenAuthenticator, _ token: String) async -> VerificationError? {
        do {
            _ = try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
            return nil
        } catch {
            return error
        }
    }

    @Test func aRepeatedTokenHitsTheCache() async throws {
        let cache = VerifiedClaimsCache(capacity: 16)
        let authenticator = authenticator(keys: MutableKeys([key]), cache: cache)
        let claims = TestTokens.claims(now: clock.now())
        let token = try key.sign(claims)
        #expect(try await authenticator.authenticate(authorizationHeader: "Bearer \(token)") == claims)
        #expect(cache.statistics == (hits: 0, misses: 1))
        #expect(cache.count == 1)
        for _ in 0..<3 {
            #expect(try await authenticator.authenticate(authorizationHeader: "Bearer \(token)") == claims)
        }
        #expect(cache.statistics == (hits: 3, misses: 1))
        #expect(cache.entry(for: token, now: Int64(clock.now().timeIntervalSince1970), leeway: 30)?.kid == "k1")
    }

    @Test func neverUsedPastExp() async throws {
        let cache = VerifiedClaimsCache(capacity: 16)
        let authenticator = authenticator(keys: MutableKeys([key]), cache: cache)
        let token = try key.sign(TestTokens.claims(now: clock.now(), lifetime: 60))
        #expect(await refusal(authenticator, token) == nil)
        clock.advance(seconds: 59)
        #expect(await refusal(authenticator, token) == nil)
        #expect(cache.statistics.hits == 1)
        // Past exp but inside the leeway: full verification admits it, the cache does not answer nor keep it.
        clock.advance(seconds: 2)
        #expect(await refusal(authenticator, token) == nil)
        #expect(cache.statistics == (hits: 1, misses: 2))
        #expect(cache.count == 0)
        clock.advance(seconds: 30)
        #expect(await refusal(authenticator, token) == .expired)
        #expect(cache.statistics.hits == 1)
        // Directly: an entry is not returned at or after its exp, and an expired token is not stored.
        let now = Int64(clock.now().timeIntervalSince1970)
        let claims = TestTokens.claims(now: clock.now(), lifetime: 10)
        cache.store(claims, kid: "k1", for: "a.b.c", now: now)
        #expect(cache.entry(for: "a.b.c", now: now + 9, leeway: 30) != nil)
        #expect(cache.entry(for: "a.b.c", now: now + 10, leeway: 30) == nil)
        cache.store(claims, kid: "k1", for: "d.e.f", now: now + 10)
        #expect(cache.count == 0)
    }

    @Test func capacityIsABound() async throws {
        let cache = VerifiedClaimsCache(capacity: 3)
        let authenticator = authenticator(keys: MutableKeys([key]), cache: cache)
        var tokens: [String] = []
        for _ in 0..<10 {
            let token = try key.sign(TestTokens.claims(now: clock.now()))
            tokens.append(token)
            #expect(await refusal(authenticator, token) == nil)
            #expect(cache.count <= 3)
        }
        #expect(cache.count == 3)
        let now = Int64(clock.now().timeIntervalSince1970)
        // The oldest went first; the last three are held.
        #expect(tokens[..<7].allSatisfy { cache.entry(for: $0, now: now, leeway: 30) == nil })
        #expect(tokens[7...].allSatisfy { cache.entry(for: $0, now: now, leeway: 30) != nil })
        // Many more direct inserts: still bounded.
        let claims = TestTokens.claims(now: clock.now())
        for index in 0..<1000 {
            cache.store(claims, kid: "k1", for: "token-\(index)", now: now)
        }
        #expect(cache.count == 3)
    }

    @Test func aDifferentTokenNeverHits() async throws {
        let cache = VerifiedClaimsCache(capacity: 16)
        let authenticator = authenticator(keys: MutableKeys([key]), cache: cache)
        let claims = TestTokens.claims(now: clock.now(), permissions: ["connections.read"])
        let token = try key.sign(claims)
        #expect(await refusal(authenticator, token) == nil)
        // The same header and signature with other claims, and the same token with a changed signature.
        let parts = token.split(separator: ".").map(String.init)
        var forged = claims
        forged.permissions = ["everything"]
        let forgedPayload = Base64URL.encode(try JSONEncoder().encode(forged))
        #expect(await refusal(authenticator, "\(parts[0]).\(forgedPayload).\(parts[2])") == .badSignature)
        let tampered = String(token.dropLast(4)) + (token.hasSuffix("AAAA") ? "BBBB" : "AAAA")
        #expect(await refusal(authenticator, tampered) == .badSignature)
        // A token that differs only by surrounding text is not the same token either.
        #expect(await refusal(authenticator, token + ".") == .malformed)
        #expect(cache.statistics.hits == 0)
        #expect(cache.count == 1)
    }

    @Test func aTokenWhoseKeyLeftTheJWKSIsRefused() async throws {
        let cache = VerifiedClaimsCache(capacity: 16)
        let keys = MutableKeys([key])
        let authenticator = authenticator(keys: keys, cache: cache)
        let token = try key.sign(TestTokens.claims(now: clock.now()))
        #expect(await refusal(authenticator, token) == nil)
        #expect(await refusal(authenticator, token) == nil)
        #expect(cache.statistics.hits == 1)
        keys.withdraw("k1")
        #expect(await refusal(authenticator, token) == .unknownKey)
        #expect(cache.count == 0)
    }

    @Test func aStaleTokenIsRefusedOnAHit() async throws {
        let cache = VerifiedClaimsCache(capacity: 16)
        let policyVersions = PolicyVersionCache()
        let authenticator = authenticator(keys: MutableKeys([key]), cache: cache, policyVersions: policyVersions)
        let old = try key.sign(TestTokens.claims(now: clock.now(), policyVersion: 1))
        #expect(await refusal(authenticator, old) == nil)
        #expect(
            await refusal(authenticator, try key.sign(TestTokens.claims(now: clock.now(), policyVersion: 2))) == nil)
        #expect(await refusal(authenticator, old) == .stalePolicy)
        #expect(cache.statistics.hits == 1)
    }

    @Test func aCacheSharedAcrossAudiencesGrantsNothingAcrossThem() async throws {
        let cache = VerifiedClaimsCache(capacity: 16)
        let keys = MutableKeys([key])
        let mine = authenticator(keys: keys, cache: cache)
        let clock = clock
        let other = GatewayTokenAuthenticator(
            issuer: TestTokens.issuer, audience: "other-service", keys: keys, policyVersions: nil,
            verifiedClaims: cache,
            clock: { clock.now() }
        )
        let token = try key.sign(TestTokens.claims(now: clock.now()))
        #expect(await refusal(mine, token) == nil)
        #expect(await refusal(other, token) == .audienceMismatch)
    }
}
