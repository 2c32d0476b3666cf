import CryptoExtras
import Foundation
import GatewayCore
import GatewayStorage
import Logging
import Testing

/// Key store implementations under the conformance suite.
enum KeyStoreBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case file
    case postgres

    static var configured: [KeyStoreBackend] { TestPostgres.url == nil ? [.file] : [.file, .postgres] }

    var testDescription: String { rawValue }
}

/// Runs `body` with `count` key stores over one shared ring, as separate replicas (or a server and the CLI) see it:
/// separate `FileKeyStore`s on one directory, or separate PostgreSQL stores (each with its own pool) on one schema.
func withSharedKeyStores(_ backend: KeyStoreBackend, count: Int = 2, _ body: ([any KeyStore]) async throws -> Void)
    async throws
{
    switch backend {
    case .file:
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try await body((0..<count).map { _ in FileKeyStore(directory: temp.appending("Keys")) })
    case .postgres:
        let configuration = try TestPostgres.configuration()
        let kek = KeyEncryptionKey.random()
        do {
            var stores: [PostgresStore] = []
            for _ in 0..<count {
                stores.append(try await PostgresStore.open(configuration: configuration, logger: TestPostgres.logger))
            }
            let running = stores
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in running { group.addTask { try await store.run() } }
                defer { group.cancelAll() }
                try await body(running.map { PostgresKeyStore(store: $0, encryptionKey: kek) })
            }
        } catch {
            await TestPostgres.drop(configuration)
            throw error
        }
        await TestPostgres.drop(configuration)
    }
}

/// The contract of ``KeyStore`` through ``KeyRingManager``: file store always, PostgreSQL when configured.
@Suite struct KeyStoreConformanceTests {
    static func configuration(rotationInterval: Int = 0) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.keys.rotationInterval = rotationInterval
        return configuration
    }

    static func open(_ store: any KeyStore, clock: any GatewayClock = ManualClock(), rotationInterval: Int = 0)
        async throws -> KeyRingManager
    {
        try await KeyRingManager.open(
            store: store, configuration: configuration(rotationInterval: rotationInterval), clock: clock,
            logger: Logger(label: "test"))
    }

    @Test(arguments: KeyStoreBackend.configured)
    func emptyStoreGetsActiveAndNextThatSurviveReopening(_ backend: KeyStoreBackend) async throws {
        try await withSharedKeyStores(backend) { stores in
            #expect(try await stores[0].load() == nil)
            let first = try await Self.open(stores[0])
            #expect(first.snapshot.records.map(\.status).sorted { $0.rawValue < $1.rawValue } == [.active, .next])
            let loaded = try #require(try await stores[1].load())
            #expect(loaded.state.records.map(\.kid).sorted() == first.snapshot.records.map(\.kid).sorted())
            #expect(loaded.revision == first.snapshot.revision)
            let reopened = try await Self.open(stores[1])
            #expect(reopened.snapshot.active.kid == first.snapshot.active.kid)
            #expect(
                reopened.snapshot.active.privateKey.derRepresentation
                    == first.snapshot.active.privateKey.derRepresentation)
            #expect(reopened.snapshot.jwksJSON == first.snapshot.jwksJSON)
        }
    }

    @Test(arguments: KeyStoreBackend.configured)
    func anotherProcessesRotationIsPickedUpByRevision(_ backend: KeyStoreBackend) async throws {
        try await withSharedKeyStores(backend) { stores in
            let server = try await Self.open(stores[0])
            let other = try await Self.open(stores[1])
            let revision = try await stores[0].revision()
            let (active, previous) = try await other.rotate(force: true)
            #expect(previous == server.snapshot.active.kid)
            #expect(try await stores[0].revision() != revision)
            try await server.maintain()
            #expect(server.snapshot.active.kid == active)
            #expect(server.snapshot.jwksJSON == other.snapshot.jwksJSON)
            // The server's own rotation builds on the other's ring, not on a stale copy.
            let (serverActive, serverPrevious) = try await server.rotate(force: true)
            #expect(serverPrevious == active)
            try await other.maintain()
            #expect(other.snapshot.active.kid == serverActive)
            #expect(other.snapshot.records.filter { $0.status == .retiring }.count == 2)

            try await other.revoke(kid: active)
            try await server.maintain()
            #expect(server.snapshot.publicKeys[active] == nil)
        }
    }

    /// Two replicas find an interval rotation due at the same moment: one rotation happens, not two.
    @Test(arguments: KeyStoreBackend.configured)
    func concurrentDueRotationRotatesOnce(_ backend: KeyStoreBackend) async throws {
        try await withSharedKeyStores(backend) { stores in
            let clock = ManualClock()
            let first = try await Self.open(stores[0], clock: clock, rotationInterval: 1000)
            let second = try await Self.open(stores[1], clock: clock, rotationInterval: 1000)
            let original = first.snapshot.active.kid
            clock.advance(by: 1001)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.maintain() }
                group.addTask { try await second.maintain() }
                try await group.waitForAll()
            }
            let stored = try #require(try await stores[0].load())
            #expect(stored.state.records.filter { $0.status == .retiring }.map(\.kid) == [original])
            #expect(stored.state.records.filter { $0.status == .active }.count == 1)
            #expect(stored.state.records.count == 3)
            try await first.maintain()
            try await second.maintain()
            #expect(first.snapshot.active.kid == second.snapshot.active.kid)
            #expect(first.snapshot.active.kid != original)
        }
    }

    /// Two manual rotations at once are serialized: both apply, one after the other, and the ring stays valid.
    @Test(arguments: KeyStoreBackend.configured)
    func concurrentManualRotationsAreSerialized(_ backend: KeyStoreBackend) async throws {
        try await withSharedKeyStores(backend) { stores in
            let first = try await Self.open(stores[0])
            let second = try await Self.open(stores[1])
            let results = try await withThrowingTaskGroup(of: (String, String?).self) { group in
                group.addTask { try await first.rotate(force: true) }
                group.addTask { try await second.rotate(force: true) }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let stored = try #require(try await stores[0].load())
            try KeyRingPolicy.validate(stored.state)
            #expect(stored.state.records.filter { $0.status == .retiring }.count == 2)
            // The later rotation retired the key the earlier one activated.
            let previousKids = Set(results.compactMap(\.1))
            let activeKids = Set(results.map(\.0))
            #expect(previousKids.count == 2)
            #expect(activeKids.intersection(previousKids).count == 1)
        }
    }
}
