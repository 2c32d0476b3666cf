import GatewayCore
import Synchronization

/// Test double of ``KeyStore``; the file store runs the same scenarios in GatewayStorageTests.
final class InMemoryKeyStore: KeyStore {
    private let stored = Mutex<StoredKeyRing?>(nil)
    private let counter = Mutex(0)

    var location: String { "memory" }

    func load() async throws -> StoredKeyRing? { stored.withLock { $0 } }

    func update(_ transform: (KeyRingState?) throws -> KeyRingState?) async throws -> StoredKeyRing {
        let current = stored.withLock { $0 }
        guard let updated = try transform(current?.state) else {
            guard let current else { throw KeyRingError.inconsistent("empty") }
            return current
        }
        try KeyRingPolicy.validate(updated)
        let revision = counter.withLock { value -> Int in
            value += 1
            return value
        }
        let result = StoredKeyRing(state: updated, revision: "r\(revision)")
        stored.withLock { $0 = result }
        return result
    }

    func revision() async throws -> String { stored.withLock { $0?.revision ?? "empty" } }
}
