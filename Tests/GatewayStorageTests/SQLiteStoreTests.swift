import Foundation
import GatewayCore
import GatewayStorage
import Logging
import Testing

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

    @Test func notADatabaseFileFailsToOpen() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let path = temp.appending("garbage.sqlite")
        _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 4096))
        await #expect(throws: (any Error).self) {
            _ = try await SQLiteStore.open(path: path, logger: Logger(label: "test"))
        }
    }
}
