import GatewayCore
import Testing

@Suite struct DownstreamTokenCacheTests {
    func key(_ subject: String, version: Int64 = 1, kid: String = "k1") -> DownstreamTokenCache.Key {
        .init(subject: subject, tenantID: "t", workspaceID: "w", sessionID: "s", audience: "a", policyVersion: version, kid: kid)
    }

    @Test func reusesUntilAMarginBeforeExpiry() {
        let cache = DownstreamTokenCache(capacity: 10)
        cache.store("token", for: key("u"), issuedAt: 1000, expiresAt: 1120)
        #expect(cache.token(for: key("u"), now: 1000) == "token")
        #expect(cache.token(for: key("u"), now: 1107) == "token")
        #expect(cache.token(for: key("u"), now: 1108) == nil, "12 s (a tenth of 120) before expiry")
        #expect(cache.token(for: key("u", version: 2), now: 1000) == nil, "another policy version misses")
        #expect(cache.token(for: key("u", kid: "k2"), now: 1000) == nil, "another signing key misses")
    }

    @Test func staysBoundedAndKeepsRecentlyUsedEntries() {
        let cache = DownstreamTokenCache(capacity: 100)
        cache.store("hot", for: key("hot"), issuedAt: 0, expiresAt: 1000)
        for index in 0..<1000 {
            cache.store("t\(index)", for: key("u\(index)"), issuedAt: 0, expiresAt: 1000)
            _ = cache.token(for: key("hot"), now: 1)
        }
        #expect(cache.count <= 100)
        #expect(cache.token(for: key("hot"), now: 1) == "hot")
        #expect(cache.token(for: key("u999"), now: 1) == "t999")
        #expect(cache.token(for: key("u0"), now: 1) == nil)
    }

    /// The table is keyed by a digest of the fields: keys that differ only in where one field ends and the next
    /// begins, or in a missing session, must not share a token.
    @Test func digestKeepsFieldBoundariesApart() {
        let cache = DownstreamTokenCache(capacity: 10)
        let base = DownstreamTokenCache.Key(subject: "ab", tenantID: "c", workspaceID: "w", sessionID: nil, audience: "a", policyVersion: 1, kid: "k")
        cache.store("token", for: base, issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: base, now: 1) == "token")
        var shifted = base
        shifted.subject = "a"
        shifted.tenantID = "bc"
        #expect(cache.token(for: shifted, now: 1) == nil)
        for session in ["", "-", "s-"] {
            var withSession = base
            withSession.sessionID = session
            #expect(cache.token(for: withSession, now: 1) == nil, "session \(session) against none")
        }
        var otherAudience = base
        otherAudience.audience = "b"
        #expect(cache.token(for: otherAudience, now: 1) == nil)
    }

    @Test func zeroCapacityDisablesIt() {
        let cache = DownstreamTokenCache(capacity: 0)
        cache.store("token", for: key("u"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.count == 0)
        #expect(cache.token(for: key("u"), now: 1) == nil)
    }
}
