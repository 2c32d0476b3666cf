import GatewayCore
import IAMEnforcement
import Testing

@Suite struct VerifiedTokenCacheTests {
    let claims = AccessTokenClaims(
        iss: "i", sub: "s", aud: "a", exp: 1000, iat: 900, nbf: 900, jti: "j", tenantID: "t", workspaceID: "w",
        roles: [], policyVersion: 1, permissions: [], sid: "sid"
    )

    @Test func servesOnlyTheExactTokenWhileInDateAndPublished() {
        let cache = VerifiedTokenCache(capacity: 10)
        cache.store(claims, kid: "k1", for: "token-a")
        #expect(cache.claims(for: "token-a", now: 950, leeway: 30, isPublished: { $0 == "k1" }) == claims)
        #expect(cache.claims(for: "token-b", now: 950, leeway: 30, isPublished: { _ in true }) == nil)
        #expect(
            cache.claims(for: "token-a", now: 880, leeway: 10, isPublished: { _ in true }) == nil, "before nbf - leeway"
        )
        cache.store(claims, kid: "k1", for: "token-a")
        #expect(
            cache.claims(for: "token-a", now: 1030, leeway: 30, isPublished: { _ in true }) == nil, "past exp + leeway")
        cache.store(claims, kid: "k1", for: "token-a")
        #expect(cache.claims(for: "token-a", now: 950, leeway: 30, isPublished: { _ in false }) == nil, "key revoked")
        #expect(cache.count == 0, "a refused entry is dropped")
    }

    @Test func staysBounded() {
        let cache = VerifiedTokenCache(capacity: 5)
        for index in 0..<12 { cache.store(claims, kid: "k", for: "t\(index)") }
        #expect(cache.count <= 5)
        #expect(cache.claims(for: "t11", now: 950, leeway: 0, isPublished: { _ in true }) == claims)
    }
}
