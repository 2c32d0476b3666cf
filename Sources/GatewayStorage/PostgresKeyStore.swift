import Foundation
import GatewayCore
import Logging
import PostgresNIO

/// The key ring shared by replicas, in the PostgreSQL store's database: `signing_keys` holds each key's metadata and
/// its private key sealed with the ``KeyEncryptionKey`` (never stored), `key_ring` one row whose `revision` changes
/// with every change.
///
/// ``update(_:)`` runs in one transaction that first takes the `key_ring` row with `SELECT ... FOR UPDATE`, so
/// writers on every replica are serialized: a writer always transforms the ring as the previous one left it, and
/// two replicas rotating at once give one rotation after the other, never two active keys (a partial unique index
/// enforces that as well). Each change is announced with `NOTIFY` on commit. ``revision()`` reads one integer.
public struct PostgresKeyStore: KeyStore {
    let store: PostgresStore
    let kek: KeyEncryptionKey

    public init(store: PostgresStore, encryptionKey: KeyEncryptionKey) {
        self.store = store
        self.kek = encryptionKey
    }

    public var location: String { "\(store.description) (table signing_keys)" }

    public func load() async throws -> StoredKeyRing? {
        let rows = try await store.query(
            """
            SELECT r.revision, k.kid, k.status, k.alg, k.created_at, k.activated_at, k.retire_at, k.sealed_private_key, k.kek_id
            FROM key_ring r LEFT JOIN signing_keys k ON true WHERE r.id = 1 ORDER BY k.created_at, k.kid
            """
        )
        return try decode(rows)
    }

    public func update(_ transform: (KeyRingState?) throws -> KeyRingState?) async throws -> StoredKeyRing {
        let logger = store.logger
        do {
            return try await store.client.withConnection { connection -> StoredKeyRing in
                try await connection.inTransaction(logger: logger) {
                    try await update(connection, logger: logger, transform)
                }
            }
        } catch {
            if PostgresErrors.isUnavailable(error) {
                throw StoreError.unavailable("\(store.description) is unavailable: \(PostgresErrors.describe(error))")
            }
            throw error
        }
    }

    private nonisolated(nonsending) func update(
        _ connection: PostgresConnection, logger: Logger, _ transform: (KeyRingState?) throws -> KeyRingState?
    ) async throws -> StoredKeyRing {
        try await connection.query("SELECT revision FROM key_ring WHERE id = 1 FOR UPDATE", logger: logger)
        let rows = try await connection.query(
            """
            SELECT r.revision, k.kid, k.status, k.alg, k.created_at, k.activated_at, k.retire_at, k.sealed_private_key, k.kek_id
            FROM key_ring r LEFT JOIN signing_keys k ON true WHERE r.id = 1 ORDER BY k.created_at, k.kid
            """,
            logger: logger
        ).collect()
        let current = try decode(rows)
        guard let updated = try transform(current?.state) else {
            guard let current else { throw KeyRingError.inconsistent("the key store at \(location) is empty") }
            return current
        }
        try KeyRingPolicy.validate(updated)
        let existing = Set(current?.state.records.map(\.kid) ?? [])
        let kept = Set(updated.records.map(\.kid))
        let removed = Array(existing.subtracting(kept)).sorted()
        if !removed.isEmpty {
            try await connection.query("DELETE FROM signing_keys WHERE kid = ANY(\(removed))", logger: logger)
        }
        // Demotions before promotions, so the one-active/one-next index holds after every statement.
        let order: [KeyStatus: Int] = [.retiring: 0, .active: 1, .next: 2]
        for record in updated.records.sorted(by: { (order[$0.status] ?? 3) < (order[$1.status] ?? 3) }) {
            if existing.contains(record.kid) {
                try await connection.query(
                    """
                    UPDATE signing_keys SET status = \(record.status.rawValue), activated_at = \(record.activatedAt), retire_at = \(record.retireAt)
                    WHERE kid = \(record.kid)
                    """,
                    logger: logger
                )
            } else {
                guard let key = updated.keys[record.kid] else { throw KeyRingError.missingKey(record.kid) }
                let sealed = Data(try kek.seal(Array(key.pem.utf8), kid: record.kid))
                try await connection.query(
                    """
                    INSERT INTO signing_keys (kid, status, alg, created_at, activated_at, retire_at, sealed_private_key, kek_id)
                    VALUES (\(record.kid), \(record.status.rawValue), \(record.alg), \(record.createdAt), \(record.activatedAt), \(record.retireAt), \(sealed), \(kek.id))
                    """,
                    logger: logger
                )
            }
        }
        let revisionRows = try await connection.query(
            "UPDATE key_ring SET revision = revision + 1, updated_at = now() WHERE id = 1 RETURNING revision",
            logger: logger
        ).collect()
        let revision = try revisionRows.first?.makeRandomAccess()["revision"].decode(Int64.self) ?? 0
        try await store.notify(connection, .keys)
        return StoredKeyRing(state: updated, revision: Self.revision(revision))
    }

    public func revision() async throws -> String {
        let rows = try await store.query("SELECT revision FROM key_ring WHERE id = 1")
        return Self.revision(try rows.first?.makeRandomAccess()["revision"].decode(Int64.self) ?? 0)
    }

    static func revision(_ value: Int64) -> String { "pg-\(value)" }

    /// Rows of the join above: one per key (or one with null key columns for an empty ring).
    func decode(_ rows: [PostgresRow]) throws -> StoredKeyRing? {
        var revision: Int64 = 0
        var records: [KeyRecord] = []
        var keys: [String: SigningKey] = [:]
        for row in rows {
            let row = row.makeRandomAccess()
            revision = try row["revision"].decode(Int64.self)
            guard let kid = try row["kid"].decode(String?.self) else { continue }
            let statusText = try row["status"].decode(String.self)
            guard let status = KeyStatus(rawValue: statusText) else {
                throw KeyRingError.storage(file: location, problem: "key \(kid) has unknown status \(statusText)")
            }
            let record = KeyRecord(
                kid: kid, status: status, alg: try row["alg"].decode(String.self),
                createdAt: try row["created_at"].decode(Date.self),
                activatedAt: try row["activated_at"].decode(Date?.self),
                retireAt: try row["retire_at"].decode(Date?.self)
            )
            let sealed = Array(try row["sealed_private_key"].decode(Data.self))
            let storedKEK = try row["kek_id"].decode(String.self)
            let plaintext: [UInt8]
            do {
                plaintext = try kek.open(sealed, kid: kid)
            } catch {
                let hint =
                    storedKEK == kek.id
                    ? "the sealed key is corrupt"
                    : "it was sealed with key-encryption key \(storedKEK), the configured one is \(kek.id)"
                throw KeyRingError.storage(file: location, problem: "key \(kid) cannot be decrypted: \(hint)")
            }
            do {
                keys[kid] = try SigningKey(kid: kid, pem: String(decoding: plaintext, as: UTF8.self))
            } catch {
                throw KeyRingError.storage(file: location, problem: "key \(kid) decrypts to no valid RSA private key")
            }
            records.append(record)
        }
        guard !records.isEmpty else { return nil }
        let state = KeyRingState(records: records, keys: keys)
        do {
            try KeyRingPolicy.validate(state)
        } catch {
            throw KeyRingError.storage(file: location, problem: error.description)
        }
        return StoredKeyRing(state: state, revision: Self.revision(revision))
    }
}
