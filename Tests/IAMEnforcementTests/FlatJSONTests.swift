import Foundation
import Testing

@testable import IAMEnforcement

/// The verifier reads headers and claims with ``FlatJSON`` and falls back to `JSONDecoder`: whatever the text, the
/// result must be the one `JSONDecoder` gives.
@Suite struct FlatJSONTests {
    static let base =
        #""iss":"i","sub":"s","exp":2,"iat":1,"nbf":1,"jti":"j","tenant_id":"t","workspace_id":"w","roles":["r"],"policy_version":3,"service":"a","permissions":["x.y","z"]"#

    static let claimsTexts: [String] = [
        "{\(base),\"aud\":\"a\"}",
        "{\(base),\"aud\":[\"a\",\"b\"]}",
        "{\(base),\"aud\":[]}",
        " {\n\t\(base) , \"aud\" : \"a\" ,\"sid\":\"s1\",\"client_id\":\"c\",\"scope\":\"openid profile\"}\r\n",
        // Outside the fast subset: each goes to JSONDecoder, which decides.
        "{\(base),\"aud\":\"a\",\"sid\":null}",
        "{\(base),\"aud\":\"a\\u0062\"}",
        "{\(base),\"aud\":\"a\",\"extra\":{\"nested\":[1,2]}}",
        "{\(base),\"aud\":\"a\",\"aud\":\"b\"}",
        "{\(base),\"aud\":\"a\",\"exp\":3}",
        "{\(base),\"aud\":\"a\"} trailing",
        "{\(base),\"aud\":\"a\"}}",
        "{\(base),\"aud\":\"a\",}",
        "{\(base)}",
        "{\(base),\"aud\":\"a\"".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":2.0"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":2.0"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":2e0"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":02"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":-2"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":9223372036854775807"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":9223372036854775808"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"exp\":2", with: "\"exp\":\"2\""),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"roles\":[\"r\"]", with: "\"roles\":[\"r\",]"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"roles\":[\"r\"]", with: "\"roles\":[\"r\",1]"),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"sub\":\"s\"", with: "\"sub\":\"sé\u{1F600}\""),
        "{\(base),\"aud\":\"a\"}".replacingOccurrences(of: "\"sub\":\"s\"", with: "\"sub\":\"s\tx\""),
        "[]", "{}", "", "null", "{\"iss\":",
    ]

    @Test(arguments: claimsTexts)
    func claimsDecodeAsJSONDecoderDoes(_ text: String) {
        let data = Data(text.utf8)
        #expect(AccessTokenClaims.decode(data) == (try? JSONDecoder().decode(AccessTokenClaims.self, from: data)))
    }

    /// Reads a member's value whatever its kind in the subset.
    static func readAny(_ reader: inout FlatJSON.Reader) -> Bool {
        reader.string() != nil || reader.integer() != nil || reader.strings() != nil
    }

    @Test func invalidUTF8IsLeftToJSONDecoder() {
        var bytes = Array("{\(Self.base),\"aud\":\"a\"}".utf8)
        let index = bytes.firstIndex(of: UInt8(ascii: "j"))!
        bytes[index] = 0xFF
        let data = Data(bytes)
        #expect(!FlatJSON.forEachMember(data) { _, reader in Self.readAny(&reader) })
        #expect(AccessTokenClaims.decode(data) == (try? JSONDecoder().decode(AccessTokenClaims.self, from: data)))
    }

    @Test func canonicalTokensTakeTheFastPath() {
        var members: [String] = []
        #expect(
            FlatJSON.forEachMember(Data("{\(Self.base),\"aud\":\"a\"}".utf8)) { key, reader in
                members.append(key.string)
                return Self.readAny(&reader)
            })
        #expect(members.count == 13 && members.first == "iss" && members.last == "aud")
        #expect(!FlatJSON.forEachMember(Data(#"{"a":"\u0062"}"#.utf8)) { _, reader in Self.readAny(&reader) })
        #expect(!FlatJSON.forEachMember(Data(#"{"a":1.5}"#.utf8)) { _, reader in Self.readAny(&reader) })
        #expect(FlatJSON.forEachMember(Data(#"{"a":15}"#.utf8)) { _, reader in Self.readAny(&reader) })
    }

    @Test(arguments: [
        #"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#,
        #"{"typ":"at+jwt","alg":"RS256"}"#,
        #"{"alg":"RS256","kid":"k1","typ":"at+jwt","crit":["b64"]}"#,
        #"{"alg":"RS256","kid":"k1","typ":"at+jwt","jku":"https://evil.test/jwks"}"#,
        #"{"alg":"RS256","kid":"k1","kid":"k2","typ":"at+jwt"}"#,
        #"{"alg":"RS256","kid":null,"typ":"at+jwt"}"#,
        #"{"alg":"RS256","kid":"k\u0031","typ":"at+jwt"}"#,
        #"{"alg":1,"kid":"k1","typ":"at+jwt"}"#,
        #"{"kid":"k1","typ":"at+jwt"}"#,
        #"{"alg":"RS256"}x"#,
    ])
    func headersDecodeAsJSONDecoderDoes(_ text: String) {
        let data = Data(text.utf8)
        #expect(JWSHeader.decode(data) == (try? JSONDecoder().decode(JWSHeader.self, from: data)))
    }
}
