import Foundation

/// Base64url without padding (RFC 7515 section 2), as JWS and JWK use it.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0...63 for base64url characters, 255 for anything else.
    static let values: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// The length of the unpadded base64url text of `count` bytes.
    public static func encodedCount(_ count: Int) -> Int {
        count / 3 * 4 + [0, 2, 3][count % 3]
    }

    /// Writes the unpadded base64url text of `input` at the start of `output`, which holds at least
    /// ``encodedCount(_:)`` bytes; returns the count written. For hot paths: no intermediate arrays.
    @discardableResult
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        alphabet.withUnsafeBufferPointer { table in
            var read = 0
            var written = 0
            while read + 3 <= input.count {
                let chunk = UInt32(input[read]) << 16 | UInt32(input[read + 1]) << 8 | UInt32(input[read + 2])
                output[written] = table[Int(chunk >> 18 & 63)]
                output[written + 1] = table[Int(chunk >> 12 & 63)]
                output[written + 2] = table[Int(chunk >> 6 & 63)]
                output[written + 3] = table[Int(chunk & 63)]
                read += 3
                written += 4
            }
            let rest = input.count - read
            if rest > 0 {
                let chunk = UInt32(input[read]) << 16 | (rest == 2 ? UInt32(input[read + 1]) << 8 : 0)
                output[written] = table[Int(chunk >> 18 & 63)]
                output[written + 1] = table[Int(chunk >> 12 & 63)]
                written += 2
                if rest == 2 {
                    output[written] = table[Int(chunk >> 6 & 63)]
                    written += 1
                }
            }
            return written
        }
    }

    /// Encodes bytes as unpadded base64url text.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        return String(unsafeUninitializedCapacity: encodedCount(input.count)) { output in
            input.withUnsafeBytes { encode($0, into: output) }
        }
    }

    /// Decodes unpadded (or correctly padded) base64url text; `nil` for anything else, standard base64 included.
    public static func decode<Text: StringProtocol>(_ text: Text) -> Data? {
        decodeBytes(Substring(text).utf8).map { Data($0) }
    }

    /// Decodes to bytes; `nil` for invalid input.
    public static func decodeBytes<Bytes: BidirectionalCollection>(_ input: Bytes) -> [UInt8]?
    where Bytes.Element == UInt8 {
        if let decoded = input.withContiguousStorageIfAvailable({ decodeContiguous($0) }) {
            return decoded
        }
        return decodeAny(input)
    }

    /// ``decodeBytes(_:)`` on contiguous bytes.
    static func decodeContiguous(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var valid = true
        let output = [UInt8](unsafeUninitializedCapacity: decodedCapacity(input.count)) { buffer, written in
            guard let count = decode(input, into: buffer) else {
                valid = false
                written = 0
                return
            }
            written = count
        }
        return valid ? output : nil
    }

    /// Room enough for the bytes of `count` characters of base64url.
    static func decodedCapacity(_ count: Int) -> Int {
        count / 4 * 3 + 2
    }

    /// Decodes unpadded (or correctly padded) base64url text into `output`, which holds at least
    /// ``decodedCapacity(_:)`` bytes, four characters at a time; the count written, or `nil` for invalid input
    /// (what `output` then holds is unspecified). For the verification hot path: no intermediate arrays.
    static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        var count = input.count
        if count % 4 == 0, count > 0 {
            // Tolerate standard padding at the end only.
            var padding = 0
            while padding < 2, input[count - 1] == UInt8(ascii: "=") {
                padding += 1
                count -= 1
            }
        }
        guard count % 4 != 1, output.count >= count / 4 * 3 + 2 else { return nil }
        return values.withUnsafeBufferPointer { table -> Int? in
            var read = 0
            var written = 0
            // Valid values are 0...63; 255 marks anything else, so one high bit in the OR flags an invalid character.
            while read + 4 <= count {
                let a = table[Int(input[read])]
                let b = table[Int(input[read + 1])]
                let c = table[Int(input[read + 2])]
                let d = table[Int(input[read + 3])]
                guard (a | b | c | d) & 0x80 == 0 else { return nil }
                let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                output[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                output[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
                output[written + 2] = UInt8(truncatingIfNeeded: chunk)
                read += 4
                written += 3
            }
            switch count - read {
            case 2:
                let a = table[Int(input[read])]
                let b = table[Int(input[read + 1])]
                // Leftover bits must be zero (canonical encoding).
                guard (a | b) & 0x80 == 0, b & 0x0F == 0 else { return nil }
                output[written] = a << 2 | b >> 4
                written += 1
            case 3:
                let a = table[Int(input[read])]
                let b = table[Int(input[read + 1])]
                let c = table[Int(input[read + 2])]
                guard (a | b | c) & 0x80 == 0, c & 0x03 == 0 else { return nil }
                output[written] = a << 2 | b >> 4
                output[written + 1] = b << 4 | c >> 2
                written += 2
            default:
                break
            }
            return written
        }
    }

    static func decodeAny<Bytes: BidirectionalCollection>(_ input: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        var count = input.count
        if count % 4 == 0, count > 0 {
            // Tolerate standard padding at the end only.
            var index = input.index(input.startIndex, offsetBy: count - 1)
            var padding = 0
            while padding < 2, input[index] == UInt8(ascii: "=") {
                padding += 1
                count -= 1
                index = input.index(before: index)
            }
        }
        guard count % 4 != 1 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var consumed = 0
        for byte in input {
            if consumed == count { break }
            let value = values[Int(byte)]
            guard value != 255 else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
            consumed += 1
        }
        // Leftover bits must be zero (canonical encoding).
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }
}
