import GatewayCore
import IAMEnforcement
import Testing

@Suite struct DownstreamTokenCacheTests {
    /// A token-shaped text: `header`, then base64url segments of `payload` and of a signature derived from it.
    func jws(_ payload: String, header: String = "eyJraWQiOiJrMSJ9") -> String {
        header + "." + Base64URL.encode(Array(payload.utf8)) + "."
            + Base64URL.encode(Array(payload.utf8.reversed()) + [0, 1, 2, 255])
    }

    func key(_ subject: String, version: Int64 = 1, kid: String = "k1") -> DownstreamTokenCache.Key {
        .init(
            subject: subject, tenantID: "t", workspaceID: "w", sessionID: "s", audience: "a", policyVersion: version,
            kid: kid)
    }

    @Test func reusesUntilAMarginBeforeExpiry() {
        let cache = DownstreamTokenCache(capacity: 10)
        cache.store(jws("token"), for: key("u"), issuedAt: 1000, expiresAt: 1120)
        #expect(cache.token(for: key("u"), now: 1000) == jws("token"))
        #expect(cache.token(for: key("u"), now: 1107) == jws("token"))
        #expect(cache.token(for: key("u"), now: 1108) == nil, "12 s (a tenth of 120) before expiry")
        #expect(cache.token(for: key("u", version: 2), now: 1000) == nil, "another policy version misses")
        #expect(cache.token(for: key("u", kid: "k2"), now: 1000) == nil, "another signing key misses")
    }

    @Test func staysBoundedAndKeepsRecentlyUsedEntries() {
        let cache = DownstreamTokenCache(capacity: 100)
        cache.store(jws("hot"), for: key("hot"), issuedAt: 0, expiresAt: 1000)
        for index in 0..<1000 {
            cache.store(jws("t\(index)"), for: key("u\(index)"), issuedAt: 0, expiresAt: 1000)
            _ = cache.token(for: key("hot"), now: 1)
        }
        #expect(cache.count <= 100)
        #expect(cache.token(for: key("hot"), now: 1) == jws("hot"))
        #expect(cache.token(for: key("u999"), now: 1) == jws("t999"))
        #expect(cache.token(for: key("u0"), now: 1) == nil)
    }

    /// The table is keyed by a digest of the fields: keys that differ only in where one field ends and the next
    /// begins, or in a missing session, must not share a token.
    @Test func digestKeepsFieldBoundariesApart() {
        let cache = DownstreamTokenCache(capacity: 10)
        let base = DownstreamTokenCache.Key(
            subject: "ab", tenantID: "c", workspaceID: "w", sessionID: nil, audience: "a", policyVersion: 1, kid: "k")
        cache.store(jws("token"), for: base, issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: base, now: 1) == jws("token"))
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
        let k1 = "eyJraWQiOiJrMSJ9"
        let k2 = "eyJraWQiOiJrMiJ9"
        cache.store(jws("p1", header: k1), for: key("u1"), issuedAt: 0, expiresAt: 1000)
        cache.store(jws("pp2", header: k1), for: key("u2"), issuedAt: 0, expiresAt: 1000)
        cache.store(jws("ppp3", header: k2), for: key("u3", kid: "k2"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: key("u1"), now: 1) == jws("p1", header: k1))
        #expect(cache.token(for: key("u2"), now: 1) == jws("pp2", header: k1))
        #expect(cache.token(for: key("u3", kid: "k2"), now: 1) == jws("ppp3", header: k2))
        cache.store(jws("p4", header: "b3RoZXI"), for: key("u4"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.token(for: key("u4"), now: 1) == nil, "another header under kid k1")
        #expect(cache.token(for: key("u1"), now: 1) == jws("p1", header: k1), "and the others keep theirs")
    }

    /// Payload and signature are kept decoded and re-encoded on use: only text that re-encodes to itself is cached.
    @Test func onlyCanonicalTokensAreCached() {
        let cache = DownstreamTokenCache(capacity: 10)
        for (index, token) in [
            "no-dots", "a.b", "a.b.c.d", "h.eyJhIjoxfR.c2ln", "h.eyJhIjoxfQ.c2l", "h.eyJhIj*xfQ.c2ln",
            "h.eyJhIjoxfQ==.c2ln",
        ].enumerated() {
            cache.store(token, for: key("bad\(index)"), issuedAt: 0, expiresAt: 1000)
            #expect(cache.token(for: key("bad\(index)"), now: 1) == nil, "\(token)")
        }
        for (index, token) in [
            "h.eyJhIjoxfQ.c2ln", "h..", "h.QQ.QUI", "h.QUJD.", jws(String(repeating: "x", count: 700), header: "h"),
        ].enumerated() {
            cache.store(token, for: key("good\(index)"), issuedAt: 0, expiresAt: 1000)
            #expect(cache.token(for: key("good\(index)"), now: 1) == token)
        }
    }

    @Test func zeroCapacityDisablesIt() {
        let cache = DownstreamTokenCache(capacity: 0)
        cache.store(jws("token"), for: key("u"), issuedAt: 0, expiresAt: 1000)
        #expect(cache.count == 0)
        #expect(cache.token(for: key("u"), now: 1) == nil)
    }
}
