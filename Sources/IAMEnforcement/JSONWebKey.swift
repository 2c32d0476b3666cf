import CryptoExtras
import Foundation

/// One public RSA key as published in the gateway's JWKS (RFC 7517).
public struct JSONWebKey: Codable, Sendable, Equatable {
    public var kty: String
    public var use: String?
    public var alg: String?
    public var kid: String?
    public var n: String?
    public var e: String?

    public init(kty: String = "RSA", use: String? = "sig", alg: String? = "RS256", kid: String?, n: String?, e: String?)
    {
        self.kty = kty
        self.use = use
        self.alg = alg
        self.kid = kid
        self.n = n
        self.e = e
    }

    /// The JWK of an RSA public key.
    public init(rsaPublicKey key: _RSA.Signing.PublicKey, kid: String) throws {
        let primitives = try key.getKeyPrimitives()
        self.init(kid: kid, n: Base64URL.encode(primitives.modulus), e: Base64URL.encode(primitives.publicExponent))
    }

    /// The RSA public key this JWK describes, or `nil` when it is not a usable RS256 signing key.
    ///
    /// Keys with a `use` other than `sig`, an `alg` other than RS256, or a modulus under 2048 bits are refused.
    public func rs256PublicKey() -> _RSA.Signing.PublicKey? {
        guard kty == "RSA", use == nil || use == "sig", alg == nil || alg == "RS256",
            let n, let e, let modulus = Base64URL.decode(n), let exponent = Base64URL.decode(e)
        else { return nil }
        guard let key = try? _RSA.Signing.PublicKey(n: modulus, e: exponent), key.keySizeInBits >= 2048 else {
            return nil
        }
        return key
    }
}

/// A JSON Web Key Set: `{"keys": [...]}`.
public struct JSONWebKeySet: Codable, Sendable, Equatable {
    public var keys: [JSONWebKey]

    public init(keys: [JSONWebKey]) {
        self.keys = keys
    }

    /// The usable RS256 keys of the set by `kid`; keys without a kid or unusable keys are left out.
    public func rs256KeysByID() -> [String: _RSA.Signing.PublicKey] {
        var result: [String: _RSA.Signing.PublicKey] = [:]
        for jwk in keys {
            guard let kid = jwk.kid, !kid.isEmpty, let key = jwk.rs256PublicKey() else { continue }
            result[kid] = key
        }
        return result
    }
}
