import IAMEnforcement
import Synchronization

/// Client access tokens already verified by this process, so the hot path does not repeat the RSA verification
/// and JSON parsing for every request of the same token. An entry is used only for the exact token string, only
/// while its signing key is still published, and only within its `exp`/`nbf` window; revocation is checked on
/// every use by the caller. Bounded: when full, it is emptied and refills from live traffic.
public final class VerifiedTokenCache: Sendable {
    struct Entry {
        var claims: AccessTokenClaims
        var kid: String
    }

    public let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    public init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    /// The cached claims of `token` when its key `isPublished` and `now` is inside its validity (with `leeway`).
    public func claims(for token: String, now: Int64, leeway: Int64, isPublished: (String) -> Bool) -> AccessTokenClaims? {
        guard capacity > 0, let entry = entries.withLock({ $0[token] }) else { return nil }
        guard isPublished(entry.kid), entry.claims.exp + leeway > now, entry.claims.nbf - leeway <= now else {
            _ = entries.withLock { $0.removeValue(forKey: token) }
            return nil
        }
        return entry.claims
    }

    public func store(_ claims: AccessTokenClaims, kid: String, for token: String) {
        guard capacity > 0 else { return }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(claims: claims, kid: kid)
        }
    }

    public var count: Int { entries.withLock { $0.count } }
}
