import Crypto
import Synchronization

/// Claims of tokens this service has already verified, so that a client sending the same token again does not
/// cost another RSA verification and claims parse (SPEC section 8). ``GatewayTokenAuthenticator`` uses one by
/// default.
///
/// - Keyed by the SHA-256 of the exact token text (32 bytes held, not the token): a hit means the same token, as
///   finding another token with the same digest is infeasible. A tampered or different token never hits.
/// - An entry is used only while `now < exp` (no leeway: never past `exp`) and `nbf - leeway <= now`; at `exp` it
///   is dropped, and a token inside the leeway window goes through full verification again.
/// - A hit is not a bypass of what can change after verification: the caller still asks its key source for the
///   token's `kid` (a token whose key left the JWKS is refused) and still checks `iss` and `aud` (a cache shared by
///   two verifiers grants nothing across audiences); ``GatewayTokenAuthenticator`` checks policy-version staleness
///   on every request, hit or not.
/// - Bounded: at most ``capacity`` entries. When full, a new entry replaces the oldest one inserted (a ring of
///   slots, O(1) per insert); expired entries go when they are next looked up or when their slot comes round.
public final class VerifiedClaimsCache: Sendable {
    /// The token's SHA-256, whole: a hit grants the claims, so a second preimage is what an attacker would need.
    struct Digest: Hashable {
        var a, b, c, d: UInt64

        init(_ token: some StringProtocol) {
            let digest =
                token.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
                ?? SHA256.hash(data: Array(token.utf8))
            (a, b, c, d) = digest.withUnsafeBytes { bytes in
                (
                    bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                    bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                    bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                )
            }
        }

        func hash(into hasher: inout Hasher) {
            // Already uniformly distributed.
            hasher.combine(a)
        }
    }

    /// A cached verification: the claims and the `kid` whose key verified them.
    public struct Entry: Sendable, Equatable {
        public var claims: AccessTokenClaims
        public var kid: String
    }

    private struct Slot {
        var entry: Entry
        var slot: Int
    }

    private struct State {
        var entries: [Digest: Slot] = [:]
        /// Insertion order: `ring[next]` is the oldest slot, replaced by the next insert when full.
        var ring: [Digest?]
        var next = 0
        var hits = 0
        var misses = 0
    }

    /// The most tokens held at once; 0 turns the cache off.
    public let capacity: Int
    private let state: Mutex<State>

    public init(capacity: Int = 10_000) {
        self.capacity = max(0, capacity)
        self.state = Mutex(State(ring: Array(repeating: nil, count: max(0, capacity))))
    }

    /// The cached verification of `token`, or `nil` when there is none usable at `now` (seconds since 1970).
    public func entry(for token: some StringProtocol, now: Int64, leeway: Int64) -> Entry? {
        guard capacity > 0 else { return nil }
        return entry(for: Digest(token), now: now, leeway: leeway)
    }

    func entry(for key: Digest, now: Int64, leeway: Int64) -> Entry? {
        state.withLock { state in
            guard let found = state.entries[key] else {
                state.misses += 1
                return nil
            }
            let claims = found.entry.claims
            guard now < claims.exp, claims.nbf - leeway <= now else {
                if now >= claims.exp {
                    state.entries[key] = nil
                    state.ring[found.slot] = nil
                }
                state.misses += 1
                return nil
            }
            state.hits += 1
            return found.entry
        }
    }

    /// Remembers a verified token; ignored when it is already past `exp` at `now`.
    public func store(_ claims: AccessTokenClaims, kid: String, for token: some StringProtocol, now: Int64) {
        guard capacity > 0, now < claims.exp else { return }
        store(claims, kid: kid, key: Digest(token))
    }

    func store(_ claims: AccessTokenClaims, kid: String, key: Digest) {
        let entry = Entry(claims: claims, kid: kid)
        state.withLock { state in
            if let existing = state.entries[key] {
                state.entries[key] = Slot(entry: entry, slot: existing.slot)
                return
            }
            let slot = state.next
            if let victim = state.ring[slot] {
                state.entries[victim] = nil
            }
            state.ring[slot] = key
            state.entries[key] = Slot(entry: entry, slot: slot)
            state.next = (slot + 1) % capacity
        }
    }

    /// Forgets a token (for one found bad on a hit: its key left the JWKS, say).
    public func remove(_ token: some StringProtocol) {
        guard capacity > 0 else { return }
        remove(Digest(token))
    }

    func remove(_ key: Digest) {
        state.withLock { state in
            if let found = state.entries.removeValue(forKey: key) {
                state.ring[found.slot] = nil
            }
        }
    }

    /// The number of tokens held.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Lookups answered from the cache and lookups that were not, since it was made.
    public var statistics: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}
