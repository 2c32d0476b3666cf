import Foundation

/// The key ring's state machine as pure functions over ``KeyRingState``; time and key generation are passed in.
///
/// - rotation promotes `next` to `active`, the old `active` to `retiring` (until now + retention), and creates a
///   new `next`;
/// - retiring keys leave the ring once `retire_at` has passed;
/// - revocation removes a key at once, rotating first when it is the active one, and replacing a revoked `next`;
/// - a `next` key signs only once it has been published for `minimumPublication` (the JWKS `max-age`): a verifier
///   that cached the JWKS just before it appeared must already have it (SPEC 6). A rotation that would promote a
///   younger one is refused unless forced; automatic rotation waits.
public struct KeyRingPolicy: Sendable {
    /// Seconds a key stays published after it stopped signing (longest token lifetime + leeway).
    public var retention: TimeInterval
    /// Seconds between automatic rotations; 0 turns them off.
    public var rotationInterval: TimeInterval
    /// Seconds a `next` key must have been published before it may sign.
    public var minimumPublication: TimeInterval

    public init(retention: TimeInterval, rotationInterval: TimeInterval, minimumPublication: TimeInterval = 0) {
        self.retention = retention
        self.rotationInterval = rotationInterval
        self.minimumPublication = minimumPublication
    }

    public init(configuration: GatewayConfiguration) {
        self.init(
            retention: TimeInterval(configuration.tokens.keyRetention),
            rotationInterval: TimeInterval(configuration.keys.rotationInterval),
            minimumPublication: TimeInterval(configuration.jwksMaxAge)
        )
    }

    /// Seconds until `state`'s next key may sign (0 when it may now); `nil` when there is no next key.
    public func publicationWait(_ state: KeyRingState, now: Date) -> TimeInterval? {
        guard let next = state.records.first(where: { $0.status == .next }) else { return nil }
        return max(0, next.createdAt.addingTimeInterval(minimumPublication).timeIntervalSince(now))
    }

    /// Checks the invariants: exactly one active key, at most one next, unique kids, every key's material present.
    public static func validate(_ state: KeyRingState) throws(KeyRingError) {
        var seen: Set<String> = []
        for record in state.records {
            guard seen.insert(record.kid).inserted else { throw .inconsistent("key \(record.kid) is listed twice") }
            guard state.keys[record.kid] != nil else { throw .missingKey(record.kid) }
        }
        let active = state.records.filter { $0.status == .active }.count
        guard active == 1 else {
            throw .inconsistent(active == 0 ? "no key is active" : "\(active) keys claim to be active")
        }
        guard state.records.filter({ $0.status == .next }).count <= 1 else {
            throw .inconsistent("more than one key is next")
        }
    }

    /// A new ring: one active and one next key.
    public func initial(now: Date, generate: () throws -> SigningKey) throws -> KeyRingState {
        let active = try generate()
        let next = try generate()
        return KeyRingState(
            records: [
                KeyRecord(kid: active.kid, status: .active, createdAt: now, activatedAt: now),
                KeyRecord(kid: next.kid, status: .next, createdAt: now),
            ],
            keys: [active.kid: active, next.kid: next]
        )
    }

    /// Promotes next to active, active to retiring, and creates a new next.
    /// - Returns: the new state and the (new active, previous active) kids.
    /// Refused with ``KeyRingError/publishedTooRecently(kid:wait:)`` while `next` is younger than
    /// `minimumPublication` (or missing), unless `force` (an emergency: verifiers that cached the JWKS just before may
    /// reject new tokens until they refetch).
    public func rotate(_ state: KeyRingState, now: Date, force: Bool = false, generate: () throws -> SigningKey) throws
        -> (KeyRingState, activeKid: String, previousKid: String?)
    {
        if !force {
            let next = state.records.first(where: { $0.status == .next })
            let wait = publicationWait(state, now: now) ?? minimumPublication
            guard wait <= 0 else {
                throw KeyRingError.publishedTooRecently(kid: next?.kid ?? "-", wait: Int(wait.rounded(.up)))
            }
        }
        var state = state
        let previous = state.active?.kid
        for index in state.records.indices where state.records[index].status == .active {
            state.records[index].status = .retiring
            state.records[index].retireAt = now.addingTimeInterval(retention)
        }
        let newActive: String
        if let index = state.records.firstIndex(where: { $0.status == .next }) {
            state.records[index].status = .active
            state.records[index].activatedAt = now
            newActive = state.records[index].kid
        } else {
            let key = try generate()
            state.keys[key.kid] = key
            state.records.append(KeyRecord(kid: key.kid, status: .active, createdAt: now, activatedAt: now))
            newActive = key.kid
        }
        let next = try generate()
        state.keys[next.kid] = next
        state.records.append(KeyRecord(kid: next.kid, status: .next, createdAt: now))
        return (state, newActive, previous)
    }

    /// Removes a key at once. Revoking the active key rotates first; revoking `next` creates a new one.
    public func revoke(_ state: KeyRingState, kid: String, now: Date, generate: () throws -> SigningKey) throws
        -> KeyRingState
    {
        guard let record = state.records.first(where: { $0.kid == kid }) else { throw KeyRingError.unknownKey(kid) }
        var state = state
        switch record.status {
        case .active:
            // An emergency: the key leaves at once, so the rotation before it is forced.
            state = try rotate(state, now: now, force: true, generate: generate).0
        case .next:
            let replacement = try generate()
            state.keys[replacement.kid] = replacement
            state.records.append(KeyRecord(kid: replacement.kid, status: .next, createdAt: now))
        case .retiring:
            break
        }
        state.records.removeAll { $0.kid == kid }
        state.keys[kid] = nil
        return state
    }

    /// Drops retiring keys whose `retire_at` has passed. Returns `nil` when nothing changes.
    public func expire(_ state: KeyRingState, now: Date) -> KeyRingState? {
        let expired = state.records.filter { $0.status == .retiring && ($0.retireAt ?? now) <= now }
        guard !expired.isEmpty else { return nil }
        var state = state
        for record in expired {
            state.records.removeAll { $0.kid == record.kid }
            state.keys[record.kid] = nil
        }
        return state
    }

    /// True when automatic rotation is due and the next key has been published long enough (it waits otherwise).
    public func rotationDue(_ state: KeyRingState, now: Date) -> Bool {
        guard rotationInterval > 0, let active = state.active, publicationWait(state, now: now) == 0 else {
            return false
        }
        return now >= (active.activatedAt ?? active.createdAt).addingTimeInterval(rotationInterval)
    }
}

/// Key ring and key store failures. Each names the key or file concerned.
public enum KeyRingError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownKey(String)
    case missingKey(String)
    case inconsistent(String)
    case storage(file: String, problem: String)
    /// The next key has been published for less than the JWKS `max-age`; rotating would sign with a key some
    /// verifiers cannot have yet. `wait` seconds remain.
    case publishedTooRecently(kid: String, wait: Int)

    public var description: String {
        switch self {
        case .unknownKey(let kid): "no key with kid \(kid) in the ring"
        case .missingKey(let kid): "the ring names key \(kid) but its key material is missing"
        case .inconsistent(let problem): "the key ring is inconsistent: \(problem)"
        case .storage(let file, let problem): "\(file): \(problem)"
        case .publishedTooRecently(let kid, let wait):
            "the next key \(kid) has been published for less than the JWKS max-age; rotate in \(wait) s, or force it (an emergency)"
        }
    }
}
