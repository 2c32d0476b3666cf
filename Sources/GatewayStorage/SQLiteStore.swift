import Foundation
import GatewayCore
import Logging
import NIOCore
import SQLiteNIO
import Synchronization

/// The embedded store: one SQLite file in WAL mode, schema migrated at open.
///
/// All statements go through one connection, serialized by an async lock so that a transaction's statements are
/// never interleaved with another caller's.
public final class SQLiteStore: GatewayStore {
    public let path: String
    let connection: SQLiteConnection
    let lock = AsyncLock()
    /// Serializes admin-plane writes (check + write) of this process; one SQLite file has one writing gateway.
    let adminWrites = AsyncLock()
    let logger: Logger

    public var description: String { "sqlite:\(path)" }

    /// Opens (creating when missing) the database at `path` and applies pending migrations.
    public static func open(path: String, logger: Logger) async throws -> SQLiteStore {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        if !FileManager.default.fileExists(atPath: path) {
            // Password hashes live here: readable by the owner only.
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteStore(path: path, connection: connection, logger: logger)
        do {
            try await store.configure()
            try await store.migrate()
            try await store.seedPermissions()
        } catch {
            try? await connection.close()
            throw error
        }
        return store
    }

    init(path: String, connection: SQLiteConnection, logger: Logger) {
        self.path = path
        self.connection = connection
        self.logger = logger
    }

    func configure() async throws {
        let mode = try await rawQuery("PRAGMA journal_mode=WAL").first?.column("journal_mode")?.string
        guard mode?.lowercased() == "wal" else {
            throw StoreError.unavailable("\(path): cannot switch to WAL journal mode")
        }
        _ = try await rawQuery("PRAGMA synchronous=FULL")
        _ = try await rawQuery("PRAGMA foreign_keys=ON")
        _ = try await rawQuery("PRAGMA busy_timeout=5000")
    }

    public func ping() async throws {
        _ = try await query("SELECT 1")
    }

    public func schemaVersion() async throws -> Int {
        let rows = try await query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations")
        return Int(rows.first?.column("version")?.integer ?? 0)
    }

    public func close() async throws {
        try await connection.close()
    }

    // MARK: - Migrations

    /// Applies every migration above the recorded version, each in its own transaction.
    func migrate() async throws {
        _ = try await query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        let applied = try await schemaVersion()
        guard applied <= SQLiteMigrations.all.last?.version ?? 0 else {
            throw StoreError.unavailable(
                "\(path): schema version \(applied) is newer than this gateway knows; upgrade the gateway")
        }
        for migration in SQLiteMigrations.all where migration.version > applied {
            try await transaction { tx in
                for statement in migration.statements {
                    _ = try await tx.query(statement)
                }
                _ = try await tx.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.integer(migration.version), .text(migration.name), .integer(Int(Date().timeIntervalSince1970))]
                )
            }
            logger.info(
                "applied schema migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
        }
    }

    // MARK: - Queries

    /// Runs one statement on its own (after committing a group transaction left open, so it never sees or
    /// returns uncommitted data).
    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await lock.withLock {
            try await self.commitGroup()
            return try await self.rawQuery(sql, binds)
        }
    }

    /// Group commit: concurrent transactions share one `BEGIN IMMEDIATE ... COMMIT`, so one fsync covers several
    /// (with `synchronous=FULL` one fsync per rotation bounded refresh; the figures are in Benchmarks/PROFILE.md).
    /// Each transaction runs in its own `SAVEPOINT`, so a failing one rolls back alone; a caller is answered only
    /// after the COMMIT that holds its changes, and gets the COMMIT's error if it fails.
    struct CommitGroup {
        var isOpen = false
        var members: [CheckedContinuation<Void, any Error>] = []
        /// Callers of ``transaction(_:)`` waiting for the lock: while there are some, the group stays open for them.
        var waiting = 0
        var transactions = 0
        var commits = 0
    }

    /// Transactions run and COMMITs issued since open (their ratio is the mean group size).
    public var groupCommitStatistics: (transactions: Int, commits: Int) {
        group.withLock { ($0.transactions, $0.commits) }
    }

    let group = Mutex(CommitGroup())
    /// Transactions one COMMIT may cover, bounding the first one's wait.
    static let maximumGroupSize = 64

    /// Runs `body` atomically and durably, committed together with the transactions queued behind it.
    func transaction<T: Sendable>(_ body: (Transaction) async throws -> T) async throws -> T {
        group.withLock { $0.waiting += 1 }
        await lock.acquire()
        let joinsOpenGroup = group.withLock { group -> Bool in
            group.waiting -= 1
            group.transactions += 1
            return group.isOpen
        }
        if !joinsOpenGroup {
            do {
                _ = try await rawQuery("BEGIN IMMEDIATE")
            } catch {
                lock.release()
                throw error
            }
            group.withLock { $0.isOpen = true }
        }
        let result: Result<T, any Error>
        if joinsOpenGroup {
            // Others' changes are in this transaction: a failure must undo this member's alone.
            do {
                _ = try await rawQuery("SAVEPOINT member")
                do {
                    let value = try await body(Transaction(store: self))
                    _ = try await rawQuery("RELEASE member")
                    result = .success(value)
                } catch {
                    _ = try await rawQuery("ROLLBACK TO member")
                    _ = try await rawQuery("RELEASE member")
                    result = .failure(error)
                }
            } catch {
                // The savepoint could not be set or rolled back: SQLite ended the whole transaction (I/O error,
                // disk full). Every transaction of the group fails with it.
                await abandonGroup(error)
                lock.release()
                throw error
            }
        } else {
            // The first member: on failure the transaction holds nothing else and is rolled back whole.
            do {
                result = .success(try await body(Transaction(store: self)))
            } catch {
                await abandonGroup(error)
                lock.release()
                throw error
            }
        }
        if group.withLock({ $0.waiting > 0 && $0.members.count + 1 < Self.maximumGroupSize }) {
            // Another transaction is queued: it continues the group, and its holder's COMMIT answers this one.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                group.withLock { $0.members.append(continuation) }
                lock.release()
            }
            return try result.get()
        }
        do {
            try await commitGroup()
        } catch {
            lock.release()
            throw error
        }
        lock.release()
        return try result.get()
    }

    /// Commits an open group and answers its waiting members (under the lock).
    func commitGroup() async throws {
        guard group.withLock({ $0.isOpen }) else { return }
        do {
            _ = try await rawQuery("COMMIT")
        } catch {
            await abandonGroup(error)
            throw error
        }
        let members = group.withLock { group -> [CheckedContinuation<Void, any Error>] in
            defer {
                group.members = []
                group.isOpen = false
                group.commits += 1
            }
            return group.members
        }
        for member in members { member.resume() }
    }

    /// Rolls an open group back and fails its waiting members with `error` (under the lock).
    func abandonGroup(_ error: any Error) async {
        _ = try? await rawQuery("ROLLBACK")
        let members = group.withLock { group -> [CheckedContinuation<Void, any Error>] in
            defer {
                group.members = []
                group.isOpen = false
            }
            return group.members
        }
        for member in members { member.resume(throwing: error) }
    }

    /// Statements inside ``transaction(_:)``.
    struct Transaction {
        let store: SQLiteStore

        @discardableResult
        func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
            try await store.rawQuery(sql, binds)
        }
    }

    func rawQuery(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await connection.query(sql, binds)
    }
}

extension SQLiteStore {
    /// The journal mode in force (`wal`), for diagnostics and tests.
    public func journalMode() async throws -> String? {
        try await query("PRAGMA journal_mode").first?.column("journal_mode")?.string?.lowercased()
    }

    /// How many migrations are recorded.
    public func migrationCount() async throws -> Int {
        Int(try await query("SELECT COUNT(*) AS n FROM schema_migrations").first?.column("n")?.integer ?? 0)
    }
}
