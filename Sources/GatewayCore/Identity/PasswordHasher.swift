import Crypto
import CryptoExtras
import Foundation
import IAMEnforcement

/// Salted scrypt password hashing. Stored form: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64url), so parameters
/// can change without invalidating older hashes. Comparison is constant-time. Hashing blocks its thread for tens
/// of milliseconds: call it off the event loops.
public struct PasswordHasher: Sendable {
    public var logN: Int
    public var blockSize: Int
    public var parallelism: Int

    public static let minimumLength = 8
    /// Longer passwords are refused rather than truncated (scrypt itself has no length limit).
    public static let maximumLength = 1024

    public init(logN: Int = 15, blockSize: Int = 8, parallelism: Int = 1) {
        self.logN = logN
        self.blockSize = blockSize
        self.parallelism = parallelism
    }

    /// Checks the length rules; the message is safe to show.
    public static func validate(_ password: String) throws(GatewayError) {
        let length = password.utf8.count
        guard length >= minimumLength else {
            throw .invalidRequest("The password must have at least \(minimumLength) characters.")
        }
        guard length <= maximumLength else {
            throw .invalidRequest("The password must have at most \(maximumLength) bytes.")
        }
    }

    public func hash(_ password: String) throws -> String {
        let salt = SecretToken.randomBytes(16)
        let derived = try Self.derive(password, salt: salt, logN: logN, r: blockSize, p: parallelism)
        return
            "$scrypt$ln=\(logN),r=\(blockSize),p=\(parallelism)$\(Base64URL.encode(salt))$\(Base64URL.encode(derived))"
    }

    /// True when `password` matches `stored`; false for any malformed stored value.
    public func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt",
            let salt = Base64URL.decode(parts[3]), let expected = Base64URL.decode(parts[4])
        else { return false }
        var parameters: [String: Int] = [:]
        for item in parts[2].split(separator: ",") {
            let pair = item.split(separator: "=")
            guard pair.count == 2, let value = Int(pair[1]) else { return false }
            parameters[String(pair[0])] = value
        }
        guard let ln = parameters["ln"], let r = parameters["r"], let p = parameters["p"], (1...20).contains(ln),
            (1...32).contains(r), (1...16).contains(p)
        else {
            return false
        }
        guard password.utf8.count <= Self.maximumLength,
            let derived = try? Self.derive(password, salt: Array(salt), logN: ln, r: r, p: p)
        else {
            return false
        }
        return SecretToken.constantTimeEquals(derived, Array(expected))
    }

    static func derive(_ password: String, salt: [UInt8], logN: Int, r: Int, p: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: 32, rounds: 1 << logN, blockSize: r, parallelism: p
        )
        return key.withUnsafeBytes { Array($0) }
    }
}
