import Foundation
import GatewayCore
import GatewayStorage
import Logging
import NIOCore
import PostgresNIO
import Testing

/// The store implementations the conformance suites run against: SQLite always, PostgreSQL when
/// `IAM_GATEWAY_TEST_POSTGRES_URL` names a database (`.ci/run` starts one).
enum StoreBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    /// SQLite, plus PostgreSQL when its URL is set.
    static var configured: [StoreBackend] { TestPostgres.url == nil ? [.sqlite] : [.sqlite, .postgres] }

    var testDescription: String { rawValue }
}

/// The test database, when one is configured. Every store opened here gets a schema of its own, dropped afterwards,
/// so tests running in parallel never see each other's rows.
enum TestPostgres {
    static let variable = "IAM_GATEWAY_TEST_POSTGRES_URL"
    static let url: String? = ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    /// Warnings and above: the pool reports each cancelled connection attempt at info level on shutdown.
    static let logger: Logger = {
        var logger = Logger(label: "test.postgres")
        logger.logLevel = .warning
        return logger
    }()
    static let skipNote = "\(variable) is not set: the PostgreSQL cases of the conformance suites are skipped"

    static func configuration(
        schema: String = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    ) throws -> PostgresStoreConfiguration {
        guard let url else { throw TestSetupError("\(variable) is not set") }
        var configuration = try PostgresStoreConfiguration(url: url)
        configuration.schema = schema
        configuration.maximumConnections = 4
        // The whole suite runs in parallel on 2 cores in CI: connection set-up (SCRAM) and key generation can take
        // seconds there, so tests allow more than the production default of 5 s per operation.
        configuration.operationTimeout = .seconds(30)
        return configuration
    }

    /// Drops the test schema and everything in it.
    static func drop(_ configuration: PostgresStoreConfiguration) async {
        guard let schema = configuration.schema else { return }
        var plain = configuration
        plain.schema = nil
        do {
            var connectionConfiguration = PostgresConnection.Configuration(
                host: plain.host, port: plain.port, username: plain.username, password: plain.password,
                database: plain.database, tls: .disable
            )
            connectionConfiguration.options.connectTimeout = .seconds(5)
            let connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(), configuration: connectionConfiguration, id: 99,
                logger: Logger(label: "test")
            )
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"), logger: Logger(label: "test"))
            try await connection.close()
        } catch {
            print("note: could not drop test schema \(schema): \(error)")
        }
    }

    /// Opens a PostgreSQL store in `configuration`'s schema, runs its pool around `body`.
    static func withStore(_ configuration: PostgresStoreConfiguration, _ body: (PostgresStore) async throws -> Void)
        async throws
    {
        let store = try await PostgresStore.open(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await body(store)
        }
    }
}

/// Opens a fresh store of `backend`, runs `body` with it, and removes it.
func withStore(_ backend: StoreBackend, _ body: (any GatewayStore) async throws -> Void) async throws {
    switch backend {
    case .sqlite:
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try await SQLiteStore.open(path: temp.appending("gateway.sqlite"), logger: Logger(label: "test"))
        do {
            try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    case .postgres:
        let configuration = try TestPostgres.configuration()
        do {
            try await TestPostgres.withStore(configuration) { try await body($0) }
        } catch {
            await TestPostgres.drop(configuration)
            throw error
        }
        await TestPostgres.drop(configuration)
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Records in the test output whether the PostgreSQL cases run; skipped (with the reason) when no database is set.
@Suite struct PostgresAvailability {
    @Test(
        .enabled(
            if: TestPostgres.url != nil,
            "set IAM_GATEWAY_TEST_POSTGRES_URL to run the conformance suites against PostgreSQL too"))
    func postgresConformanceCasesRun() async throws {
        try await withStore(.postgres) { store in
            try await store.ping()
        }
    }
}
