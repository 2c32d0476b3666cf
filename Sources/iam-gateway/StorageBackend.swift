import ArgumentParser
import Foundation
import GatewayCore
import GatewayStorage
import Logging
import ServiceLifecycle

/// The stores `storage.url` selects: SQLite and the file key store, or PostgreSQL for both with `LISTEN/NOTIFY`.
struct StorageBackend {
    let store: any GatewayStore
    let keyStore: any KeyStore
    /// The config key to name when the key store fails.
    let keyStoreKey: String
    let changes: (any ChangeNotifier)?
    /// The PostgreSQL connection pool, which must run while the stores are used.
    let pool: PostgresStore?

    /// Opens the stores. Exits 2 on a configuration problem (a missing or malformed key-encryption key, a bad URL)
    /// and 1 when the database cannot be opened (unreachable, wrong password, newer schema), with a message naming
    /// the key and the database without its password.
    static func open(_ configuration: GatewayConfiguration, logger: Logger) async throws -> StorageBackend {
        let location = try await exitOnFailure(2) { try StorageLocation(url: configuration.storage.url) }
        switch location {
        case .sqlite(let path):
            let store = try await exitOnFailure(1, "storage.url: cannot open the store") {
                try await SQLiteStore.open(path: path, logger: logger)
            }
            return StorageBackend(
                store: store, keyStore: FileKeyStore(directory: configuration.keys.directory),
                keyStoreKey: "keys.directory", changes: nil, pool: nil)
        case .postgres(let url):
            let (kek, postgres) = try await exitOnFailure(2) {
                (
                    try KeyEncryptionKey.load(
                        configuration: configuration, environment: ProcessInfo.processInfo.environment),
                    try PostgresStoreConfiguration(url: url)
                )
            }
            let store = try await exitOnFailure(1, "storage.url: cannot open the store") {
                try await PostgresStore.open(configuration: postgres, logger: logger)
            }
            return StorageBackend(
                store: store, keyStore: PostgresKeyStore(store: store, encryptionKey: kek),
                keyStoreKey: "keys (shared key store)",
                changes: store.changeListener(), pool: store
            )
        }
    }

    /// Runs `body` while the connection pool (if any) runs; the pool stops after `body` returns, so it outlives the
    /// HTTP server's graceful shutdown. The store is closed afterwards, whether `body` returned or threw.
    func whileRunning(_ body: () async throws -> Void) async throws {
        do {
            if let pool {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // The pool must be running before the first query leases a connection (PostgresNIO warns
                    // otherwise); the stream finishes once its task has started it.
                    let (running, started) = AsyncStream.makeStream(of: Void.self)
                    group.addTask { try await pool.run { started.finish() } }
                    defer { group.cancelAll() }
                    for await _ in running {}
                    try await body()
                }
            } else {
                try await body()
            }
        } catch {
            try? await store.close()
            throw error
        }
        try? await store.close()
    }
}
