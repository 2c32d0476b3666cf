import Foundation

/// Where a key stands in the ring (SPEC section 6).
public enum KeyStatus: String, Codable, Sendable, CaseIterable {
    /// Published in the JWKS, not yet signing.
    case next
    /// Signs every new token; exactly one.
    case active
    /// No longer signs; published until every token it signed has expired, plus leeway.
    case retiring
}

/// Metadata of one key of the ring; no key material.
public struct KeyRecord: Codable, Sendable, Equatable {
    public var kid: String
    public var status: KeyStatus
    public var alg: String
    public var createdAt: Date
    public var activatedAt: Date?
    public var retireAt: Date?

    public init(
        kid: String, status: KeyStatus, alg: String = "RS256", createdAt: Date, activatedAt: Date? = nil,
        retireAt: Date? = nil
    ) {
        self.kid = kid
        self.status = status
        self.alg = alg
        self.createdAt = createdAt
        self.activatedAt = activatedAt
        self.retireAt = retireAt
    }

    enum CodingKeys: String, CodingKey {
        case kid, status, alg
        case createdAt = "created_at"
        case activatedAt = "activated_at"
        case retireAt = "retire_at"
    }
}

/// The whole ring: metadata plus the parsed keys it names.
public struct KeyRingState: Sendable {
    public var records: [KeyRecord]
    public var keys: [String: SigningKey]

    public init(records: [KeyRecord], keys: [String: SigningKey]) {
        self.records = records
        self.keys = keys
    }

    public var active: KeyRecord? { records.first { $0.status == .active } }
    public var next: KeyRecord? { records.first { $0.status == .next } }
}
