import CryptoExtras
import Foundation

/// Where a verifier finds public keys: only the issuer's own JWKS, by `kid`.
public protocol VerificationKeySource: Sendable {
    /// The published key with this id, or `nil`. May refetch the JWKS (rate-limited) on a miss.
    func key(for kid: String) async -> _RSA.Signing.PublicKey?
}

/// Verifies gateway tokens locally: RS256 only, keys by `kid` from the issuer's JWKS, and `iss`, `aud`, `exp`,
/// `nbf` (with leeway) and `typ` checked.
public struct TokenVerifier: Sendable {
    /// The largest token accepted; gateway tokens are far smaller.
    public static let maximumTokenLength = 16 * 1024

    public let issuer: String
    public let audience: String
    public let leeway: Int64

    /// NumericDates accepted: 0 ... 2^53 (what a JSON number carries exactly).
    public static let numericDateRange: ClosedRange<Int64> = 0...(1 << 53)
    /// Leeways beyond a day are treated as a configuration error (every token refused), not trusted.
    public static let maximumLeeway: Int64 = 86_400

    public init(issuer: String, audience: String, leeway: Int64) {
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
    }

    /// Verifies a compact JWS and returns its claims.
    /// - Parameters:
    ///   - token: the compact serialization `header.payload.signature`.
    ///   - now: the time expiry is decided against.
    ///   - keys: resolves a `kid` to a published key.
    /// - Throws: ``VerificationError`` naming the first failed check.
    public func verify(_ token: some StringProtocol, now: Date, keys: some VerificationKeySource)
        async throws(VerificationError) -> AccessTokenClaims
    {
        let parsed = try Self.parse(token)
        guard let kid = parsed.header.kid, !kid.isEmpty else { throw .missingKeyID }
        guard let key = await keys.key(for: kid) else { throw .unknownKey }
        return try check(parsed, key: key, now: now)
    }

    /// Verifies a compact JWS, answering from `cache` when it verified the same token before (see
    /// ``VerifiedClaimsCache``): a hit still needs the token's `kid` to be published by `keys`, its `iss` and `aud`
    /// to be this verifier's, and `now` before its `exp`. A miss verifies in full and stores the claims.
    /// - Throws: ``VerificationError`` naming the first failed check.
    public func verify(
        _ token: some StringProtocol, now: Date, keys: some VerificationKeySource, cache: VerifiedClaimsCache?
    ) async throws(VerificationError) -> AccessTokenClaims {
        guard let cache, cache.capacity > 0 else { return try await verify(token, now: now, keys: keys) }
        // Refuse oversized input before hashing it.
        guard token.utf8.count <= Self.maximumTokenLength else { throw .tooLarge }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let digest = VerifiedClaimsCache.Digest(token)
        if let entry = cache.entry(for: digest, now: seconds, leeway: leeway), entry.claims.iss == issuer,
            entry.claims.aud.contains(audience), (0...Self.maximumLeeway).contains(leeway)
        {
            guard await keys.key(for: entry.kid) != nil else {
                cache.remove(digest)
                throw .unknownKey
            }
            return entry.claims
        }
        let parsed = try Self.parse(token)
        guard let kid = parsed.header.kid, !kid.isEmpty else { throw .missingKeyID }
        guard let key = await keys.key(for: kid) else { throw .unknownKey }
        let claims = try check(parsed, key: key, now: now)
        if seconds < claims.exp {
            cache.store(claims, kid: kid, key: digest)
        }
        return claims
    }

    /// Verifies with a key already looked up (synchronous; for callers that hold the key set).
    public func verify(_ token: some StringProtocol, now: Date, key lookup: (String) -> _RSA.Signing.PublicKey?)
        throws(VerificationError) -> AccessTokenClaims
    {
        let parsed = try Self.parse(token)
        guard let kid = parsed.header.kid, !kid.isEmpty else { throw .missingKeyID }
        guard let key = lookup(kid) else { throw .unknownKey }
        return try check(parsed, key: key, now: now)
    }

    /// The `typ` values of an access token (RFC 9068), compared in lower case.
    static let accessTokenTypes: Set<String> = [JWSHeader.accessTokenType, "application/at+jwt"]

    /// The payload of a compact RS256 JWS whose `typ` is one of `types` (lower case) and whose signature the key its
    /// `kid` names verifies: the checks every token goes through (size, form, `alg`, no `crit`, `typ`, `kid`,
    /// signature), leaving the claims, which differ per kind of token, to the caller. The gateway checks its ID
    /// tokens (`typ` JWT) with it.
    public static func verifiedPayload(
        _ token: some StringProtocol, types: Set<String>, key lookup: (String) -> _RSA.Signing.PublicKey?
    ) throws(VerificationError) -> Data {
        let parsed = try parse(token, types: types)
        guard let kid = parsed.header.kid, !kid.isEmpty else { throw .missingKeyID }
        guard let key = lookup(kid) else { throw .unknownKey }
        try checkSignature(parsed, key: key)
        return parsed.payload
    }

    struct ParsedToken {
        var header: JWSHeader
        var signingInput: Substring.UTF8View
        var payload: Data
        var signature: Data
    }

    static func parse(_ token: some StringProtocol, types: Set<String> = accessTokenTypes) throws(VerificationError)
        -> ParsedToken
    {
        guard token.utf8.count <= maximumTokenLength else { throw .tooLarge }
        // Split on the bytes, not on Characters (grapheme breaking cost more than the RSA verify): a token that
        // is not ASCII fails base64url decoding either way.
        let text = Substring(token)
        let bytes = text.utf8
        let dot = UInt8(ascii: ".")
        guard let first = bytes.firstIndex(of: dot) else { throw .malformed }
        let payloadStart = bytes.index(after: first)
        guard let second = bytes[payloadStart...].firstIndex(of: dot) else { throw .malformed }
        let signatureStart = bytes.index(after: second)
        let headerPart = bytes[..<first]
        let payloadPart = bytes[payloadStart..<second]
        let signaturePart = bytes[signatureStart...]
        guard !headerPart.isEmpty, !payloadPart.isEmpty, !signaturePart.isEmpty, !signaturePart.contains(dot) else {
            throw .malformed
        }
        guard let headerBytes = Base64URL.decodeBytes(headerPart), let header = JWSHeader.decode(Data(headerBytes))
        else { throw .malformed }
        guard header.alg == "RS256" else { throw .unsupportedAlgorithm }
        guard header.crit == nil else { throw .unsupportedCritical }
        guard let typ = header.typ, types.contains(typ.lowercased()) else {
            throw .invalidType
        }
        guard let payload = Base64URL.decodeBytes(payloadPart), let signature = Base64URL.decodeBytes(signaturePart)
        else { throw .malformed }
        return ParsedToken(
            header: header, signingInput: bytes[..<second], payload: Data(payload), signature: Data(signature))
    }

    static func checkSignature(_ parsed: ParsedToken, key: _RSA.Signing.PublicKey) throws(VerificationError) {
        let signature = _RSA.Signing.RSASignature(rawRepresentation: parsed.signature)
        guard key.isValidSignature(signature, for: Array(parsed.signingInput), padding: .insecurePKCS1v1_5) else {
            throw .badSignature
        }
    }

    func check(_ parsed: ParsedToken, key: _RSA.Signing.PublicKey, now: Date) throws(VerificationError)
        -> AccessTokenClaims
    {
        try Self.checkSignature(parsed, key: key)
        guard let claims = AccessTokenClaims.decode(parsed.payload) else { throw .malformed }
        // In range before any arithmetic: `exp + leeway` near Int64.max would trap.
        let dates = Self.numericDateRange
        guard dates.contains(claims.exp), dates.contains(claims.iat), dates.contains(claims.nbf),
            (0...Self.maximumLeeway).contains(leeway)
        else {
            throw .invalidDate
        }
        guard claims.iss == issuer else { throw .issuerMismatch }
        guard claims.aud.contains(audience) else { throw .audienceMismatch }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard claims.exp + leeway > seconds else { throw .expired }
        guard claims.nbf - leeway <= seconds else { throw .notYetValid }
        return claims
    }
}
