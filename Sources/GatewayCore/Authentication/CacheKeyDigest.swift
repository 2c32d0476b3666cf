import Crypto

/// A cache key as 128 bits of SHA-256 over length-prefixed fields: 16 bytes inline instead of several strings, and
/// no two field lists encode alike. Finding two field lists with the same key takes about 2^64 SHA-256
/// computations; a cache keyed by it cannot be steered to another principal's entry.
struct CacheKeyDigest: Hashable, Sendable {
    var high: UInt64
    var low: UInt64

    /// Accumulates the fields of one key.
    struct Builder {
        private var sha = SHA256()

        mutating func add(_ text: String) {
            var text = text
            text.withUTF8 { bytes in
                add(UInt32(bytes.count))
                sha.update(bufferPointer: UnsafeRawBufferPointer(bytes))
            }
        }

        mutating func add(_ value: some FixedWidthInteger) {
            var value = value.littleEndian
            withUnsafeBytes(of: &value) { sha.update(bufferPointer: $0) }
        }

        func finish() -> CacheKeyDigest {
            sha.finalize().withUnsafeBytes { bytes in
                CacheKeyDigest(
                    high: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                    low: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
    }

    func hash(into hasher: inout Hasher) {
        // Already uniformly distributed: one word is enough for the table.
        hasher.combine(low)
    }
}
