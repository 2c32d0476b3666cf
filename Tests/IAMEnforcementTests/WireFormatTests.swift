import CryptoExtras
import Foundation
import IAMEnforcement
import Testing

@Suite struct WireFormatTests {
    @Test func base64URLRoundTripsWithoutPadding() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 250) % 256) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text).map(Array.init) == bytes)
        }
        // Four characters at a time and every tail: lengths around the 4-character blocks, all byte values.
        for length in 40..<300 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ length) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)).map(Array.init) == bytes, "length \(length)")
        }
        #expect(Base64URL.decode("QQ").map(Array.init) == [0x41])
        #expect(Base64URL.decode("QQ==").map(Array.init) == [0x41])
        #expect(Base64URL.decode("QUI").map(Array.init) == [0x41, 0x42])
        #expect(Base64URL.decode("QUI=").map(Array.init) == [0x41, 0x42])
        #expect(Base64URL.decode("QUJD").map(Array.init) == [0x41, 0x42, 0x43])
        #expect(Base64URL.decode("").map(Array.init) == [])
        // Leftover bits must be zero; padding only at the end; no character outside the alphabet in any position.
        #expect(Base64URL.decode("QR") == nil)
        #expect(Base64URL.decode("QUJ") == nil)
        #expect(Base64URL.decode("Q===") == nil)
        #expect(Base64URL.decode("QQ=A") == nil)
        for position in 0..<8 {
            var text = Array("QUJDREVG".utf8)
            for bad in [UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "."), 0x80, 0xFF, 0] {
                text[position] = bad
                #expect(Base64URL.decodeBytes(text) == nil, "byte \(bad) at \(position)")
            }
        }
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab+/") == nil)
        #expect(Base64URL.decode("a b") == nil)
    }

    @Test func jwkRoundTripsAnRSAKey() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let jwk = try JSONWebKey(rsaPublicKey: key.publicKey, kid: "k1")
        #expect(jwk.kty == "RSA" && jwk.alg == "RS256" && jwk.use == "sig" && jwk.e == "AQAB")
        let parsed = try #require(jwk.rs256PublicKey())
        #expect(parsed.derRepresentation == key.publicKey.derRepresentation)
        let set = JSONWebKeySet(keys: [
            jwk, JSONWebKey(kty: "EC", kid: "ec", n: nil, e: nil),
            JSONWebKey(alg: "RS512", kid: "other", n: jwk.n, e: jwk.e),
        ])
        #expect(Array(set.rs256KeysByID().keys) == ["k1"])
    }

    @Test func weakRSAKeysAreRefused() throws {
        let weak = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        let jwk = try JSONWebKey(rsaPublicKey: weak.publicKey, kid: "weak")
        #expect(jwk.rs256PublicKey() == nil)
    }

    @Test func claimsReadAudienceAsStringOrArray() throws {
        let base =
            #""iss":"i","sub":"s","exp":2,"iat":1,"nbf":1,"jti":"j","tenant_id":"t","workspace_id":"w","roles":[],"policy_version":3,"service":"a","permissions":["x.y"]"#
        let single = try JSONDecoder().decode(AccessTokenClaims.self, from: Data("{\(base),\"aud\":\"a\"}".utf8))
        #expect(single.aud == ["a"])
        #expect(single.sid == nil)
        let many = try JSONDecoder().decode(AccessTokenClaims.self, from: Data("{\(base),\"aud\":[\"a\",\"b\"]}".utf8))
        #expect(many.aud == ["a", "b"])
        let encoded = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(single)) as? [String: Any]
        #expect(encoded?["aud"] as? String == "a")
        #expect(throws: (any Error).self) {
            _ = try JSONDecoder().decode(AccessTokenClaims.self, from: Data("{\(base)}".utf8))
        }
    }
}
