import COpenSSL
import Foundation
import Synchronization

/// RS256 signatures through OpenSSL's libcrypto. PKCS#1 v1.5 signatures are deterministic, so the bytes equal
/// swift-crypto's for the same key and input; only the speed differs.
///
/// The parsed key is kept (parsing per signature would cost most of the time). Each core gets its own copy behind
/// its own lock, so concurrent signers do not serialize on one key.
public final class OpenSSLRSASigner: Sendable {
    /// One parsed copy of the key behind its own lock.
    final class Slot: Sendable {
        let key: Mutex<OpaquePointer>
        init(_ key: sending OpaquePointer) { self.key = Mutex(key) }
        deinit { key.withLock { EVP_PKEY_free($0) } }
    }

    private let keys: [Slot]
    private let next = Atomic<Int>(0)

    /// Parses a PEM private key; `nil` when OpenSSL cannot read it (the caller falls back to swift-crypto).
    public init?(pem: String, copies: Int = ProcessInfo.processInfo.activeProcessorCount) {
        var keys: [Slot] = []
        for _ in 0..<max(1, copies) {
            guard let key = Self.parse(pem) else { return nil }
            keys.append(Slot(key))
        }
        self.keys = keys
    }

    static func parse(_ pem: String) -> OpaquePointer? {
        let bytes = Array(pem.utf8)
        return bytes.withUnsafeBytes { buffer -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
    }

    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        let start = next.wrappingAdd(1, ordering: .relaxed).oldValue
        for offset in 0..<keys.count {
            if let signature = try keys[(start &+ offset) % keys.count].key.withLockIfAvailable({
                try Self.sign(message, with: $0)
            }) {
                return signature
            }
        }
        return try keys[start % keys.count].key.withLock { try Self.sign(message, with: $0) }
    }

    static func sign(_ message: [UInt8], with key: OpaquePointer) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLError.failed }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            throw OpenSSLError.failed
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw OpenSSLError.failed
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw OpenSSLError.failed
        }
        return Array(signature.prefix(length))
    }

    enum OpenSSLError: Error {
        case failed
    }
}
