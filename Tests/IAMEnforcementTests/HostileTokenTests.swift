import Foundation
import IAMEnforcement
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

    @Test func theSameTokenWithoutTheHostileMemberVerifies() async throws {
        let header = Data(#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#.utf8)
        let token = try key.sign(rawHeader: header, rawPayload: try JSONEncoder().encode(TestTokens.claims()))
        #expect(try await verify(token).sub == "user_1")
    }
}
