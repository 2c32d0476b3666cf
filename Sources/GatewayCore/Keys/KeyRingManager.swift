import CryptoExtras
import Foundation
import IAMEnforcement
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The key ring in memory: the active signing key, the published JWKS and the verification keys, swapped as one
/// snapshot so that a token is never signed by a key missing from the JWKS served at that moment.
///
/// Runs as a `Service`: once a second it picks up changes written by another process (the CLI, another replica), drops
/// retiring keys whose time is up and rotates when `keys.rotation_interval` has passed.
public final class KeyRingManager: Service, Sendable {
    /// One consistent view of the ring.
    public struct Snapshot: Sendable {
        public let records: [KeyRecord]
        public let active: SigningKey
        public let jwks: JSONWebKeySet
        /// The JWKS document as served.
        public let jwksJSON: [UInt8]
        public let publicKeys: [String: _RSA.Signing.PublicKey]
        public let revision: String

        init(state: KeyRingState, revision: String) throws {
            try KeyRingPolicy.validate(state)
            guard let activeRecord = state.active, let active = state.keys[activeRecord.kid] else {
                throw KeyRingError.inconsistent("no key is active")
            }
            let order: [KeyStatus: Int] = [.active: 0, .next: 1, .retiring: 2]
            let published = state.records.sorted {
                (order[$0.status] ?? 3, $0.createdAt) < (order[$1.status] ?? 3, $1.createdAt)
            }
            var jwks: [JSONWebKey] = []
            var publicKeys: [String: _RSA.Signing.PublicKey] = [:]
            for record in published {
                guard let key = state.keys[record.kid] else { throw KeyRingError.missingKey(record.kid) }
                jwks.append(key.jwk)
                publicKeys[record.kid] = key.privateKey.publicKey
            }
            self.records = state.records
            self.active = active
            self.jwks = JSONWebKeySet(keys: jwks)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            self.jwksJSON = Array(try encoder.encode(self.jwks))
            self.publicKeys = publicKeys
            self.revision = revision
        }
    }

    /// Called after each change with an action name (`keys.rotate`, `keys.revoke`, `keys.retire`) and the kid.
    /// Who made a change, for the audit log: the authenticated principal of an admin request, or `system` for the
    /// maintenance loop.
    public struct Actor: Sendable {
        public var name: String
        public var requestID: String?

        public init(name: String, requestID: String?) {
            self.name = name
            self.requestID = requestID
        }

        public static let system = Actor(name: "system", requestID: nil)
    }

    public typealias ChangeObserver = @Sendable (_ action: String, _ kid: String, _ actor: Actor) async -> Void
    public typealias SnapshotObserver = @Sendable (Snapshot) -> Void

    let store: any KeyStore
    let policy: KeyRingPolicy
    let clock: any GatewayClock
    let rsaBits: Int
    let logger: Logger
    let pollInterval: Duration
    private let current: Mutex<Snapshot>
    private let observer: Mutex<ChangeObserver?>
    private let snapshotObserver: Mutex<SnapshotObserver?>

    /// Loads the ring from `store`, creating an active and a next key when the store is empty, and applies any
    /// retirement or rotation already due.
    public static func open(
        store: any KeyStore, configuration: GatewayConfiguration, clock: any GatewayClock, logger: Logger,
        pollInterval: Duration = .seconds(1)
    ) async throws -> KeyRingManager {
        let policy = KeyRingPolicy(configuration: configuration)
        let bits = configuration.keys.rsaBits
        let stored = try await update(store, bits: bits) { stored, generate in
            guard stored == nil else { return nil }
            return try policy.initial(now: clock.now(), generate: generate)
        }
        let snapshot = try Snapshot(state: stored.state, revision: stored.revision)
        let manager = KeyRingManager(
            store: store, policy: policy, clock: clock, rsaBits: bits, logger: logger, pollInterval: pollInterval,
            snapshot: snapshot)
        try await manager.maintain()
        return manager
    }

    init(
        store: any KeyStore, policy: KeyRingPolicy, clock: any GatewayClock, rsaBits: Int, logger: Logger,
        pollInterval: Duration, snapshot: Snapshot
    ) {
        self.store = store
        self.policy = policy
        self.clock = clock
        self.rsaBits = rsaBits
        self.logger = logger
        self.pollInterval = pollInterval
        self.current = Mutex(snapshot)
        self.observer = Mutex(nil)
        self.snapshotObserver = Mutex(nil)
    }

    /// The current view; cheap.
    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Registers the observer told of every change made by this process (for the audit log).
    public func onChange(_ observer: @escaping ChangeObserver) {
        self.observer.withLock { $0 = observer }
    }

    /// Registers the observer told of every snapshot installed after this call, whoever made the change: this
    /// process, or another one whose change ``maintain()`` picked up (tests await a reload through it).
    public func onSnapshot(_ observer: @escaping SnapshotObserver) {
        snapshotObserver.withLock { $0 = observer }
    }

    /// Rotates now: next becomes active, active becomes retiring, a new next is created.
    /// - Parameter force: rotate even while the next key is younger than the JWKS `max-age` (audited as
    ///   `keys.rotate_forced`).
    /// - Throws: ``KeyRingError/publishedTooRecently(kid:wait:)`` when that is so and `force` is not set.
    @discardableResult
    public func rotate(by actor: Actor = .system, force: Bool = false) async throws -> (
        activeKid: String, previousKid: String?
    ) {
        let policy = self.policy
        let now = clock.now()
        let kids = Mutex<(String, String?)>(("", nil))
        try await apply { state, generate in
            guard let state else { throw KeyRingError.inconsistent("the key store is empty") }
            let (rotated, active, previous) = try policy.rotate(state, now: now, force: force, generate: generate)
            kids.withLock { $0 = (active, previous) }
            return rotated
        }
        let (active, previous) = kids.withLock { $0 }
        logger.info(
            "signing key rotated",
            metadata: ["active_kid": "\(active)", "previous_kid": "\(previous ?? "-")", "forced": "\(force)"])
        await notify(force ? "keys.rotate_forced" : "keys.rotate", active, actor)
        return (active, previous)
    }

    /// Removes a key from the ring and the JWKS at once (rotating first when it is active).
    public func revoke(kid: String, by actor: Actor = .system) async throws {
        let policy = self.policy
        let now = clock.now()
        try await apply { state, generate in
            guard let state else { throw KeyRingError.inconsistent("the key store is empty") }
            return try policy.revoke(state, kid: kid, now: now, generate: generate)
        }
        logger.warning("signing key revoked", metadata: ["kid": "\(kid)"])
        await notify("keys.revoke", kid, actor)
    }

    /// Picks up changes made by other processes, retires expired keys and rotates when due.
    public func maintain() async throws {
        let revision = try await store.revision()
        if revision != snapshot.revision {
            guard let stored = try await store.load() else {
                throw KeyRingError.inconsistent("the key store became empty")
            }
            try install(stored)
            logger.info("key ring reloaded from \(store.location)", metadata: ["active_kid": "\(snapshot.active.kid)"])
        }
        let now = clock.now()
        let policy = self.policy
        let expired = snapshot.records.filter { $0.status == .retiring && ($0.retireAt ?? now) <= now }.map(\.kid)
        if !expired.isEmpty {
            try await apply { state, _ in
                guard let state else { return nil }
                return policy.expire(state, now: now)
            }
            for kid in expired { await notify("keys.retire", kid, .system) }
        }
        let current = snapshot.records
        if policy.rotationDue(KeyRingState(records: current, keys: [:]), now: now) {
            try await rotateIfDue(now: now)
        }
    }

    /// Rotates when rotation is still due in the ring as stored: the check runs under the store's lock, so of several
    /// processes that find the same rotation due, one rotates and the others pick its result up.
    func rotateIfDue(now: Date) async throws {
        let policy = self.policy
        let kids = Mutex<(String, String?)?>(nil)
        try await apply { state, generate in
            guard let state, policy.rotationDue(state, now: now) else { return nil }
            let (rotated, active, previous) = try policy.rotate(state, now: now, generate: generate)
            kids.withLock { $0 = (active, previous) }
            return rotated
        }
        guard let (active, previous) = kids.withLock({ $0 }) else { return }
        logger.info(
            "signing key rotated (interval)",
            metadata: ["active_kid": "\(active)", "previous_kid": "\(previous ?? "-")"])
        await notify("keys.rotate", active, .system)
    }

    /// Runs ``maintain()`` every poll interval until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: self.pollInterval)
                } catch {
                    return
                }
                do {
                    try await self.maintain()
                } catch {
                    self.logger.error(
                        "key ring maintenance failed; keeping the current keys", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func apply(
        _ transform: (KeyRingState?, _ generate: () throws -> SigningKey) throws -> KeyRingState?
    ) async throws {
        try install(try await Self.update(store, bits: rsaBits, transform))
    }

    /// Runs `transform` in an update of `store`, handing it the new signing keys it asks for from keys made before
    /// the update, on NIO's thread pool. An RSA key takes a tenth of a second (2048 bits) to seconds (4096 bits, a
    /// debug build) of CPU: on a cooperative thread it would stall every task waiting for one, and inside the update
    /// it would hold the store's lock as long. A transform that asks for more keys than were made ends its update
    /// unwritten; it runs again with one key more (a rotation asks for one, a new ring for two).
    static func update(
        _ store: any KeyStore, bits: Int,
        _ transform: (KeyRingState?, _ generate: () throws -> SigningKey) throws -> KeyRingState?
    ) async throws -> StoredKeyRing {
        var keys: [SigningKey] = []
        while true {
            let supply = KeySupply(keys)
            do {
                return try await store.update { try transform($0, supply.take) }
            } catch is KeySupply.Shortage {
                keys.append(try await NIOThreadPool.singleton.runIfActive { try SigningKey.generate(bits: bits) })
            }
        }
    }

    private func install(_ stored: StoredKeyRing) throws {
        let snapshot = try Snapshot(state: stored.state, revision: stored.revision)
        current.withLock { $0 = snapshot }
        snapshotObserver.withLock { $0 }?(snapshot)
    }

    private func notify(_ action: String, _ kid: String, _ actor: Actor) async {
        if let observer = observer.withLock({ $0 }) {
            await observer(action, kid, actor)
        }
    }
}

/// The signing keys made for one key store update before it began (see ``KeyRingManager/update(_:bits:_:)``).
final class KeySupply {
    /// The update asked for more keys than were made.
    struct Shortage: Error {}

    private let keys: [SigningKey]
    private var taken = 0

    init(_ keys: [SigningKey]) { self.keys = keys }

    func take() throws -> SigningKey {
        guard taken < keys.count else { throw Shortage() }
        defer { taken += 1 }
        return keys[taken]
    }
}
