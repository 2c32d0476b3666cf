import Foundation
import GatewayCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The shared store: one PostgreSQL database for several gateway replicas (`storage.url: postgres://...`).
///
/// ``open(configuration:logger:)`` connects once (so a wrong address or password fails start-up with a clear
/// message), applies pending migrations under an advisory lock and seeds the permission registry. Queries then go
/// through a connection pool that works only while ``run()`` runs: add the store to a `ServiceGroup`, or run it in
/// a task for as long as the store is used.
///
/// Every operation has a deadline (``PostgresStoreConfiguration/operationTimeout``): while the database is
/// unreachable, operations fail with ``StoreError`` (answered as 503) instead of waiting for the pool, and they
/// succeed again once it is back. Changes other replicas must see at once are announced with `NOTIFY` in the
/// same transaction (see ``PostgresChangeListener``).
public final class PostgresStore: GatewayStore, Service {
    public let configuration: PostgresStoreConfiguration
    let client: PostgresClient
    let logger: Logger
    /// Admin-plane writes of this process wait here before taking the database's per-tenant advisory lock, so one
    /// process holds at most one pooled connection for it.
    let adminWrites = AsyncLock()

    public var description: String { configuration.description }

    /// Connects, migrates and seeds; the returned store's queries need ``run()`` to be running.
    /// - Throws: ``StoreError`` naming the database (never the password) and the reason.
    public static func open(configuration: PostgresStoreConfiguration, logger: Logger) async throws -> PostgresStore {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(),
                configuration: try configuration.connectionConfiguration(), id: 0, logger: logger
            )
        } catch {
            throw StoreError.unavailable(
                "cannot connect to \(configuration.description): \(PostgresErrors.describe(error))")
        }
        do {
            try await PostgresMigrator(configuration: configuration, logger: logger).migrate(connection)
        } catch let error as StoreError {
            try? await connection.close()
            throw error
        } catch {
            try? await connection.close()
            throw StoreError.unavailable(
                "\(configuration.description): migration failed: \(PostgresErrors.describe(error))")
        }
        try? await connection.close()
        let client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        return PostgresStore(configuration: configuration, client: client, logger: logger)
    }

    init(configuration: PostgresStoreConfiguration, client: PostgresClient, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
    }

    /// Runs the connection pool until cancelled or graceful shutdown. Call it once per store: a pool cannot be
    /// restarted.
    public func run() async throws {
        await client.run()
    }

    /// ``run()``, calling `started` right before the pool starts (the pool marks itself running synchronously on
    /// entry), so that a caller waiting for it does not lease a connection from a pool not yet run.
    public func run(started: @Sendable () -> Void) async throws {
        started()
        await client.run()
    }

    /// A listener for this store's change notifications (key ring, policy versions, session revocations).
    public func changeListener() -> PostgresChangeListener {
        PostgresChangeListener(configuration: configuration, logger: logger)
    }

    public func ping() async throws {
        try await query("SELECT 1")
    }

    public func schemaVersion() async throws -> Int {
        let rows = try await query("SELECT COALESCE(MAX(version), 0)::bigint AS version FROM schema_migrations")
        return Int(try rows.first?.makeRandomAccess()["version"].decode(Int64.self) ?? 0)
    }

    /// The pool closes when ``run()`` ends; nothing to release here.
    public func close() async throws {}

    /// How many migrations are recorded.
    public func migrationCount() async throws -> Int {
        let rows = try await query("SELECT COUNT(*)::bigint AS n FROM schema_migrations")
        return Int(try rows.first?.makeRandomAccess()["n"].decode(Int64.self) ?? 0)
    }

    // MARK: - Queries

    /// Runs one statement on a pooled connection and collects its rows.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withDeadline { [client, logger] in
            try await client.query(query, logger: logger).collect()
        }
    }

    /// Runs `body` inside `BEGIN ... COMMIT` on one pooled connection, rolling back when it throws. A connection whose
    /// rollback fails is closed, so the pool never hands out a connection with a transaction open.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T
    {
        try await withDeadline { [client, logger] in
            try await client.withConnection { connection -> T in
                try await connection.inTransaction(logger: logger) { try await body(connection) }
            }
        }
    }

    /// Runs `operation` with the configured deadline; connection-level failures become ``StoreError``.
    func withDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = configuration.operationTimeout
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await operation() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw PostgresErrors.DeadlineExceeded()
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { throw CancellationError() }
                return first
            }
        } catch {
            if PostgresErrors.isUnavailable(error) {
                logger.warning(
                    "PostgreSQL store unavailable",
                    metadata: ["store": "\(description)", "reason": "\(PostgresErrors.describe(error))"])
                throw StoreError.unavailable("\(description) is unavailable: \(PostgresErrors.describe(error))")
            }
            throw error
        }
    }

    /// `NOTIFY` of a change, delivered to listeners when the transaction commits.
    func notify(_ connection: PostgresConnection, _ change: StoreChange) async throws {
        try await connection.query(
            "SELECT pg_notify(\(configuration.notificationChannel), \(change.rawValue))", logger: logger)
    }
}

/// Applies ``PostgresMigrations`` on one connection in one transaction, under an advisory lock so that replicas
/// starting together never race.
struct PostgresMigrator {
    let configuration: PostgresStoreConfiguration
    let logger: Logger

    func migrate(_ connection: PostgresConnection) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            let lockName = "iam-gateway.migrations." + (configuration.schema ?? "public")
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(lockName)))", logger: logger)
            if let schema = configuration.schema {
                // Validated against ^[a-z_][a-z0-9_]*$, so it is safe as an identifier.
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: logger)
            }
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)",
                logger: logger
            )
            let rows = try await connection.query(
                "SELECT COALESCE(MAX(version), 0)::bigint AS version FROM schema_migrations", logger: logger
            ).collect()
            let applied = Int(try rows.first?.makeRandomAccess()["version"].decode(Int64.self) ?? 0)
            guard applied <= PostgresMigrations.all.last?.version ?? 0 else {
                throw StoreError.unavailable(
                    "\(configuration.description): schema version \(applied) is newer than this gateway knows; upgrade the gateway"
                )
            }
            for migration in PostgresMigrations.all where migration.version > applied {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), now())",
                    logger: logger
                )
                logger.info(
                    "applied schema migration",
                    metadata: [
                        "version": "\(migration.version)", "name": "\(migration.name)",
                        "store": "\(configuration.description)",
                    ])
            }
            for entry in PermissionCatalog.seed {
                try await connection.query(
                    "INSERT INTO permissions (name, service, label) VALUES (\(entry.name), \(entry.service), \(entry.label)) ON CONFLICT (name) DO NOTHING",
                    logger: logger
                )
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}

/// Classifies and describes PostgreSQL client errors without leaking queries, binds or credentials.
enum PostgresErrors {
    struct DeadlineExceeded: Error, CustomStringConvertible {
        var description: String { "no answer within the operation timeout" }
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    static func isUniqueViolation(_ error: any Error) -> Bool { sqlState(error) == "23505" }
    static func isForeignKeyViolation(_ error: any Error) -> Bool { sqlState(error) == "23503" }

    /// True for failures of the connection or the server, not of the statement: the store is unavailable.
    static func isUnavailable(_ error: any Error) -> Bool {
        switch error {
        case is DeadlineExceeded:
            return true
        case let error as PSQLError:
            guard error.code == .server else { return true }
            let state = error.serverInfo?[.sqlState] ?? ""
            // 08: connection exception; 53: insufficient resources; 57P: operator intervention (shutdown).
            return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P")
        default:
            return isPoolError(error)
        }
    }

    /// The pool's own errors (no connection can be opened, the pool is shut down). Their type lives in an
    /// underscored module of postgres-nio, so it is recognised by name rather than imported.
    static func isPoolError(_ error: any Error) -> Bool {
        String(reflecting: type(of: error)).hasSuffix(".ConnectionPoolError")
    }

    /// A short reason for logs and start-up messages: the server's message or the connection failure.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as PSQLError:
            if let message = error.serverInfo?[.message] {
                return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if error.code == .sslUnsupported {
                return "the server does not offer TLS and sslmode=require asks for it (turn ssl on in the server, or"
                    + " use sslmode=prefer or disable on a trusted network)"
            }
            if let underlying = error.underlying {
                return connectionFailure(underlying) ?? tlsFailure(underlying) ?? "\(error.code): \(underlying)"
            }
            return "\(error.code)"
        case let error where isPoolError(error):
            return "no connection to the database can be opened (\(error))"
        case let error as StoreError:
            return error.message
        default:
            return connectionFailure(error) ?? "\(error)"
        }
    }

    /// A TLS handshake that failed, in words an operator acts on (BoringSSL's own is an error stack).
    static func tlsFailure(_ error: any Error) -> String? {
        let trust =
            "the server's certificate must be signed by a CA of the system trust store or of the file sslrootcert"
            + " names in storage.url, and name the host"
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "TLS: the database server's certificate does not name the host of storage.url (\(trust))"
        }
        switch error {
        case NIOSSLError.handshakeFailed(let reason):
            if "\(reason)".contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS: the database server's certificate is not trusted (\(trust))"
            }
            return "TLS handshake with the database failed (\(trust)): \(reason)"
        case let error as NIOSSLError:
            return "TLS with the database failed: \(error)"
        default:
            return nil
        }
    }

    /// A connection that could not be made, in words an operator acts on (NIO's own description is a dump of
    /// every address tried).
    static func connectionFailure(_ error: any Error) -> String? {
        let failures: [any Error]
        switch error {
        case let error as NIOConnectionError:
            failures = error.connectionErrors.map(\.error)
            if error.connectionErrors.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
                return "the database host name does not resolve"
            }
        case let error as IOError:
            failures = [error]
        case is ChannelError:
            failures = [error]
        default:
            return nil
        }
        for failure in failures {
            if let io = failure as? IOError {
                switch io.errnoCode {
                case ECONNREFUSED: return "connection refused: is the database server running and listening there?"
                case EHOSTUNREACH, ENETUNREACH: return "the database host is unreachable"
                case ETIMEDOUT: return "the connection to the database timed out"
                default: continue
                }
            }
            if case ChannelError.connectTimeout = failure { return "the connection to the database timed out" }
        }
        return nil
    }
}

extension PostgresConnection {
    /// Runs `body` between `BEGIN` and `COMMIT`, rolling back when it throws. A connection whose rollback fails is
    /// closed, so the pool never hands out a connection with a transaction open.
    nonisolated(nonsending) func inTransaction<T>(logger: Logger, _ body: () async throws -> T) async throws -> T {
        try await query("BEGIN", logger: logger)
        do {
            let result = try await body()
            try await query("COMMIT", logger: logger)
            return result
        } catch {
            do {
                try await query("ROLLBACK", logger: logger)
            } catch {
                try? await close()
            }
            throw error
        }
    }
}
