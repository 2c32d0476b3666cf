import CryptoExtras
import GatewayCore
import Testing

/// The OpenSSL signer must give exactly the bytes of swift-crypto's RS256 (PKCS#1 v1.5 is deterministic).
@Suite struct OpenSSLSignerTests {
    @Test func sameSignatureBytesAsSwiftCrypto() throws {
        let key = try SigningKey.generate(bits: 2048)
        let signer = try #require(OpenSSLRSASigner(pem: key.pem, copies: 2))
        for length in [0, 1, 100, 1500] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let reference = try key.signWithSwiftCrypto(message)
            #expect(try signer.sign(message) == reference)
            #expect(try key.sign(message) == reference)
            let signature = _RSA.Signing.RSASignature(rawRepresentation: try signer.sign(message))
            #expect(key.privateKey.publicKey.isValidSignature(signature, for: message, padding: .insecurePKCS1v1_5))
        }
    }

    @Test func concurrentSignersAgree() async throws {
        let key = try SigningKey.generate(bits: 2048)
        let message = Array("header.payload".utf8)
        let reference = try key.signWithSwiftCrypto(message)
        let results = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<32 { group.addTask { try key.sign(message) } }
            return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
        }
        #expect(results.count == 32)
        #expect(results.allSatisfy { $0 == reference })
    }

    @Test func unreadableKeyIsRefused() {
        #expect(OpenSSLRSASigner(pem: "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n") == nil)
        #expect(OpenSSLRSASigner(pem: "") == nil)
    }
}
