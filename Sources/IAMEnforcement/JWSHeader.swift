/// The protected header of a gateway token. Only these members are read: `jku`, `x5u`, `jwk` and any other
/// member a token may carry are ignored, so keys never come from the token itself; a `crit` member (even an empty
/// one, which RFC 7515 forbids) makes the token invalid.
public struct JWSHeader: Codable, Sendable, Equatable {
    public var alg: String
    public var kid: String?
    public var typ: String?
    /// Extensions the producer says must be understood (RFC 7515 4.1.11); the gateway understands none.
    public var crit: [String]?

    public init(alg: String, kid: String?, typ: String?, crit: [String]? = nil) {
        self.alg = alg
        self.kid = kid
        self.typ = typ
        self.crit = crit
    }

    /// The media type every gateway token carries (RFC 9068).
    public static let accessTokenType = "at+jwt"
}
