import Crypto
import Foundation
import IAMEnforcement

/// High-entropy secrets (refresh tokens, API keys, session ids) and their stored form.
public enum SecretToken {
    /// `count` random bytes as base64url.
    public static func random(bytes count: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// A random identifier matching the id pattern: `prefix` + 20 lower-case hex digits.
    public static func identifier(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + (0..<10).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// SHA-256 hex of a high-entropy secret: what the store keeps instead of the secret.
    public static func hash(_ secret: some StringProtocol) -> String {
        SHA256.hash(data: Array(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares two byte strings in time independent of where they differ.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
