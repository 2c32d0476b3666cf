import GatewayCore
import Testing

@Suite struct DownstreamTokenCacheTests {
    func key(_ subject: String, version: Int64 = 1, kid: String = "k1") -> DownstreamTokenCache.Key {
        .init(subject: subject, tenantID: "t", workspaceID: "w", sessionID: "s", audience: "a", policyVersion: version, kid: kid)
    }

    @Test func reusesUntilAMarginBeforeExpiry() {
        let cache = DownstreamTokenCache(capacity: 10)
        cache.store("hdr.token.sig", for: key("u"), issuedAt: 1000, expiresAt: 1120)
        #expect(cache.token(for: key("u"), now: 1000) == "hdr.token.sig")
        #expect(cache.token(for: key("u"), now: 1107) == "hdr.token.sig")
        #expect(cache.token(for: key("u"), now: 1108) == nil, "12 s (a tenth of 120) before expiry")
        #expect(cache.token(for: key("u", version: 2), now: 1000) == nil, "another policy version misses")
        #expect(cache.token(for: key("u", kid: "k2"), now: 1000) == nil, "another signing key misses")
    }

    @Test func staysBoundedAndKeepsRecentlyUsedEntries() {
        let cache = DownstreamTokenCache(capacity: 100)
        cache.store("h.hot.s", for: key("hot"), issuedAt: 0, expiresAt: 1000)
        for index in 0..<1000 {
            cache.store("h.t\(index).s", for: key("u\(index)"), issuedAt: 0, expiresAt: 1000)
            _ = cache.token(for: key("hot"), now: 1)
        }
        #expect(cache.count <= 100)
        #expect(cache.token(for: key("hot"), now: 1) == "h.hot.s")
        #expect(cache.token(for: key("u999"), now: 1) == "h.t999.s")
        #expect(cache.token(for: key("u0"), now: 1) == nil)
    }

    /// The table is keyed by a digest of the fields: keys that differ only in where one field ends and the next
    /// begins, or in a missing session, must not share a token.
    @Test func digestKeepsFieldBoundariesApart() {
        let cache = DownstreamTokenCache(capacity: 10)
        let base = DownstreamTokenCache.Key(subject: "ab", tenantID: "c", workspaceID: "w", sessionID: nil, audience: "a", policyVersion: 1, kid: "k")
        cache.store("hdr.token.sig", for: base, issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: base, now: 1) == "hdr.token.sig")
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

    /// Entries keep the token without its header segment, shared per kid: what comes back is the whole token, and
    /// a token whose header differs from the one known for its kid (or that has no header) is not cached.
    @Test func headersAreSharedPerKid() {
        let cache = DownstreamTokenCache(capacity: 10)
        cache.store("eyJraWQiOiJrMSJ9.p1.s1", for: key("u1"), issuedAt: 0, expiresAt: 1000)
        cache.store("eyJraWQiOiJrMSJ9.p2.s2", for: key("u2"), issuedAt: 0, expiresAt: 1000)
        cache.store("eyJraWQiOiJrMiJ9.p3.s3", for: key("u3", kid: "k2"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: key("u1"), now: 1) == "eyJraWQiOiJrMSJ9.p1.s1")
        #expect(cache.token(for: key("u2"), now: 1) == "eyJraWQiOiJrMSJ9.p2.s2")
        #expect(cache.token(for: key("u3", kid: "k2"), now: 1) == "eyJraWQiOiJrMiJ9.p3.s3")
        cache.store("b3RoZXI.p4.s4", for: key("u4"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: key("u4"), now: 1) == nil, "another header under kid k1")
        #expect(cache.token(for: key("u1"), now: 1) == "eyJraWQiOiJrMSJ9.p1.s1", "and the others keep theirs")
        cache.store("no-dots", for: key("u5"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: key("u5"), now: 1) == nil)
    }

    @Test func zeroCapacityDisablesIt() {
        let cache = DownstreamTokenCache(capacity: 0)
        cache.store("hdr.token.sig", for: key("u"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.count == 0)
        #expect(cache.token(for: key("u"), now: 1) == nil)
    }
}
