import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import Logging
import ServiceLifecycle
import Testing

@Suite struct PolicyVersionTests {
    @Test func aLowerVersionThanOneSeenIsStale() {
        let cache = PolicyVersionCache()
        let v5 = TestTokens.claims(policyVersion: 5)
        let v4 = TestTokens.claims(policyVersion: 4)
        #expect(!cache.isStale(v4))
        cache.observe(v5)
        #expect(cache.isStale(v4))
        #expect(!cache.isStale(v5))
        #expect(!cache.isStale(TestTokens.claims(policyVersion: 6)))
        // Other workspaces and tenants are independent.
        #expect(!cache.isStale(TestTokens.claims(workspaceID: "w2", policyVersion: 1)))
        #expect(!cache.isStale(TestTokens.claims(tenantID: "t2", policyVersion: 1)))
        // Observing an older token never lowers the version.
        cache.observe(v4)
        #expect(cache.version(tenantID: "t1", workspaceID: "w1") == 5)
        #expect(!cache.admit(v4))
        #expect(cache.admit(TestTokens.claims(policyVersion: 7)))
        #expect(cache.version(tenantID: "t1", workspaceID: "w1") == 7)
    }

    @Test func theCacheIsBoundedAndForgetsTheLeastRecentlyObserved() {
        let cache = PolicyVersionCache(capacity: 100)
        for index in 0..<100 {
            cache.update(tenantID: "t", workspaceID: "w\(index)", policyVersion: 1)
        }
        // Touch w0 so it is the most recently observed.
        cache.update(tenantID: "t", workspaceID: "w0", policyVersion: 2)
        for index in 100..<1000 {
            cache.update(tenantID: "t", workspaceID: "w\(index)", policyVersion: 1)
            #expect(cache.count <= 100)
        }
        #expect(cache.version(tenantID: "t", workspaceID: "w999") == 1)
        #expect(cache.version(tenantID: "t", workspaceID: "w1") == nil)
    }

    @Test func theAuthenticatorRefusesAStaleToken() async throws {
        let key = try TestSigningKey(kid: "k")
        let authenticator = GatewayTokenAuthenticator(
            issuer: TestTokens.issuer, audience: TestTokens.audience, keys: StaticKeys([key]),
            policyVersions: PolicyVersionCache()
        )
        _ = try await authenticator.authenticate(
            authorizationHeader: "Bearer \(try key.sign(TestTokens.claims(policyVersion: 5)))")
        let old = try key.sign(TestTokens.claims(policyVersion: 4))
        await #expect(throws: VerificationError.stalePolicy) {
            try await authenticator.authenticate(authorizationHeader: "Bearer \(old)")
        }
        #expect(
            await authenticator.requirePermission("connections.read", authorizationHeader: "Bearer \(old)")
                == .stalePolicy)
    }

    static func poller(_ baseURL: String, cache: PolicyVersionCache, interval: Duration = .seconds(5))
        -> PolicyVersionPoller
    {
        PolicyVersionPoller(
            configuration: .init(
                gatewayURL: baseURL + "/", apiKey: "key_secret", interval: interval, initialBackoff: .milliseconds(10),
                maximumBackoff: .milliseconds(50)),
            cache: cache
        )
    }

    @Test func thePollerRaisesVersionsAndSendsTheCursorBack() async throws {
        let gateway = FakeGateway()
        gateway.setPolicyPage(since: "", .init(versions: [("t1", "w1", 3), ("t1", "w2", 1)], cursor: "c/1+"))
        gateway.setPolicyPage(since: "c/1+", .init(versions: [("t1", "w1", 5), ("t1", "w2", 0)], cursor: "c2"))
        let cache = PolicyVersionCache()
        try await gateway.run { baseURL in
            let poller = Self.poller(baseURL, cache: cache)
            let first = try await poller.pollOnce()
            #expect(first == 2)
            #expect(cache.version(tenantID: "t1", workspaceID: "w1") == 3)
            #expect(poller.currentCursor == "c/1+")
            #expect(try await poller.pollOnce() == 2)
            #expect(cache.version(tenantID: "t1", workspaceID: "w1") == 5)
            // The feed never lowers a version.
            #expect(cache.version(tenantID: "t1", workspaceID: "w2") == 1)
            #expect(poller.currentCursor == "c2")
            #expect(try await poller.pollOnce() == 0)

            // A failed poll keeps the cursor.
            gateway.setPolicyStatus(503)
            await #expect(throws: GatewayFetchError.httpStatus) { try await poller.pollOnce() }
            #expect(poller.currentCursor == "c2")

            let requests = gateway.requests.filter { $0.path == "/v1/policy-versions" }
            #expect(requests.map(\.query) == ["", "since=c%2F1%2B", "since=c2", "since=c2"])
            #expect(requests.allSatisfy { $0.authorization == "ApiKey key_secret" })
        }
        #expect(cache.isStale(TestTokens.claims(policyVersion: 4)))
    }

    @Test(.timeLimit(.minutes(1))) func thePollerRunsAsAServiceAndRecoversFromFailures() async throws {
        let gateway = FakeGateway()
        gateway.setPolicyStatus(500)
        gateway.setPolicyPage(since: "", .init(versions: [("t1", "w1", 9)], cursor: "c1"))
        let cache = PolicyVersionCache()
        try await gateway.run { baseURL in
            let poller = Self.poller(baseURL, cache: cache, interval: .milliseconds(10))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let group = ServiceGroup(services: [poller], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // Two polls answered 500, then the gateway recovers.
                await gateway.waitForRequests { $0.count >= 2 }
                gateway.setPolicyStatus(200)
                // A poll sending cursor c1 is made only after a successful poll was applied; wait for two of them
                // (the poller goes on at its interval).
                await gateway.waitForRequests { $0.filter { $0.query == "since=c1" }.count >= 2 }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(gateway.requests.prefix(2).map(\.query) == ["", ""], "the failed polls keep no cursor")
            #expect(cache.version(tenantID: "t1", workspaceID: "w1") == 9)
            #expect(poller.currentCursor == "c1")
            #expect(gateway.requests.last?.query == "since=c1")
        }
    }
}
