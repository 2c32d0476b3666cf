import CryptoExtras
import Foundation
import IAMEnforcement

/// An RSA key pair of the ring, parsed once and kept (re-importing a key per token costs most of the signing time).
public struct SigningKey: Sendable {
    public let kid: String
    public let privateKey: _RSA.Signing.PrivateKey
    /// The public half as published in the JWKS.
    public let jwk: JSONWebKey

    public init(kid: String, privateKey: _RSA.Signing.PrivateKey) throws {
        self.kid = kid
        self.privateKey = privateKey
        self.jwk = try JSONWebKey(rsaPublicKey: privateKey.publicKey, kid: kid)
    }

    /// Generates a new key with a random kid.
    public static func generate(bits: Int) throws -> SigningKey {
        let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))
        return try SigningKey(kid: newKeyID(), privateKey: key)
    }

    /// Parses a PEM (PKCS#1 or PKCS#8) private key.
    public init(kid: String, pem: String) throws {
        try self.init(kid: kid, privateKey: try _RSA.Signing.PrivateKey(pemRepresentation: pem))
    }

    /// PKCS#8 PEM of the private key.
    public var pem: String { privateKey.pkcs8PEMRepresentation }

    /// A random key id: 16 bytes of entropy, base64url (filename-safe).
    public static func newKeyID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64URL.encode(bytes)
    }
}
