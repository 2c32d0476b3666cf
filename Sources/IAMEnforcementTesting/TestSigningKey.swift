import Crypto
import CryptoExtras
import Foundation
import IAMEnforcement

/// Signs tokens the way the gateway does (RS256 over a real RSA-2048 key, `typ: at+jwt`), for the tests of a service
/// that links IAMEnforcement: mint the tokens a request would carry, without a running gateway.
///
/// Never use it outside tests: its keys live in memory only and nothing publishes them but ``jwk`` and ``StaticKeys``.
public struct TestSigningKey: Sendable {
    public let kid: String
    public let privateKey: _RSA.Signing.PrivateKey

    /// A fresh RSA-2048 key with this `kid`.
    public init(kid: String) throws {
        self.kid = kid
        self.privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
    }

    public var publicKey: _RSA.Signing.PublicKey { privateKey.publicKey }

    /// The key as the gateway's JWKS publishes it.
    public var jwk: JSONWebKey {
        get throws { try JSONWebKey(rsaPublicKey: privateKey.publicKey, kid: kid) }
    }

    /// A compact JWS of the claims; `header` replaces the standard header (`alg` RS256, this `kid`, `typ` at+jwt).
    public func sign(_ claims: AccessTokenClaims, header: [String: String]? = nil) throws -> String {
        let header = header ?? ["alg": "RS256", "kid": kid, "typ": JWSHeader.accessTokenType]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try sign(rawHeader: try encoder.encode(header), rawPayload: try encoder.encode(claims))
    }

    /// A validly signed compact JWS of exactly these header and payload bytes (for tokens of hostile shapes).
    public func sign(rawHeader: Data, rawPayload: Data) throws -> String {
        let signingInput = Base64URL.encode(rawHeader) + "." + Base64URL.encode(rawPayload)
        let signature = try privateKey.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
        return signingInput + "." + Base64URL.encode(signature.rawRepresentation)
    }
}

/// Verification keys held in memory, for tests that are not about fetching a JWKS.
public struct StaticKeys: VerificationKeySource {
    public var keys: [String: _RSA.Signing.PublicKey]

    public init(_ signingKeys: [TestSigningKey]) {
        keys = Dictionary(uniqueKeysWithValues: signingKeys.map { ($0.kid, $0.publicKey) })
    }

    public func key(for kid: String) async -> _RSA.Signing.PublicKey? {
        keys[kid]
    }
}
