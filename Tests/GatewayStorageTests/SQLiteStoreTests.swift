import Foundation
import GatewayCore
import Logging
import Testing

@testable import GatewayStorage

@Suite struct SQLiteStoreTests {
    @Test func createsFileAppliesMigrationsOnceAndUsesWAL() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let path = temp.appending("nested/dir/gateway.sqlite")
        let store = try await SQLiteStore.open(path: path, logger: Logger(label: "test"))
        try await store.ping()
        let version = try await store.schemaVersion()
        #expect(version >= 1)
        #expect(try await store.journalMode() == "wal")
        try await store.close()
        #expect(FileManager.default.fileExists(atPath: path))

        let reopened = try await SQLiteStore.open(path: path, logger: Logger(label: "test"))
        #expect(try await reopened.schemaVersion() == version)
        #expect(try await reopened.migrationCount() == version)
        try await reopened.close()
    }

    /// Concurrent transactions share commits: each is answered with its own outcome, a failing one (a conflict)
    /// rolls back alone, and what was answered as written is on disk after reopening.
    @Test func groupCommitKeepsEachTransactionsOutcome() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let path = temp.appending("gateway.sqlite")
        let store = try await SQLiteStore.open(path: path, logger: Logger(label: "test"))
        try await store.createTenant(Tenant(tenantID: "acme", name: "Acme", createdAt: Date()))
        // 200 creations of 100 usernames: one of each pair wins, the other is a conflict.
        let outcomes = await withTaskGroup(of: (String, Bool).self) { tasks in
            for index in 0..<200 {
                tasks.addTask {
                    let user = UserRecord(
                        tenantID: "acme", userID: "u-\(index)", username: "name-\(index % 100)", passwordHash: "x",
                        createdAt: Date())
                    do {
                        try await store.createUser(user)
                        return (user.userID, true)
                    } catch {
                        return (user.userID, false)
                    }
                }
            }
            var outcomes: [String: Bool] = [:]
            for await (id, created) in tasks { outcomes[id] = created }
            return outcomes
        }
        let statistics = store.groupCommitStatistics
        #expect(statistics.transactions >= 201)
        #expect(statistics.commits < statistics.transactions, "some commits covered several transactions")
        let created = Set(outcomes.filter(\.value).keys)
        #expect(created.count == 100)
        for pair in 0..<100 {
            #expect(created.contains("u-\(pair)") != created.contains("u-\(pair + 100)"), "exactly one of name-\(pair)")
        }
        try await store.close()

        let reopened = try await SQLiteStore.open(path: path, logger: Logger(label: "test"))
        for index in 0..<200 {
            let stored = try await reopened.user(tenantID: "acme", userID: "u-\(index)")
            #expect((stored != nil) == created.contains("u-\(index)"), "u-\(index)")
        }
        try await reopened.close()
    }

    /// A transaction that fails alone (first of its group, nothing queued) and one that fails with others queued
    /// behind it each release the store once: the store keeps serving, in order, with nothing half-written.
    @Test func failingTransactionsLeaveTheStoreUsable() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try await SQLiteStore.open(path: temp.appending("gateway.sqlite"), logger: Logger(label: "test"))
        try await store.createTenant(Tenant(tenantID: "acme", name: "Acme", createdAt: Date()))
        let user = UserRecord(tenantID: "acme", userID: "u-1", username: "same", passwordHash: "x", createdAt: Date())
        try await store.createUser(user)
        await #expect(throws: GatewayError.self) { try await store.createUser(user) }
        // 40 creations of one username at once: exactly one more succeeds (a new id), the rest are conflicts.
        let created = await withTaskGroup(of: Bool.self) { tasks in
            for index in 0..<40 {
                tasks.addTask {
                    (try? await store.createUser(
                        UserRecord(
                            tenantID: "acme", userID: "v-\(index)", username: "other", passwordHash: "x",
                            createdAt: Date()))) != nil
                }
            }
            return await tasks.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(created == 1)
        #expect(try await store.user(tenantID: "acme", username: "same")?.userID == "u-1")
        try await store.close()
    }

    @Test func notADatabaseFileFailsToOpen() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let path = temp.appending("garbage.sqlite")
        _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 4096))
        await #expect(throws: (any Error).self) {
            _ = try await SQLiteStore.open(path: path, logger: Logger(label: "test"))
        }
    }

    /// A row that does not hold what its schema says (a missing column, NULL where a value must be, a value of
    /// another type, a permission list that is not JSON) is a store error, never read as "", the epoch or 0.
    @Test func damagedRowsAreStoreErrorsNotDefaults() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try await SQLiteStore.open(path: temp.appending("gateway.sqlite"), logger: Logger(label: "test"))
        defer { Task { try? await store.close() } }
        let good = try #require(
            try await store.query(
                "SELECT 't' AS tenant_id, 'u' AS user_id, 'name' AS username, 'h' AS password_hash, 12.5 AS created_at"
            ).first)
        #expect(try SQLiteStore.user(good).createdAt == Date(timeIntervalSince1970: 12.5))
        for select in [
            "SELECT 't' AS tenant_id, 'u' AS user_id, 'name' AS username, 'h' AS password_hash",  // created_at missing
            "SELECT 't' AS tenant_id, 'u' AS user_id, NULL AS username, 'h' AS password_hash, 1.0 AS created_at",
            "SELECT 't' AS tenant_id, 'u' AS user_id, 'name' AS username, 'h' AS password_hash, 'yesterday' AS created_at",
            "SELECT 't' AS tenant_id, 7 AS user_id, 'name' AS username, 'h' AS password_hash, 1.0 AS created_at",
        ] {
            let row = try #require(try await store.query(select).first)
            #expect(throws: StoreError.self, "\(select)") { _ = try SQLiteStore.user(row) }
        }
        let role = try #require(
            try await store.query(
                "SELECT 'r' AS role_id, 't' AS tenant_id, 'n' AS name, NULL AS description, NULL AS workspace_id, '{not json' AS permissions, 1.0 AS created_at, 1.0 AS updated_at"
            ).first)
        #expect(throws: StoreError.self) { _ = try SQLiteStore.role(role) }
    }
}
