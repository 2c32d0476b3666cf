import CryptoExtras
import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import Testing

@Suite struct JWKSCacheTests {
    /// A cache on the fake gateway's JWKS with a hand-moved clock.
    static func makeCache(_ baseURL: String, clock: TestClock, timeout: Duration = .seconds(5)) -> JWKSCache {
        JWKSCache(
            configuration: .init(
                url: baseURL + "/.well-known/jwks.json", timeout: timeout, minimumRefetchInterval: .seconds(10)),
            clock: { clock.now() }
        )
    }

    static func authenticator(_ keys: JWKSCache, clock: TestClock) -> GatewayTokenAuthenticator {
        GatewayTokenAuthenticator(
            issuer: TestTokens.issuer, audience: TestTokens.audience, keys: keys, policyVersions: PolicyVersionCache(),
            clock: { clock.now() }
        )
    }

    @Test func acceptsATokenSignedByAServedKey() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        try gateway.publish([active])
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock)
            let authenticator = Self.authenticator(cache, clock: clock)
            let token = try active.sign(TestTokens.claims(now: clock.now()))
            let claims = try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
            #expect(claims.sub == "user_1")
            #expect(cache.keyIDs == ["active"])
            // The second token is verified from the cache.
            _ = try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
            #expect(gateway.jwksRequests == 1)
        }
    }

    @Test func aPrePublishedNextKeyVerifiesWithoutAnyFetch() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        let next = try TestSigningKey(kid: "next")
        try gateway.publish([active, next])
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock)
            let authenticator = Self.authenticator(cache, clock: clock)
            _ = try await authenticator.authenticate(
                authorizationHeader: "Bearer \(try active.sign(TestTokens.claims(now: clock.now())))")
            #expect(gateway.jwksRequests == 1)
            // Rotation: next becomes active. Its tokens verify at once, within the rate limit, with no refetch.
            clock.advance(seconds: 1)
            let claims = try await authenticator.authenticate(
                authorizationHeader: "Bearer \(try next.sign(TestTokens.claims(now: clock.now())))")
            #expect(claims.iss == TestTokens.issuer)
            #expect(gateway.jwksRequests == 1)
        }
    }

    @Test func honoursMaxAgeAndDropsARemovedKeyAfterTheRefetch() async throws {
        let gateway = FakeGateway()
        let keep = try TestSigningKey(kid: "keep")
        let removed = try TestSigningKey(kid: "removed")
        try gateway.publish([keep, removed])
        gateway.setMaxAge(60)
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock)
            let authenticator = Self.authenticator(cache, clock: clock)
            let removedToken = try removed.sign(TestTokens.claims(now: clock.now(), lifetime: 3600))
            _ = try await authenticator.authenticate(authorizationHeader: "Bearer \(removedToken)")

            try gateway.publish([keep])
            // Still fresh: no refetch, the removed key is still trusted.
            clock.advance(seconds: 30)
            _ = try await authenticator.authenticate(authorizationHeader: "Bearer \(removedToken)")
            await cache.waitForPendingFetch()
            #expect(gateway.jwksRequests == 1)

            // Past max-age: a lookup starts a background refresh; once it lands the removed key is gone.
            clock.advance(seconds: 31)
            _ = try await authenticator.authenticate(
                authorizationHeader: "Bearer \(try keep.sign(TestTokens.claims(now: clock.now())))")
            await cache.waitForPendingFetch()
            #expect(gateway.jwksRequests == 2)
            #expect(cache.keyIDs == ["keep"])
            await #expect(throws: VerificationError.unknownKey) {
                try await authenticator.authenticate(authorizationHeader: "Bearer \(removedToken)")
            }
        }
    }

    @Test func unknownKeyIDsRefetchAtMostOncePerInterval() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        let added = try TestSigningKey(kid: "added")
        let forger = try TestSigningKey(kid: "unused")
        try gateway.publish([active])
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock)
            let authenticator = Self.authenticator(cache, clock: clock)
            try await cache.refresh()
            #expect(gateway.jwksRequests == 1)

            /// 50 tokens with made-up kids, all at once; answers how many verified.
            func flood(_ round: Int) async throws -> Int {
                let tokens = try (0..<50).map { index in
                    try forger.sign(
                        TestTokens.claims(now: clock.now()),
                        header: ["alg": "RS256", "kid": "made-up-\(round)-\(index)", "typ": "at+jwt"])
                }
                return await withTaskGroup(of: Bool.self) { group in
                    for token in tokens {
                        group.addTask {
                            (try? await authenticator.authenticate(authorizationHeader: "Bearer \(token)")) != nil
                        }
                    }
                    return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
            }

            // Within the interval after the warm-up fetch: no fetch at all.
            #expect(try await flood(1) == 0)
            #expect(gateway.jwksRequests == 1)

            // After the interval: the flood, and a genuine new key among it, share exactly one fetch.
            try gateway.publish([active, added])
            clock.advance(seconds: 11)
            let addedToken = try added.sign(TestTokens.claims(now: clock.now()))
            async let addedResult = authenticator.authenticate(authorizationHeader: "Bearer \(addedToken)")
            #expect(try await flood(2) == 0)
            #expect(try await addedResult.sub == "user_1")
            #expect(gateway.jwksRequests == 2)

            // Again within the interval: none.
            clock.advance(seconds: 5)
            #expect(try await flood(3) == 0)
            #expect(gateway.jwksRequests == 2)

            clock.advance(seconds: 6)
            #expect(try await flood(4) == 0)
            #expect(gateway.jwksRequests == 3)
        }
    }

    @Test func keepsCachedKeysWhileTheGatewayIsDown() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        try gateway.publish([active])
        let clock = TestClock()
        let cache = try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock, timeout: .milliseconds(500))
            try await cache.refresh()
            return cache
        }
        // The server has stopped. Past max-age and the rate limit, cached keys still verify.
        let authenticator = Self.authenticator(cache, clock: clock)
        clock.advance(seconds: 3600)
        let token = try active.sign(TestTokens.claims(now: clock.now()))
        _ = try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
        await cache.waitForPendingFetch()
        // AsyncHTTPClient retries a refused connection until the deadline, so "down" may read as a timeout.
        let error = await #expect(throws: GatewayFetchError.self) { try await cache.refresh() }
        #expect(error == .unreachable || error == .timedOut)
        _ = try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
        #expect(cache.keyIDs == ["active"])
        clock.advance(seconds: 11)
        let unknown = try TestSigningKey(kid: "unknown")
        await #expect(throws: VerificationError.unknownKey) {
            try await authenticator.authenticate(
                authorizationHeader: "Bearer \(try unknown.sign(TestTokens.claims(now: clock.now())))")
        }
    }

    static let badAnswers: [(FakeGateway.JWKSMode, GatewayFetchError)] = [
        (.garbage, .invalidBody),
        (.emptySet, .emptyKeySet),
        (.serverError, .httpStatus),
        (.oversized, .tooLarge),
    ]

    @Test(arguments: badAnswers)
    func aBadAnswerKeepsTheOldKeys(mode: FakeGateway.JWKSMode, expected: GatewayFetchError) async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        let rogue = try TestSigningKey(kid: "rogue")
        try gateway.publish([active])
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock)
            let authenticator = Self.authenticator(cache, clock: clock)
            try await cache.refresh()
            gateway.setJWKSMode(mode)
            clock.advance(seconds: 11)
            await #expect(throws: VerificationError.unknownKey) {
                try await authenticator.authenticate(
                    authorizationHeader: "Bearer \(try rogue.sign(TestTokens.claims(now: clock.now())))")
            }
            #expect(gateway.jwksRequests == 2)
            await #expect(throws: expected) { try await cache.refresh() }
            #expect(cache.keyIDs == ["active"])
            _ = try await authenticator.authenticate(
                authorizationHeader: "Bearer \(try active.sign(TestTokens.claims(now: clock.now())))")
        }
    }

    @Test func aHangingEndpointTimesOutAndKeepsTheOldKeys() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        let rogue = try TestSigningKey(kid: "rogue")
        try gateway.publish([active])
        let clock = TestClock()
        try await gateway.run { baseURL in
            defer { gateway.release() }
            let cache = Self.makeCache(baseURL, clock: clock, timeout: .milliseconds(300))
            let authenticator = Self.authenticator(cache, clock: clock)
            try await cache.refresh()
            gateway.setJWKSMode(.hang)
            clock.advance(seconds: 11)
            await #expect(throws: VerificationError.unknownKey) {
                try await authenticator.authenticate(
                    authorizationHeader: "Bearer \(try rogue.sign(TestTokens.claims(now: clock.now())))")
            }
            await #expect(throws: GatewayFetchError.timedOut) { try await cache.refresh() }
            #expect(cache.keyIDs == ["active"])
            _ = try await authenticator.authenticate(
                authorizationHeader: "Bearer \(try active.sign(TestTokens.claims(now: clock.now())))")
        }
    }

    @Test func neverTakesAKeyFromTheTokenHeader() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        let attacker = try TestSigningKey(kid: "attacker")
        try gateway.publish([active])
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = Self.makeCache(baseURL, clock: clock)
            let authenticator = Self.authenticator(cache, clock: clock)
            let jwk = try attacker.jwk
            let embedded = try JSONEncoder().encode(jwk)
            // A header naming the attacker's own key by jku and jwk, and the active kid: the signature fails.
            var token = try attacker.sign(
                TestTokens.claims(now: clock.now()),
                header: [
                    "alg": "RS256", "kid": "active", "typ": "at+jwt", "jku": baseURL + "/evil",
                    "jwk": String(decoding: embedded, as: UTF8.self),
                ])
            await #expect(throws: VerificationError.badSignature) {
                try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
            }
            token = try attacker.sign(
                TestTokens.claims(now: clock.now()),
                header: ["alg": "RS256", "kid": "attacker", "typ": "at+jwt", "jku": baseURL + "/evil"])
            await #expect(throws: VerificationError.unknownKey) {
                try await authenticator.authenticate(authorizationHeader: "Bearer \(token)")
            }
            #expect(gateway.requests.allSatisfy { $0.path != "/evil" })
        }
    }
}
