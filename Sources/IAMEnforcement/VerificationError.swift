/// Why a token was refused. Equal by code; `description` names the failed check for logs, never token content.
///
/// HTTP answers stay a plain 401 whatever the code.
public struct VerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: String, Sendable, Hashable {
        case missingToken
        case malformed
        case tooLarge
        case unsupportedAlgorithm
        case invalidType
        case unsupportedCritical
        case invalidDate
        case missingKeyID
        case unknownKey
        case badSignature
        case issuerMismatch
        case audienceMismatch
        case expired
        case notYetValid
        case stalePolicy
    }

    let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// No `Authorization: Bearer <token>` header was presented.
    public static let missingToken = Self(.missingToken)
    /// The token is not a well-formed compact JWS with JSON header and claims.
    public static let malformed = Self(.malformed)
    /// The token is longer than any token the gateway mints.
    public static let tooLarge = Self(.tooLarge)
    /// `alg` is not RS256.
    public static let unsupportedAlgorithm = Self(.unsupportedAlgorithm)
    /// `typ` is not `at+jwt`.
    public static let invalidType = Self(.invalidType)
    /// The header has a `crit` member (RFC 7515 4.1.11): no extension is understood, so the token is refused.
    public static let unsupportedCritical = Self(.unsupportedCritical)
    /// `exp`, `iat` or `nbf` lies outside 0...2^53 (RFC 7519 NumericDate as JSON numbers can carry it exactly).
    public static let invalidDate = Self(.invalidDate)
    /// The header has no `kid`.
    public static let missingKeyID = Self(.missingKeyID)
    /// No published key has the token's `kid`.
    public static let unknownKey = Self(.unknownKey)
    /// The signature does not verify with the published key.
    public static let badSignature = Self(.badSignature)
    /// `iss` is not the configured issuer.
    public static let issuerMismatch = Self(.issuerMismatch)
    /// `aud` does not name this audience.
    public static let audienceMismatch = Self(.audienceMismatch)
    /// `exp` is past, beyond the leeway.
    public static let expired = Self(.expired)
    /// `nbf` is in the future, beyond the leeway.
    public static let notYetValid = Self(.notYetValid)
    /// The token's `policy_version` is older than one already seen for its workspace.
    public static let stalePolicy = Self(.stalePolicy)

    public var description: String { "token verification failed: \(code.rawValue)" }
    /// A stable identifier of the failed check, for logs and metrics.
    public var reason: String { code.rawValue }

    /// Whether a bearer token was presented (RFC 6750 then names `error="invalid_token"` in the challenge).
    public var bearerTokenPresented: Bool { code != .missingToken }
}
