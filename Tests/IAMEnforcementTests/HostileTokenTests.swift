import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import Testing

/// SPEC 6: validly signed tokens of hostile shapes are refused with a verification error, never a trap.
@Suite struct HostileTokenTests {
    let key: TestSigningKey
    let verifier = TokenVerifier(issuer: TestTokens.issuer, audience: TestTokens.audience, leeway: 30)

    init() throws { key = try TestSigningKey(kid: "k1") }

    /// The standard claims with `field` replaced by a raw JSON number.
    func payload(_ field: String, _ number: String) throws -> Data {
        var object = try #require(
            try JSONSerialization.jsonObject(with: try JSONEncoder().encode(TestTokens.claims())) as? [String: Any])
        object[field] = 0
        let text = try #require(
            String(data: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), encoding: .utf8))
        return Data(text.replacingOccurrences(of: "\"\(field)\":0", with: "\"\(field)\":\(number)").utf8)
    }

    func verify(_ token: String) async throws(VerificationError) -> AccessTokenClaims {
        try await verifier.verify(token, now: Date(), keys: StaticKeys([key]))
    }

    @Test(arguments: [
        ("exp", "9223372036854775807"), ("exp", "9223372036854775790"), ("exp", "9007199254740993"), ("exp", "-1"),
        ("nbf", "-9223372036854775808"), ("nbf", "-9223372036854775790"), ("iat", "9007199254740993"),
    ])
    func numericDatesOutsideTheSafeRangeAreRefused(_ field: String, _ number: String) async throws {
        let header = Data(#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#.utf8)
        let token = try key.sign(rawHeader: header, rawPayload: try payload(field, number))
        await #expect(throws: VerificationError.invalidDate) { try await verify(token) }
    }

    @Test func numbersBeyondInt64AreMalformed() async throws {
        let header = Data(#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#.utf8)
        let token = try key.sign(rawHeader: header, rawPayload: try payload("exp", "1e300"))
        await #expect(throws: VerificationError.malformed) { try await verify(token) }
    }

    @Test(arguments: [#"["b64"]"#, #"["exp"]"#, "[]"])
    func aCritHeaderIsRefused(_ crit: String) async throws {
        let header = Data(#"{"alg":"RS256","crit":\#(crit),"kid":"k1","typ":"at+jwt"}"#.utf8)
        let token = try key.sign(rawHeader: header, rawPayload: try JSONEncoder().encode(TestTokens.claims()))
        await #expect(throws: VerificationError.unsupportedCritical) { try await verify(token) }
    }

    @Test func aTokenInsideLargerTextVerifiesAsASubstring() async throws {
        let expected = TestTokens.claims()
        let token = try key.sign(expected)
        let header = "Bearer " + token + " trailing"
        let part = header.dropFirst(7).prefix(token.utf8.count)
        let claims = try await verifier.verify(part, now: Date(), keys: StaticKeys([key]))
        #expect(claims == expected)
    }

    @Test func typIsComparedWithoutCase() async throws {
        let header = Data(#"{"alg":"RS256","kid":"k1","typ":"Application/AT+JWT"}"#.utf8)
        let token = try key.sign(rawHeader: header, rawPayload: try JSONEncoder().encode(TestTokens.claims()))
        #expect(try await verify(token).sub == "user_1")
        let plain = try key.sign(
            rawHeader: Data(#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#.utf8),
            rawPayload: try JSONEncoder().encode(TestTokens.claims()))
        await #expect(throws: VerificationError.invalidType) { try await verify(plain) }
    }

    /// The signature is checked before the claims are judged: a forged token learns nothing about its payload.
    @Test func aBadSignatureIsReportedBeforeMalformedClaims() async throws {
        let header = Data(#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#.utf8)
        let signed = try key.sign(rawHeader: header, rawPayload: Data("[1,2,3]".utf8))
        await #expect(throws: VerificationError.malformed) { try await verify(signed) }
        let parts = signed.split(separator: ".")
        let forged = "\(parts[0]).\(parts[1]).\(Base64URL.encode([UInt8](repeating: 7, count: 256)))"
        await #expect(throws: VerificationError.badSignature) { try await verify(forged) }
    }

    /// Base64url that is not canonical (non-zero leftover bits, a stray character, padding that does not belong) is
    /// malformed in every part, even when the bytes it would decode to are the signed ones.
    @Test func nonCanonicalBase64URLIsMalformed() async throws {
        let token = try key.sign(TestTokens.claims())
        let parts = token.split(separator: ".").map(String.init)
        var variants: [String] = []
        // The signature (256 bytes) ends in 4 leftover bits; setting them changes the text, not the bytes.
        let last = try #require(parts[2].last)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let index = try #require(alphabet.firstIndex(of: last))
        variants.append(parts[0] + "." + parts[1] + "." + String(parts[2].dropLast()) + String(alphabet[index | 1]))
        variants.append(parts[0] + "." + parts[1] + "." + parts[2] + "B")
        variants.append(parts[0] + "==." + parts[1] + "." + parts[2])
        variants.append(
            parts[0] + "." + String(parts[1].prefix(8)) + "+" + String(parts[1].dropFirst(9)) + "." + parts[2])
        variants.append(
            parts[0] + "." + parts[1] + "." + String(parts[2].prefix(40)) + "\u{e9}" + String(parts[2].dropFirst(41)))
        for variant in variants {
            await #expect(throws: VerificationError.malformed, "\(variant.suffix(12))") { try await verify(variant) }
        }
    }

    @Test func theSameTokenWithoutTheHostileMemberVerifies() async throws {
        let header = Data(#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#.utf8)
        let token = try key.sign(rawHeader: header, rawPayload: try JSONEncoder().encode(TestTokens.claims()))
        #expect(try await verify(token).sub == "user_1")
    }
}
