import Foundation
import IAMEnforcement
import Logging
import Testing

@testable import GatewayCore

/// The key ring's state machine, driven by a manual clock.
@Suite struct KeyRingTests {
    static func configuration(rotationInterval: Int = 3600) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.keys.rotationInterval = rotationInterval
        configuration.tokens.accessTTL = 300
        configuration.tokens.downstreamTTL = 120
        configuration.tokens.leeway = 30
        return configuration
    }

    static func open(_ store: InMemoryKeyStore = InMemoryKeyStore(), clock: ManualClock, rotationInterval: Int = 3600)
        async throws -> KeyRingManager
    {
        try await KeyRingManager.open(
            store: store, configuration: configuration(rotationInterval: rotationInterval), clock: clock,
            logger: Logger(label: "test"))
    }

    func statuses(_ manager: KeyRingManager) -> [KeyStatus] {
        manager.snapshot.records.map(\.status).sorted { $0.rawValue < $1.rawValue }
    }

    @Test func emptyStoreStartsWithActiveAndNext() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock)
        let snapshot = manager.snapshot
        #expect(snapshot.records.count == 2)
        #expect(snapshot.records.filter { $0.status == .active }.count == 1)
        #expect(snapshot.records.filter { $0.status == .next }.count == 1)
        #expect(snapshot.jwks.keys.count == 2)
        #expect(snapshot.jwks.keys.first?.kid == snapshot.active.kid)
        #expect(Set(snapshot.publicKeys.keys) == Set(snapshot.records.map(\.kid)))
        #expect(snapshot.records.first { $0.status == .active }?.activatedAt == clock.now())
    }

    /// New keys are made before the store's update (on NIO's thread pool, not inside the update) and only as many as
    /// the update uses: a transform that asks for one more ends its pass unwritten and runs again with it.
    @Test func keysAreMadeBeforeTheUpdateAndOnlyAsManyAsUsed() async throws {
        let store = InMemoryKeyStore()
        let policy = KeyRingPolicy(configuration: Self.configuration())
        var passes = 0
        let stored = try await KeyRingManager.update(store, bits: 2048) { state, generate in
            passes += 1
            return try policy.initial(now: Date(), generate: generate)
        }
        #expect(passes == 3, "passes with no key, one key, two keys")
        #expect(stored.state.records.count == 2 && stored.state.keys.count == 2)
        #expect(try await store.load()?.revision == stored.revision)
        passes = 0
        let unchanged = try await KeyRingManager.update(store, bits: 2048) { _, _ in
            passes += 1
            return nil
        }
        #expect(passes == 1 && unchanged.revision == stored.revision)
    }

    @Test func rotationPromotesNextAndRetiresActive() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock)
        let before = manager.snapshot
        let oldActive = before.active.kid
        let oldNext = try #require(before.records.first { $0.status == .next }).kid
        clock.advance(by: 10)
        let (active, previous) = try await manager.rotate(force: true)
        #expect(active == oldNext)
        #expect(previous == oldActive)
        let after = manager.snapshot
        #expect(after.active.kid == oldNext)
        let retiring = try #require(after.records.first { $0.kid == oldActive })
        #expect(retiring.status == .retiring)
        #expect(retiring.retireAt == clock.now().addingTimeInterval(330))
        let newNext = try #require(after.records.first { $0.status == .next })
        #expect(newNext.kid != oldActive && newNext.kid != oldNext)
        #expect(after.jwks.keys.compactMap(\.kid).sorted() == [oldActive, oldNext, newNext.kid].sorted())
    }

    @Test func retiringKeyLeavesOnlyAfterRetention() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock, rotationInterval: 0)
        let oldActive = manager.snapshot.active.kid
        try await manager.rotate(force: true)
        clock.advance(by: 329)
        try await manager.maintain()
        #expect(manager.snapshot.publicKeys[oldActive] != nil)
        clock.advance(by: 1)
        try await manager.maintain()
        #expect(manager.snapshot.publicKeys[oldActive] == nil)
        #expect(manager.snapshot.records.count == 2)
        #expect(!manager.snapshot.jwks.keys.contains { $0.kid == oldActive })
    }

    @Test func automaticRotationFollowsTheInterval() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock, rotationInterval: 3600)
        let first = manager.snapshot.active.kid
        clock.advance(by: 3599)
        try await manager.maintain()
        #expect(manager.snapshot.active.kid == first)
        clock.advance(by: 1)
        try await manager.maintain()
        #expect(manager.snapshot.active.kid != first)
        #expect(manager.snapshot.records.first { $0.kid == first }?.status == .retiring)
    }

    /// SPEC 6: a next key signs only once published for the JWKS max-age; earlier, a rotation is refused unless
    /// forced, and automatic rotation waits for it (two rotations 0.1 s apart made a 0.1 s old key the signer).
    @Test func aNextKeyYoungerThanTheJWKSMaxAgeNeverSignsUnlessForced() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock, rotationInterval: 3600)
        let maxAge = Self.configuration(rotationInterval: 3600).jwksMaxAge
        #expect(maxAge == 300)
        clock.advance(by: TimeInterval(maxAge - 1))
        let before = manager.snapshot.records
        await #expect(
            throws: KeyRingError.publishedTooRecently(
                kid: try #require(before.first { $0.status == .next }).kid, wait: 1)
        ) {
            try await manager.rotate()
        }
        #expect(manager.snapshot.records == before, "a refused rotation changes nothing")
        clock.advance(by: 1)
        let (first, _) = try await manager.rotate()
        // The key made by that rotation is new: a second rotation right after is refused, forced it goes through.
        clock.advance(by: 0.1)
        await #expect(throws: KeyRingError.self) { try await manager.rotate() }
        let (forced, previous) = try await manager.rotate(force: true)
        #expect(previous == first && forced != first)
        // Automatic rotation is due after the interval but waits until the next key is old enough.
        let young = manager.snapshot.records.first { $0.status == .next }!.kid
        clock.advance(by: 3600)
        try await manager.maintain()
        #expect(manager.snapshot.active.kid == young, "due and old enough")
        let justMade = manager.snapshot.records.first { $0.status == .next }!
        #expect(justMade.createdAt == clock.now())
        clock.advance(by: 3600)
        // Pretend the next key was replaced a moment ago (revoked next): automatic rotation must wait for it.
        try await manager.revoke(kid: justMade.kid)
        let replacement = manager.snapshot.records.first { $0.status == .next }!.kid
        try await manager.maintain()
        #expect(
            manager.snapshot.records.first { $0.kid == replacement }?.status == .next, "waits: the replacement is new")
        clock.advance(by: TimeInterval(maxAge))
        try await manager.maintain()
        #expect(manager.snapshot.active.kid == replacement)
    }

    @Test func zeroIntervalNeverRotatesByItself() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock, rotationInterval: 0)
        let first = manager.snapshot.active.kid
        clock.advance(by: 10 * 365 * 86400)
        try await manager.maintain()
        #expect(manager.snapshot.active.kid == first)
    }

    @Test func revokingActiveRotatesFirstAndRemovesIt() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock)
        let active = manager.snapshot.active.kid
        let next = try #require(manager.snapshot.records.first { $0.status == .next }).kid
        try await manager.revoke(kid: active)
        let snapshot = manager.snapshot
        #expect(snapshot.active.kid == next)
        #expect(snapshot.publicKeys[active] == nil)
        #expect(!snapshot.jwks.keys.contains { $0.kid == active })
        #expect(snapshot.records.count == 2)
        #expect(statuses(manager) == [.active, .next])
    }

    @Test func revokingNextReplacesIt() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock)
        let active = manager.snapshot.active.kid
        let next = try #require(manager.snapshot.records.first { $0.status == .next }).kid
        try await manager.revoke(kid: next)
        #expect(manager.snapshot.active.kid == active)
        #expect(manager.snapshot.publicKeys[next] == nil)
        #expect(statuses(manager) == [.active, .next])
    }

    @Test func revokingRetiringRemovesItAtOnce() async throws {
        let clock = ManualClock()
        let manager = try await Self.open(clock: clock)
        let old = manager.snapshot.active.kid
        try await manager.rotate(force: true)
        try await manager.revoke(kid: old)
        #expect(manager.snapshot.publicKeys[old] == nil)
        #expect(statuses(manager) == [.active, .next])
    }

    @Test func revokingUnknownKidFailsAndChangesNothing() async throws {
        let manager = try await Self.open(clock: ManualClock())
        let before = manager.snapshot.records
        await #expect(throws: KeyRingError.unknownKey("nope")) {
            try await manager.revoke(kid: "nope")
        }
        #expect(manager.snapshot.records == before)
    }

    @Test func restartKeepsTheRing() async throws {
        let clock = ManualClock()
        let store = InMemoryKeyStore()
        let first = try await Self.open(store, clock: clock)
        try await first.rotate(force: true)
        let records = first.snapshot.records
        let second = try await Self.open(store, clock: clock)
        #expect(second.snapshot.records == records)
        #expect(second.snapshot.active.kid == first.snapshot.active.kid)
    }

    @Test func anotherWriterIsPickedUpByMaintain() async throws {
        let clock = ManualClock()
        let store = InMemoryKeyStore()
        let server = try await Self.open(store, clock: clock)
        let cli = try await Self.open(store, clock: clock)
        let (active, _) = try await cli.rotate(force: true)
        #expect(server.snapshot.active.kid != active)
        try await server.maintain()
        #expect(server.snapshot.active.kid == active)
    }

    @Test func policyRejectsInconsistentRings() throws {
        let now = Date()
        let a = try SigningKey.generate(bits: 2048)
        let b = try SigningKey.generate(bits: 2048)
        let twoActive = KeyRingState(
            records: [
                KeyRecord(kid: a.kid, status: .active, createdAt: now),
                KeyRecord(kid: b.kid, status: .active, createdAt: now),
            ], keys: [a.kid: a, b.kid: b])
        #expect(throws: KeyRingError.inconsistent("2 keys claim to be active")) {
            try KeyRingPolicy.validate(twoActive)
        }
        let noActive = KeyRingState(records: [KeyRecord(kid: a.kid, status: .next, createdAt: now)], keys: [a.kid: a])
        #expect(throws: KeyRingError.inconsistent("no key is active")) { try KeyRingPolicy.validate(noActive) }
        let missing = KeyRingState(records: [KeyRecord(kid: a.kid, status: .active, createdAt: now)], keys: [:])
        #expect(throws: KeyRingError.missingKey(a.kid)) { try KeyRingPolicy.validate(missing) }
    }
}
