import Crypto
import Foundation
import IAMEnforcement
import Synchronization

/// Downstream tokens reused per principal, session, audience, policy version and signing key until shortly before
/// they expire. Bounded: past `capacity` entries the least recently used are dropped, so memory stays flat under
/// many principals. A rotation (new kid) or a policy change (new version) misses by construction.
public final class DownstreamTokenCache: Sendable {
    public struct Key: Hashable, Sendable {
        public var subject: String
        public var tenantID: String
        public var workspaceID: String
        public var sessionID: String?
        public var audience: String
        public var policyVersion: Int64
        public var kid: String

        public init(
            subject: String, tenantID: String, workspaceID: String, sessionID: String?, audience: String,
            policyVersion: Int64, kid: String
        ) {
            self.subject = subject
            self.tenantID = tenantID
            self.workspaceID = workspaceID
            self.sessionID = sessionID
            self.audience = audience
            self.policyVersion = policyVersion
            self.kid = kid
        }
    }

    /// What the table is keyed by: a ``CacheKeyDigest`` of the key's fields, instead of seven strings.
    static func digest(_ key: Key) -> CacheKeyDigest {
        var fields = CacheKeyDigest.Builder()
        fields.add(key.subject)
        fields.add(key.tenantID)
        fields.add(key.workspaceID)
        fields.add(key.sessionID.map { "s" + $0 } ?? "-")
        fields.add(key.audience)
        fields.add(key.kid)
        fields.add(key.policyVersion)
        return fields.finish()
    }

    /// A token as bytes: its header segment is shared per kid (every token of one signing key has the same), and
    /// its payload and signature are kept decoded, three quarters of their base64url size. ``text(header:)`` gives
    /// back the exact token text.
    struct Entry {
        /// The decoded payload, then the decoded signature.
        var bytes: [UInt8]
        var payloadCount: Int32
        var reuseUntil: Int64
        var lastUse: UInt64

        /// `nil` when a segment is not canonical base64url (re-encoding would not give the same text).
        init?(payload: Substring, signature: Substring, reuseUntil: Int64, lastUse: UInt64) {
            guard let payloadBytes = Base64URL.decodeBytes(payload.utf8),
                let signatureBytes = Base64URL.decodeBytes(signature.utf8)
            else { return nil }
            self.bytes = Array(unsafeUninitializedCapacity: payloadBytes.count + signatureBytes.count) {
                buffer, count in
                _ = buffer.initialize(fromContentsOf: payloadBytes)
                _ = buffer[payloadBytes.count...].initialize(fromContentsOf: signatureBytes)
                count = payloadBytes.count + signatureBytes.count
            }
            self.payloadCount = Int32(payloadBytes.count)
            self.reuseUntil = reuseUntil
            self.lastUse = lastUse
            guard text(header: "") == payload + "." + signature else { return nil }
        }

        /// `header` (the first segment and its dot), then the payload and signature re-encoded.
        func text(header: String) -> String {
            let payload = Int(payloadCount)
            let headerCount = header.utf8.count
            let total =
                headerCount + Base64URL.encodedCount(payload) + 1 + Base64URL.encodedCount(bytes.count - payload)
            return String(unsafeUninitializedCapacity: total) { output in
                var written = output.initialize(fromContentsOf: header.utf8)
                bytes.withUnsafeBytes { raw in
                    written += Base64URL.encode(
                        UnsafeRawBufferPointer(rebasing: raw[..<payload]),
                        into: UnsafeMutableBufferPointer(rebasing: output[written...]))
                    output[written] = UInt8(ascii: ".")
                    written += 1
                    written += Base64URL.encode(
                        UnsafeRawBufferPointer(rebasing: raw[payload...]),
                        into: UnsafeMutableBufferPointer(rebasing: output[written...]))
                }
                return written
            }
        }
    }

    struct State {
        var entries: [CacheKeyDigest: Entry] = [:]
        /// The header segment and its dot, per kid of the tokens stored (one per signing key seen).
        var headers: [String: String] = [:]
        var tick: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    public let capacity: Int
    private let state = Mutex(State())
    let metrics: GatewayMetrics

    /// - Parameter capacity: entries kept; 0 disables the cache (nothing is stored).
    public init(capacity: Int = 100_000, metrics: GatewayMetrics = .disabled) {
        self.capacity = max(0, capacity)
        self.metrics = metrics
    }

    /// A cached token for `key` still good at `now`, or `nil`. A probe that falls back to minting on a miss passes
    /// `countingMiss: false`, so the miss is counted once.
    public func token(for key: Key, now: Int64, countingMiss: Bool = true) -> String? {
        let digest = Self.digest(key)
        let found = state.withLock { state -> String? in
            state.tick &+= 1
            guard var entry = state.entries[digest], entry.reuseUntil > now, let header = state.headers[key.kid] else {
                if countingMiss { state.misses += 1 }
                return nil
            }
            entry.lastUse = state.tick
            state.entries[digest] = entry
            state.hits += 1
            return entry.text(header: header)
        }
        if found != nil || countingMiss { metrics.downstreamCache(hit: found != nil) }
        return found
    }

    /// Stores a token minted at `issuedAt` expiring at `expiresAt`; it is reused until a margin before expiry
    /// (a tenth of its lifetime, at least 5 seconds), so an upstream never receives a token about to expire.
    public func store(_ token: String, for key: Key, issuedAt: Int64, expiresAt: Int64) {
        guard capacity > 0 else { return }
        let margin = max(5, (expiresAt - issuedAt) / 10)
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3,
            let entry = Entry(payload: segments[1], signature: segments[2], reuseUntil: expiresAt - margin, lastUse: 0)
        else { return }
        let header = String(segments[0]) + "."
        let digest = Self.digest(key)
        state.withLock { state in
            // One header per kid is what the signer makes; a token with another one is not cached.
            if let known = state.headers[key.kid], known != header { return }
            state.headers[key.kid] = header
            state.tick &+= 1
            if state.entries[digest] == nil, state.entries.count >= capacity {
                Self.evict(&state, keeping: capacity - max(1, capacity / 10))
            }
            var entry = entry
            entry.lastUse = state.tick
            state.entries[digest] = entry
        }
    }

    static func evict(_ state: inout State, keeping count: Int) {
        let sorted = state.entries.sorted { $0.value.lastUse > $1.value.lastUse }
        state.entries = Dictionary(uniqueKeysWithValues: sorted.prefix(max(0, count)).map { ($0.key, $0.value) })
    }

    public var count: Int { state.withLock { $0.entries.count } }
    /// Hits and misses since start, for tests and metrics.
    public var statistics: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}
