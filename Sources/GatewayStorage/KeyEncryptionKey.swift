import Crypto
import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The key-encryption key (KEK) that seals private signing keys in a shared key store: 32 random bytes, base64,
/// from the file `keys.encryption_key_file` (mode 0600 or stricter) or the environment variable named by
/// `keys.encryption_key_env`. It is never written to the database; only its ``id`` (a fingerprint) is, beside each
/// sealed key, so that a wrong KEK is reported as such.
///
/// Sealing is AES-256-GCM with the key's kid as additional authenticated data, so a sealed key cannot be moved to
/// another row. Generate one with `openssl rand -base64 32`.
public struct KeyEncryptionKey: Sendable {
    let key: SymmetricKey
    /// First 8 bytes of SHA-256 over a label and the key, hex: tells KEKs apart without revealing them.
    public let id: String

    /// - Parameter source: the config key the value came from, for error messages.
    public init(base64: String, source: String) throws(ConfigurationError) {
        let text = base64.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: text) else {
            throw ConfigurationError(
                key: source,
                problem: "the key-encryption key is not valid base64 (generate one with: openssl rand -base64 32)")
        }
        guard bytes.count == 32 else {
            throw ConfigurationError(
                key: source,
                problem:
                    "the key-encryption key must be 32 bytes (got \(bytes.count)); generate one with: openssl rand -base64 32"
            )
        }
        self.key = SymmetricKey(data: bytes)
        var material = Data("iam-gateway key-encryption-key id".utf8)
        material.append(bytes)
        self.id = SecretToken.hex(SHA256.hash(data: material).prefix(8))
    }

    /// Loads the KEK named by the configuration.
    /// - Throws: ``ConfigurationError`` naming `keys.encryption_key_file` or `keys.encryption_key_env` and the problem.
    public static func load(configuration: GatewayConfiguration, environment: [String: String])
        throws(ConfigurationError) -> KeyEncryptionKey
    {
        let file = configuration.keys.encryptionKeyFile
        let variable = configuration.keys.encryptionKeyEnv
        if !file.isEmpty {
            var info = stat()
            guard stat(file, &info) == 0 else {
                throw ConfigurationError(key: "keys.encryption_key_file", problem: "\(file) does not exist")
            }
            let mode = info.st_mode & 0o777
            guard mode & 0o077 == 0 else {
                throw ConfigurationError(
                    key: "keys.encryption_key_file",
                    problem:
                        "\(file) has mode \(String(mode, radix: 8)); the key-encryption key must be readable by its owner only (chmod 600 it)"
                )
            }
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
            else {
                throw ConfigurationError(key: "keys.encryption_key_file", problem: "\(file) cannot be read")
            }
            return try KeyEncryptionKey(base64: text, source: "keys.encryption_key_file")
        }
        if !variable.isEmpty {
            guard let value = environment[variable], !value.isEmpty else {
                throw ConfigurationError(
                    key: "keys.encryption_key_env", problem: "the environment variable \(variable) is not set or empty")
            }
            return try KeyEncryptionKey(base64: value, source: "keys.encryption_key_env (\(variable))")
        }
        throw ConfigurationError(
            key: "keys.encryption_key_file",
            problem:
                "a shared key store needs a key-encryption key: set keys.encryption_key_file or keys.encryption_key_env"
        )
    }

    /// A new random KEK (tests).
    public static func random() -> KeyEncryptionKey {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        // A fresh 32-byte key is always valid base64 of 32 bytes.
        return (try? KeyEncryptionKey(base64: bytes.base64EncodedString(), source: "random"))
            ?? KeyEncryptionKey(fallback: bytes)
    }

    private init(fallback bytes: Data) {
        self.key = SymmetricKey(data: bytes)
        self.id = "random"
    }

    /// AES-GCM seal of `plaintext`, bound to `kid`: nonce, ciphertext and tag in one blob.
    func seal(_ plaintext: [UInt8], kid: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Self.associatedData(kid))
        guard let combined = box.combined else { throw KeyRingError.inconsistent("AES-GCM produced no combined box") }
        return Array(combined)
    }

    /// Opens a blob made by ``seal(_:kid:)``; throws when the key, the kid or the blob do not match.
    func open(_ sealed: [UInt8], kid: String) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return Array(try AES.GCM.open(box, using: key, authenticating: Self.associatedData(kid)))
    }

    static func associatedData(_ kid: String) -> Data {
        Data("iam-gateway signing key \(kid)".utf8)
    }
}
