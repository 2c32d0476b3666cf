import Crypto
import CryptoExtras
import Foundation
import IAMEnforcement
import Synchronization

/// Signs tokens the way the gateway does (RS256, `typ: at+jwt`), without depending on the gateway's targets.
struct TestSigningKey: Sendable {
    let kid: String
    let privateKey: _RSA.Signing.PrivateKey

    init(kid: String) throws {
        self.kid = kid
        self.privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
    }

    var jwk: JSONWebKey {
        get throws { try JSONWebKey(rsaPublicKey: privateKey.publicKey, kid: kid) }
    }

    /// A compact JWS of the claims; `header` overrides the standard header fields.
    func sign(_ claims: AccessTokenClaims, header: [String: String]? = nil) throws -> String {
        let header = header ?? ["alg": "RS256", "kid": kid, "typ": "at+jwt"]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try sign(rawHeader: try encoder.encode(header), rawPayload: try encoder.encode(claims))
    }

    /// A validly signed compact JWS of exactly these header and payload bytes (for hostile shapes).
    func sign(rawHeader: Data, rawPayload: Data) throws -> String {
        let signingInput = Base64URL.encode(rawHeader) + "." + Base64URL.encode(rawPayload)
        let signature = try privateKey.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
        return signingInput + "." + Base64URL.encode(signature.rawRepresentation)
    }
}

enum TestTokens {
    static let issuer = "https://gateway.test"
    static let audience = "connections-service"

    static func claims(
        now: Date = Date(),
        audience: String = audience,
        permissions: [String] = ["connections.read"],
        tenantID: String = "t1",
        workspaceID: String = "w1",
        policyVersion: Int64 = 1,
        lifetime: Int64 = 300
    ) -> AccessTokenClaims {
        let seconds = Int64(now.timeIntervalSince1970)
        return AccessTokenClaims(
            iss: issuer, sub: "user_1", aud: audience, exp: seconds + lifetime, iat: seconds, nbf: seconds,
            jti: UUID().uuidString, tenantID: tenantID, workspaceID: workspaceID, roles: ["role_1"],
            policyVersion: policyVersion, permissions: permissions, sid: "sess_1"
        )
    }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date()) {
        current = Mutex(start)
    }

    func now() -> Date {
        current.withLock { $0 }
    }

    func advance(seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// Keys held in memory, for tests that are not about fetching.
struct StaticKeys: VerificationKeySource {
    var keys: [String: _RSA.Signing.PublicKey]

    init(_ signingKeys: [TestSigningKey]) {
        keys = Dictionary(uniqueKeysWithValues: signingKeys.map { ($0.kid, $0.privateKey.publicKey) })
    }

    func key(for kid: String) async -> _RSA.Signing.PublicKey? {
        keys[kid]
    }
}
