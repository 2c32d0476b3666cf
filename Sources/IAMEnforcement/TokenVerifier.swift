import Crypto
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
        let parsed = try parse(token, types: types) { Data(buffer: $0) }
        guard let kid = parsed.header.kid, !kid.isEmpty else { throw .missingKeyID }
        guard let key = lookup(kid) else { throw .unknownKey }
        try checkSignature(parsed, key: key)
        return parsed.payload
    }

    /// A token taken apart: what its payload reads as, the signature, and the SHA-256 of the signing input (computed
    /// over the token's own UTF-8 bytes, not a copy).
    struct ParsedToken<Payload> {
        var header: JWSHeader
        var payload: Payload
        var signature: _RSA.Signing.RSASignature
        var digest: SHA256.Digest
    }

    /// Takes an access token apart; the claims are `nil` when the payload is not a claims object (reported as
    /// `malformed` only after the signature is checked).
    static func parse(_ token: some StringProtocol) throws(VerificationError) -> ParsedToken<AccessTokenClaims?> {
        try parse(token, types: accessTokenTypes) { AccessTokenClaims.decode($0) }
    }

    /// Takes a compact JWS apart and checks its form and header: size, three non-empty base64url parts, `alg` RS256,
    /// no `crit`, `typ` in `types`. `readPayload` reads the decoded payload in place.
    static func parse<Payload>(
        _ token: some StringProtocol, types: Set<String>, payload readPayload: (UnsafeBufferPointer<UInt8>) -> Payload
    ) throws(VerificationError) -> ParsedToken<Payload> {
        guard token.utf8.count <= maximumTokenLength else { throw .tooLarge }
        if let result = token.utf8.withContiguousStorageIfAvailable({ bytes in
            Result { () throws(VerificationError) in try Self.parse(bytes: bytes, types: types, payload: readPayload) }
        }) {
            return try result.get()
        }
        var copy = String(token)
        return try copy.withUTF8 { bytes in
            Result { () throws(VerificationError) in try Self.parse(bytes: bytes, types: types, payload: readPayload) }
        }.get()
    }

    /// ``parse(_:types:payload:)`` on the token's UTF-8 bytes. Split on the bytes, not on Characters (grapheme
    /// breaking cost more than the RSA verify): a token that is not ASCII fails base64url decoding either way.
    private static func parse<Payload>(
        bytes: UnsafeBufferPointer<UInt8>, types: Set<String>,
        payload readPayload: (UnsafeBufferPointer<UInt8>) -> Payload
    ) throws(VerificationError) -> ParsedToken<Payload> {
        let dot = UInt8(ascii: ".")
        guard let first = bytes.firstIndex(of: dot) else { throw .malformed }
        guard let second = bytes[(first + 1)...].firstIndex(of: dot) else { throw .malformed }
        let headerPart = UnsafeBufferPointer(rebasing: bytes[..<first])
        let payloadPart = UnsafeBufferPointer(rebasing: bytes[(first + 1)..<second])
        let signaturePart = UnsafeBufferPointer(rebasing: bytes[(second + 1)...])
        guard !headerPart.isEmpty, !payloadPart.isEmpty, !signaturePart.isEmpty, !signaturePart.contains(dot) else {
            throw .malformed
        }
        let header = withUnsafeTemporaryAllocation(
            of: UInt8.self, capacity: Base64URL.decodedCapacity(headerPart.count)
        ) { buffer in
            Base64URL.decode(headerPart, into: buffer).flatMap {
                JWSHeader.decode(UnsafeBufferPointer(rebasing: buffer[..<$0]))
            }
        }
        guard let header else { throw .malformed }
        guard header.alg == "RS256" else { throw .unsupportedAlgorithm }
        guard header.crit == nil else { throw .unsupportedCritical }
        // `types` are lower case: a `typ` found as it is needs no lowercasing.
        guard let typ = header.typ, types.contains(typ) || types.contains(typ.lowercased()) else {
            throw .invalidType
        }
        let payload = withUnsafeTemporaryAllocation(
            of: UInt8.self, capacity: Base64URL.decodedCapacity(payloadPart.count)
        ) { buffer in
            Base64URL.decode(payloadPart, into: buffer).map {
                readPayload(UnsafeBufferPointer(rebasing: buffer[..<$0]))
            }
        }
        let signature = withUnsafeTemporaryAllocation(
            of: UInt8.self, capacity: Base64URL.decodedCapacity(signaturePart.count)
        ) { buffer in
            Base64URL.decode(signaturePart, into: buffer).map {
                _RSA.Signing.RSASignature(
                    rawRepresentation: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<$0])))
            }
        }
        guard let payload, let signature else { throw .malformed }
        let digest = SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[..<second])))
        return ParsedToken(header: header, payload: payload, signature: signature, digest: digest)
    }

    static func checkSignature<Payload>(_ parsed: ParsedToken<Payload>, key: _RSA.Signing.PublicKey)
        throws(VerificationError)
    {
        guard key.isValidSignature(parsed.signature, for: parsed.digest, padding: .insecurePKCS1v1_5) else {
            throw .badSignature
        }
    }

    func check(_ parsed: ParsedToken<AccessTokenClaims?>, key: _RSA.Signing.PublicKey, now: Date)
        throws(VerificationError) -> AccessTokenClaims
    {
        try Self.checkSignature(parsed, key: key)
        guard let claims = parsed.payload else { throw .malformed }
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
