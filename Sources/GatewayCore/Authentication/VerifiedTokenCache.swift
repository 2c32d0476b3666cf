import Crypto
import IAMEnforcement
import Synchronization

/// Client access tokens already verified by this process, so the hot path does not repeat the RSA verification
/// and JSON parsing for every request of the same token. An entry is used only for the exact token string, only
/// while its signing key is still published, and only within its `exp`/`nbf` window; revocation is checked on
/// every use by the caller. Bounded: when full, it is emptied and refills from live traffic.
///
/// Entries are keyed by the token's SHA-256 (32 bytes inline) rather than the token (about 1 KB): a hit means the
/// same token, as finding another token with the same SHA-256 is infeasible, and the table holds a thirtieth of
/// the bytes. With SHA-NI the digest costs about what hashing and comparing the 1 KB string did.
public final class VerifiedTokenCache: Sendable {
    struct Entry {
        var claims: AccessTokenClaims
        var kid: String
    }

    /// The token's SHA-256, whole: a hit grants the claims, so a second-preimage is what an attacker would need.
    struct Digest: Hashable {
        var a, b, c, d: UInt64

        init(_ token: String) {
            var token = token
            let digest = token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
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
            hasher.combine(a)
        }
    }

    public let capacity: Int
    private let entries = Mutex<[Digest: Entry]>([:])

    public init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    /// The cached claims of `token` when its key `isPublished` and `now` is inside its validity (with `leeway`).
    public func claims(for token: String, now: Int64, leeway: Int64, isPublished: (String) -> Bool)
        -> AccessTokenClaims?
    {
        guard capacity > 0 else { return nil }
        let key = Digest(token)
        guard let entry = entries.withLock({ $0[key] }) else { return nil }
        guard isPublished(entry.kid), entry.claims.exp + leeway > now, entry.claims.nbf - leeway <= now else {
            _ = entries.withLock { $0.removeValue(forKey: key) }
            return nil
        }
        return entry.claims
    }

    public func store(_ claims: AccessTokenClaims, kid: String, for token: String) {
        guard capacity > 0 else { return }
        let key = Digest(token)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(claims: claims, kid: kid)
        }
    }

    public var count: Int { entries.withLock { $0.count } }
}
