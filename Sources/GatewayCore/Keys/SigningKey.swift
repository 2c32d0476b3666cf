import CryptoExtras
import Foundation
import IAMEnforcement

/// An RSA key pair of the ring, parsed once and kept (re-importing a key per token costs most of the signing time).
public struct SigningKey: Sendable {
    public let kid: String
    public let privateKey: _RSA.Signing.PrivateKey
    /// The public half as published in the JWKS.
    public let jwk: JSONWebKey
    /// The same key loaded into OpenSSL, which signs about twice as fast; `nil` falls back to swift-crypto.
    let openSSL: OpenSSLRSASigner?
    /// The first segment of every token this key signs, encoded once:
    /// base64url of `{"alg":"RS256","kid":...,"typ":"at+jwt"}`.
    public let jwsHeaderSegment: String

    public init(kid: String, privateKey: _RSA.Signing.PrivateKey) throws {
        self.kid = kid
        self.privateKey = privateKey
        self.jwk = try JSONWebKey(rsaPublicKey: privateKey.publicKey, kid: kid)
        self.openSSL = OpenSSLRSASigner(pem: privateKey.pkcs8PEMRepresentation)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.jwsHeaderSegment = Base64URL.encode(
            try encoder.encode(JWSHeader(alg: "RS256", kid: kid, typ: JWSHeader.accessTokenType)))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (RS256): through OpenSSL when loaded, else swift-crypto.
    /// Both give the same bytes: the scheme is deterministic.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        if let openSSL, let signature = try? openSSL.sign(message) { return signature }
        return Array(try privateKey.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
    }

    /// Signs with swift-crypto only (for comparison in tests and benchmarks).
    public func signWithSwiftCrypto(_ message: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
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
        Base64URL.encode(SecretToken.randomBytes(16))
    }
}
