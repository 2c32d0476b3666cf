import CryptoExtras
import Foundation
import GatewayCore
import Logging
import PostgresNIO
import Testing

@testable import GatewayStorage

/// PostgreSQL specifics beyond the shared contract: URL handling, start-up failures, migrations, encryption at rest.
@Suite struct PostgresStoreTests {
    @Test func urlIsParsedAndItsDescriptionHasNoPassword() throws {
        let configuration = try PostgresStoreConfiguration(
            url: "postgres://gw%40user:s3cr%2Ft@db.example:6543/iam?sslmode=require&schema=gw")
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "gw@user")
        #expect(configuration.password == "s3cr/t")
        #expect(configuration.database == "iam")
        #expect(configuration.tlsMode == .require)
        #expect(configuration.schema == "gw")
        #expect(configuration.description == "postgres://gw@user@db.example:6543/iam?schema=gw")
        #expect(!configuration.description.contains("s3cr"))
        #expect(try PostgresStoreConfiguration(url: "postgresql://u@h/d").port == 5432)
        #expect(try PostgresStoreConfiguration(url: "postgresql://u@h/d").tlsMode == .prefer)
    }

    @Test(arguments: [
        ("postgres://user:pw@host", "database name"),
        ("postgres://host/db", "user name"),
        ("postgres://u:pw@host/db?sslmode=maybe", "sslmode"),
        ("postgres://u:pw@host/db?schema=Bad-Name", "schema"),
        ("postgres://u:pw@host/db?password=x", "unknown URL parameter"),
    ])
    func badURLsNameTheProblemWithoutThePassword(_ url: String, _ fragment: String) {
        do {
            _ = try PostgresStoreConfiguration(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.key == "storage.url")
            #expect(error.problem.contains(fragment), "\(error.problem)")
            #expect(!error.description.contains("pw"))
        }
    }

    @Test func unreachableDatabaseFailsOpenWithAClearMessage() async throws {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let configuration = PostgresStoreConfiguration(
            host: "127.0.0.1", port: 1, username: "gateway", password: "hunter2", database: "iam", tlsMode: .disable)
        do {
            _ = try await PostgresStore.open(configuration: configuration, logger: Logger(label: "test"))
            Issue.record("opened a store on a closed port")
        } catch let error as StoreError {
            #expect(error.message.contains("cannot connect to postgres://gateway@127.0.0.1:1/iam"), "\(error.message)")
            #expect(
                error.message.contains("connection refused: is the database server running"),
                "in words, \(error.message)")
            #expect(!error.message.contains("SingleConnectionFailure"), "not NIO's dump of every address tried")
            #expect(!error.message.contains("hunter2"))
        }
        // A host name that does not resolve.
        let unresolved = PostgresStoreConfiguration(
            host: "no-such-host.invalid", port: 5432, username: "gateway", password: "hunter2", database: "iam",
            tlsMode: .disable)
        do {
            _ = try await PostgresStore.open(configuration: unresolved, logger: Logger(label: "test"))
            Issue.record("opened a store on a host that does not exist")
        } catch let error as StoreError {
            #expect(error.message.contains("does not resolve"), "\(error.message)")
        }
    }

    @Test(.enabled(if: TestPostgres.url != nil, "needs IAM_GATEWAY_TEST_POSTGRES_URL"))
    func replicasStartingTogetherMigrateOnce() async throws {
        let configuration = try TestPostgres.configuration()
        defer { Task { await TestPostgres.drop(configuration) } }
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await PostgresStore.open(configuration: configuration, logger: TestPostgres.logger)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let store = try #require(stores.first)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            #expect(try await store.schemaVersion() == PostgresMigrations.all.count)
            #expect(try await store.migrationCount() == PostgresMigrations.all.count)
            // The audit log is append-only in the database itself.
            try await store.appendAudit(
                AuditEvent(
                    at: Date(), actor: "a", tenantID: "t", workspaceID: nil, action: "x", target: nil, requestID: nil))
            await #expect(throws: (any Error).self) { try await store.query("DELETE FROM audit_events") }
            await #expect(throws: (any Error).self) { try await store.query("UPDATE audit_events SET actor = 'b'") }
        }
        await TestPostgres.drop(configuration)
    }

    @Test(.enabled(if: TestPostgres.url != nil, "needs IAM_GATEWAY_TEST_POSTGRES_URL"))
    func privateKeysAreEncryptedAtRestAndAWrongKEKIsNamed() async throws {
        let configuration = try TestPostgres.configuration()
        do {
            try await TestPostgres.withStore(configuration) { store in
                let kek = KeyEncryptionKey.random()
                let manager = try await KeyRingManager.open(
                    store: PostgresKeyStore(store: store, encryptionKey: kek), configuration: GatewayConfiguration(),
                    clock: ManualClock(), logger: Logger(label: "test"))
                let rows = try await store.query("SELECT kid, sealed_private_key, kek_id FROM signing_keys")
                #expect(rows.count == 2)
                for row in rows {
                    let row = row.makeRandomAccess()
                    let sealed = try row["sealed_private_key"].decode(Data.self)
                    #expect(try row["kek_id"].decode(String.self) == kek.id)
                    #expect(!String(decoding: sealed, as: UTF8.self).contains("PRIVATE KEY"))
                    let der = manager.snapshot.active.privateKey.derRepresentation
                    #expect(sealed.range(of: der.prefix(64)) == nil)
                }

                let other = KeyEncryptionKey.random()
                do {
                    _ = try await PostgresKeyStore(store: store, encryptionKey: other).load()
                    Issue.record("loaded keys with the wrong key-encryption key")
                } catch let error as KeyRingError {
                    #expect(error.description.contains("cannot be decrypted"), "\(error)")
                    #expect(error.description.contains(kek.id) && error.description.contains(other.id), "\(error)")
                }
            }
        } catch {
            await TestPostgres.drop(configuration)
            throw error
        }
        await TestPostgres.drop(configuration)
    }

    @Test(.enabled(if: TestPostgres.url != nil, "needs IAM_GATEWAY_TEST_POSTGRES_URL"))
    func changesAreAnnouncedWithNotify() async throws {
        let configuration = try TestPostgres.configuration()
        do {
            try await TestPostgres.withStore(configuration) { store in
                let seen = AsyncStream.makeStream(of: StoreChange.self)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await store.changeListener().listen { change in seen.continuation.yield(change) }
                    }
                    defer { group.cancelAll() }
                    var iterator = seen.stream.makeAsyncIterator()
                    // After connecting, every kind is reported once (catch-up).
                    var initial: Set<StoreChange> = []
                    while initial.count < StoreChange.allCases.count, let change = await iterator.next() {
                        initial.insert(change)
                    }
                    try await store.createTenant(Tenant(tenantID: "acme", name: "Acme", createdAt: Date()))
                    #expect(await iterator.next() == .policy)
                    try await store.createSession(
                        SessionRecord(
                            sessionID: "s", tenantID: "acme", workspaceID: "default", principalID: "u",
                            createdAt: Date(), expiresAt: Date().addingTimeInterval(60)), refreshTokenHash: "h")
                    _ = try await store.revokeSession("s", now: Date())
                    #expect(await iterator.next() == .sessions)
                    _ = try await KeyRingManager.open(
                        store: PostgresKeyStore(store: store, encryptionKey: .random()),
                        configuration: GatewayConfiguration(), clock: ManualClock(), logger: Logger(label: "test"))
                    #expect(await iterator.next() == .keys)
                }
            }
        } catch {
            await TestPostgres.drop(configuration)
            throw error
        }
        await TestPostgres.drop(configuration)
    }
}

/// Loading the key-encryption key: file (owner-only) or environment variable, 32 bytes of base64.
@Suite struct KeyEncryptionKeyTests {
    static let valid = Data((0..<32).map { UInt8($0) }).base64EncodedString()

    func configuration(file: String = "", env: String = "") -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.keys.encryptionKeyFile = file
        configuration.keys.encryptionKeyEnv = env
        return configuration
    }

    @Test func loadsFromAnOwnerOnlyFileOrTheEnvironment() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let path = temp.appending("kek")
        _ = FileManager.default.createFile(
            atPath: path, contents: Data((Self.valid + "\n").utf8), attributes: [.posixPermissions: 0o600])
        let fromFile = try KeyEncryptionKey.load(configuration: configuration(file: path), environment: [:])
        let fromEnvironment = try KeyEncryptionKey.load(
            configuration: configuration(env: "GATEWAY_KEK"), environment: ["GATEWAY_KEK": Self.valid])
        #expect(fromFile.id == fromEnvironment.id)
        #expect(fromFile.id.count == 16)
        #expect(KeyEncryptionKey.random().id != fromFile.id)
    }

    @Test func problemsNameTheKey() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let open = temp.appending("kek-open")
        _ = FileManager.default.createFile(
            atPath: open, contents: Data(Self.valid.utf8), attributes: [.posixPermissions: 0o644])
        let short = temp.appending("kek-short")
        _ = FileManager.default.createFile(
            atPath: short, contents: Data(Data(count: 16).base64EncodedString().utf8),
            attributes: [.posixPermissions: 0o600])
        let cases: [(GatewayConfiguration, [String: String], String, String)] = [
            (configuration(), [:], "keys.encryption_key_file", "needs a key-encryption key"),
            (configuration(file: temp.appending("missing")), [:], "keys.encryption_key_file", "does not exist"),
            (configuration(file: open), [:], "keys.encryption_key_file", "chmod 600"),
            (configuration(file: short), [:], "keys.encryption_key_file", "must be 32 bytes"),
            (configuration(env: "GATEWAY_KEK"), [:], "keys.encryption_key_env", "not set"),
            (
                configuration(env: "GATEWAY_KEK"), ["GATEWAY_KEK": "not base64!"],
                "keys.encryption_key_env (GATEWAY_KEK)", "not valid base64"
            ),
        ]
        for (configuration, environment, key, fragment) in cases {
            do {
                _ = try KeyEncryptionKey.load(configuration: configuration, environment: environment)
                Issue.record("accepted \(key) with \(environment)")
            } catch {
                #expect(error.key == key)
                #expect(error.problem.contains(fragment), "\(error.problem)")
                #expect(!error.description.contains(Self.valid))
            }
        }
    }
}
