import Crypto
import Foundation
import IAMEnforcement

/// High-entropy secrets (refresh tokens, API keys, session ids) and their stored form.
public enum SecretToken {
    /// `count` bytes from the system's CSPRNG, eight per call (one `getrandom` each, not one per byte).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// Lower-case hex digits of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `count` random bytes as base64url.
    public static func random(bytes count: Int = 32) -> String {
        Base64URL.encode(randomBytes(count))
    }

    /// A random identifier matching the id pattern: `prefix` + 20 lower-case hex digits.
    public static func identifier(prefix: String) -> String {
        prefix + hex(randomBytes(10))
    }

    /// SHA-256 hex of a high-entropy secret: what the store keeps instead of the secret.
    public static func hash(_ secret: some StringProtocol) -> String {
        hex(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Compares two byte strings in time independent of where they differ.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
