/// The protected header of a gateway token. Only these members are read: `jku`, `x5u`, `jwk` and any other
/// member a token may carry are ignored, so keys never come from the token itself.
public struct JWSHeader: Codable, Sendable, Equatable {
    public var alg: String
    public var kid: String?
    public var typ: String?

    public init(alg: String, kid: String?, typ: String?) {
        self.alg = alg
        self.kid = kid
        self.typ = typ
    }

    /// The media type every gateway token carries (RFC 9068).
    public static let accessTokenType = "at+jwt"
}
