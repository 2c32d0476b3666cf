import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import JWTKit
import Logging
import NIOCore
import PostgresNIO
import Testing

/// The PostgreSQL test database, when `IAM_GATEWAY_TEST_POSTGRES_URL` names one.
enum TestDatabase {
    static let url: String? = ProcessInfo.processInfo.environment["IAM_GATEWAY_TEST_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
}

/// Two gateway replicas, live over loopback, on one PostgreSQL database: what one does, the other honours, through
/// `LISTEN/NOTIFY` (the one-second polls being the safety net). Runs only with `IAM_GATEWAY_TEST_POSTGRES_URL`.
///
/// Each change is checked on the second replica after every reload its notifications made it finish (no sleeps, no
/// polling); the delays are printed, and the test asserts only that the change is seen within a generous deadline.
@Suite(.enabled(if: TestDatabase.url != nil, "set IAM_GATEWAY_TEST_POSTGRES_URL to run the multi-replica test"))
struct MultiReplicaTests {
    static let deadline: Duration = .seconds(5)
    /// How long a replica's listener may take to connect (SCRAM on a loaded machine).
    static let connectDeadline: Duration = .seconds(30)

    static func postgresConfiguration() throws -> PostgresStoreConfiguration {
        guard let url = TestDatabase.url else { throw TestFailure("IAM_GATEWAY_TEST_POSTGRES_URL is not set") }
        var configuration = try PostgresStoreConfiguration(url: url)
        configuration.schema = "replicas_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        configuration.maximumConnections = 6
        // The whole suite runs in parallel on 2 cores in CI: connection set-up (SCRAM) and key generation can take
        // seconds there, so tests allow more than the production default of 5 s per operation.
        configuration.operationTimeout = .seconds(30)
        return configuration
    }

    static func dropSchema(_ configuration: PostgresStoreConfiguration) async {
        guard let schema = configuration.schema else { return }
        do {
            let connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(),
                configuration: .init(
                    host: configuration.host, port: configuration.port, username: configuration.username,
                    password: configuration.password, database: configuration.database, tls: .disable),
                id: 98, logger: Logger(label: "test")
            )
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"), logger: Logger(label: "test"))
            try await connection.close()
        } catch {
            print("note: could not drop test schema \(schema): \(error)")
        }
    }

    /// Checks `condition` now and after each reload of `change` that `replica` finishes, until it holds or the
    /// deadline passes; returns the time it took, or nil.
    static func observe(
        _ change: StoreChange, on replica: ObservedChangeNotifier, _ condition: () async throws -> Bool
    ) async throws -> Duration? {
        let start = ContinuousClock.now
        while true {
            let reloads = replica.counts.reloaded[change] ?? 0
            if try await condition() { return .now - start }
            guard await replica.wait(until: start + deadline, for: { ($0.reloaded[change] ?? 0) > reloads }) else {
                return nil
            }
        }
    }

    /// Waits until `replica`'s listener has connected and the replica has finished the reloads of its catch-up (once
    /// `LISTEN` is in place the listener delivers every kind of change once), so that none is still running when the
    /// test changes something.
    static func settled(_ replica: ObservedChangeNotifier) async -> Bool {
        await replica.wait(until: .now + connectDeadline) { counts in
            StoreChange.allCases.allSatisfy { (counts.reloaded[$0] ?? 0) > 0 }
        }
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f ms", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }

    static func kid(of token: String) throws -> String {
        let header = try #require(token.split(separator: ".").first.flatMap { Base64URL.decode(String($0)) })
        return try #require((try JSONSerialization.jsonObject(with: header) as? [String: Any])?["kid"] as? String)
    }

    /// Two live replicas A and B on one fresh PostgreSQL schema, bootstrapped through A, with their change
    /// notifications as the test observes them.
    static func withReplicas(
        _ body:
            @Sendable (
                _ clientA: any TestClientProtocol, _ clientB: any TestClientProtocol,
                _ changesA: ObservedChangeNotifier,
                _ changesB: ObservedChangeNotifier
            ) async throws -> Void
    ) async throws {
        let postgres = try Self.postgresConfiguration()
        var configuration = GatewayConfiguration()
        configuration.log.access = false  // access lines are tested in ObservabilityTests
        configuration.http.port = 0
        configuration.passwords.scryptLogN = 10
        configuration.keys.rotationInterval = 0
        let kek = KeyEncryptionKey.random()
        defer { Task { await Self.dropSchema(postgres) } }

        var logger = Logger(label: "replica")
        logger.logLevel = .warning
        let storeA = try await PostgresStore.open(configuration: postgres, logger: logger)
        let storeB = try await PostgresStore.open(configuration: postgres, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { pools in
            pools.addTask { try await storeA.run() }
            pools.addTask { try await storeB.run() }
            defer { pools.cancelAll() }
            // Replica B polls its key ring every minute only: a rotation on A reaches it in time only by NOTIFY.
            let keyRingA = try await KeyRingManager.open(
                store: PostgresKeyStore(store: storeA, encryptionKey: kek), configuration: configuration,
                clock: SystemClock(), logger: logger)
            let keyRingB = try await KeyRingManager.open(
                store: PostgresKeyStore(store: storeB, encryptionKey: kek), configuration: configuration,
                clock: SystemClock(), logger: logger, pollInterval: .seconds(60)
            )
            #expect(keyRingA.snapshot.jwksJSON == keyRingB.snapshot.jwksJSON)
            _ = try await Bootstrapper(store: storeA, hasher: configuration.passwords.hasher, clock: SystemClock()).run(
                username: "admin", password: TestGateway.adminPassword)
            // A second replica starting on the bootstrapped store changes nothing.
            #expect(
                try await Bootstrapper(store: storeB, hasher: configuration.passwords.hasher, clock: SystemClock()).run(
                    username: "admin", password: "other-password-1") == nil)

            let changesA = ObservedChangeNotifier(storeA.changeListener())
            let changesB = ObservedChangeNotifier(storeB.changeListener())
            let appA = try await buildApplication(
                configuration: configuration, store: storeA, keyRing: keyRingA, changes: changesA, logger: logger)
            let appB = try await buildApplication(
                configuration: configuration, store: storeB, keyRing: keyRingB, changes: changesB, logger: logger)
            try await appA.test(.live) { clientA in
                try await appB.test(.live) { clientB in
                    try await body(clientA, clientB, changesA, changesB)
                }
            }
        }
    }

    @Test func secondReplicaHonoursRotationLogoutAndPolicyChanges() async throws {
        try await Self.withReplicas { clientA, clientB, changesA, changesB in
            try await Self.exercise(clientA, clientB, changesA, changesB)
        }
    }

    /// SPEC 4.1: a role update on one replica and an assignment on the other, racing, never combine into a grant
    /// that neither check saw (checks and writes are serialized per tenant by a PostgreSQL advisory lock).
    @Test func racingRoleUpdateAndAssignmentOnTwoReplicasNeverEscalate() async throws {
        try await Self.withReplicas { clientA, clientB, _, _ in
            try await ConcurrentEscalation.race(clientA, clientB)
        }
    }

    /// SPEC 5: wrong passwords spread over two replicas count together (the store shares the failures), so the
    /// account+address lock holds on both after five failures in all.
    @Test func failedLoginsOnTwoReplicasCountTogether() async throws {
        try await Self.withReplicas { clientA, clientB, _, _ in
            let admin = try await clientA.token()
            #expect(
                try await clientA.send(
                    .post, "/v1/users",
                    json: ["username": "target", "password": "target-password", "user_id": "target"], bearer: admin
                ).status == .created)
            #expect(
                try await clientA.send(
                    .post, "/v1/assignments",
                    json: ["user_id": "target", "role_id": "viewer", "workspace_id": "default"], bearer: admin
                ).status == .created)
            for index in 0..<5 {
                let client = index.isMultiple(of: 2) ? clientA : clientB
                #expect(
                    try await client.login(username: "target", password: "guess-\(index)").status == .unauthorized,
                    "guess \(index)")
            }
            for client in [clientA, clientB] {
                let locked = try await client.login(username: "target", password: "target-password")
                #expect(locked.status == .tooManyRequests && locked.headers[.retryAfter] != nil)
            }
        }
    }

    static func exercise(
        _ clientA: any TestClientProtocol, _ clientB: any TestClientProtocol, _ changesA: ObservedChangeNotifier,
        _ changesB: ObservedChangeNotifier
    ) async throws {
        // Both listeners connected (a change from now on is announced to the other replica) and caught up.
        #expect(await settled(changesA), "replica A's listener did not connect and catch up within \(connectDeadline)")
        #expect(await settled(changesB), "replica B's listener did not connect and catch up within \(connectDeadline)")
        let jwksA = try await clientA.send(.get, "/.well-known/jwks.json").text
        #expect(try await clientB.send(.get, "/.well-known/jwks.json").text == jwksA)
        let adminA = try await clientA.token()

        // 1. Rotation on A; B mints with the new key and serves the same JWKS.
        let rotated = try await clientA.send(.post, "/v1/admin/keys/rotate?force=true", bearer: adminA)
        #expect(rotated.status == .ok)
        let newKid = try #require(rotated.string("active_kid"))
        let rotation = try await observe(.keys, on: changesB) {
            let reply = try await clientB.login()
            guard let token = reply.string("access_token") else { return false }
            return try kid(of: token) == newKid
        }
        #expect(rotation != nil, "replica B did not sign with the rotated key within \(deadline)")
        let jwksAfter = try await clientA.send(.get, "/.well-known/jwks.json").text
        #expect(try await clientB.send(.get, "/.well-known/jwks.json").text == jwksAfter)
        // A token minted on B verifies against A's JWKS, with an independent verifier.
        let mintedOnB = try await clientB.token()
        #expect(try kid(of: mintedOnB) == newKid)
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: jwksAfter)
        let payload = try await keys.verify(mintedOnB, as: GatewayPayload.self)
        #expect(payload.tenant_id == "platform")

        // 2. Logout on A; B rejects the token with token_revoked.
        let session = try await clientB.token()
        #expect(try await clientB.send(.get, "/v1/me", bearer: session).status == .ok)
        #expect(try await clientA.send(.post, "/v1/auth/logout", bearer: session).status == .noContent)
        let logout = try await observe(.sessions, on: changesB) {
            try await clientB.send(.get, "/v1/me", bearer: session).string("code") == "token_revoked"
        }
        #expect(logout != nil, "replica B still accepted a logged-out token after \(deadline)")

        // 3. Policy change on A (a tenant-wide role); B's cached resolution shows the new version.
        let viewer = try await clientB.token()
        let before = try #require(try await clientB.send(.get, "/v1/me", bearer: viewer)["policy_version"] as? Int)
        let created = try await clientA.send(
            .post, "/v1/roles", json: ["name": "Readers", "permissions": ["connections.read"]], bearer: adminA)
        #expect(created.status == .created)
        let expected = try #require(try await clientA.send(.get, "/v1/me", bearer: adminA)["policy_version"] as? Int)
        #expect(expected == before + 1)
        let policy = try await observe(.policy, on: changesB) {
            try await clientB.send(.get, "/v1/me", bearer: viewer)["policy_version"] as? Int == expected
        }
        #expect(policy != nil, "replica B did not see the new policy version within \(deadline)")

        print(
            """
            multi-replica propagation (A -> B, checked on B after each of its reloads; includes HTTP round trips): \
            rotation \(rotation.map(milliseconds) ?? "not seen"), logout \(logout.map(milliseconds) ?? "not seen"), \
            policy change \(policy.map(milliseconds) ?? "not seen")
            """)
    }
}
