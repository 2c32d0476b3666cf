import Foundation

/// A reader of the flat JSON objects gateway tokens carry (header and claims), for the verification hot path:
/// Foundation's `JSONDecoder` costs several times an RSA-2048 verify here.
///
/// It reads a strict subset only: one object whose members are ASCII strings without escapes, integers without fraction
/// or exponent that fit an Int64, or arrays of such strings; each key once. Anything else (an escape, a float,
/// `null`, a nested object, a repeated or unknown key, text outside ASCII) makes it answer `nil`, and the caller
/// decodes with `JSONDecoder` as before, so every text decodes exactly as `JSONDecoder` decodes it.
///
/// Keys are compared as bytes (no `String` per key) and each value is read as the type its key expects, straight from
/// the decoded token bytes.
enum FlatJSON {
    /// A member's key: the bytes between its quotes (ASCII, no escapes), compared with `case "iss":` patterns.
    struct Key {
        let bytes: UnsafeBufferPointer<UInt8>

        static func ~= (pattern: StaticString, key: Key) -> Bool {
            guard pattern.utf8CodeUnitCount == key.bytes.count, let base = key.bytes.baseAddress else {
                return pattern.utf8CodeUnitCount == 0 && key.bytes.isEmpty
            }
            return memcmp(pattern.utf8Start, base, key.bytes.count) == 0
        }

        var string: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Reads the object in `bytes`, calling `member` with each key; `member` reads the value with the reader's
    /// `string()`, `integer()`, `strings()` or `stringOrStrings()`, and answers `false` to refuse. `false` when the
    /// text is outside the subset or `member` refused.
    static func forEachMember(_ bytes: UnsafeBufferPointer<UInt8>, _ member: (Key, inout Reader) -> Bool) -> Bool {
        var reader = Reader(bytes: bytes)
        guard reader.consume(UInt8(ascii: "{")) else { return false }
        if reader.consume(UInt8(ascii: "}")) { return reader.atEnd() }
        while true {
            guard reader.consume(UInt8(ascii: "\"")), let key = reader.rawString(), reader.consume(UInt8(ascii: ":")),
                member(Key(bytes: key), &reader)
            else { return false }
            if reader.consume(UInt8(ascii: ",")) { continue }
            guard reader.consume(UInt8(ascii: "}")) else { return false }
            return reader.atEnd()
        }
    }

    /// ``forEachMember(_:_:)`` over `data`.
    static func forEachMember(_ data: Data, _ member: (Key, inout Reader) -> Bool) -> Bool {
        data.withUnsafeBytes { forEachMember($0.bindMemory(to: UInt8.self), member) }
    }

    /// Fills an empty slot with a value read; `false` for a repeated key or a value outside the subset.
    static func fill<T>(_ slot: inout T?, _ read: () -> T?) -> Bool {
        guard slot == nil else { return false }
        slot = read()
        return slot != nil
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func atEnd() -> Bool {
            skipWhitespace()
            return index == bytes.count
        }

        /// A string value; `nil` for anything else or outside the subset.
        mutating func string() -> String? {
            guard consume(UInt8(ascii: "\"")), let raw = rawString() else { return nil }
            // ASCII only (checked by rawString), so decoding cannot repair anything.
            return String(decoding: raw, as: UTF8.self)
        }

        /// An array of strings; `nil` for anything else or outside the subset.
        mutating func strings() -> [String]? {
            guard consume(UInt8(ascii: "[")) else { return nil }
            var strings: [String] = []
            if consume(UInt8(ascii: "]")) { return strings }
            while true {
                guard let element = string() else { return nil }
                strings.append(element)
                if consume(UInt8(ascii: ",")) { continue }
                guard consume(UInt8(ascii: "]")) else { return nil }
                return strings
            }
        }

        /// A string (as one element) or an array of strings, as `aud` is written.
        mutating func stringOrStrings() -> [String]? {
            skipWhitespace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "\"") { return string().map { [$0] } }
            return strings()
        }

        /// The rest of a string whose opening quote was consumed, as bytes; `nil` on an escape, a control character,
        /// a byte outside ASCII or no closing quote.
        mutating func rawString() -> UnsafeBufferPointer<UInt8>? {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return text
                }
                // Escapes, control characters and non-ASCII text are left to JSONDecoder.
                guard byte != UInt8(ascii: "\\"), byte >= 0x20, byte < 0x80 else { return nil }
                index += 1
            }
            return nil
        }

        /// A non-negative integer without fraction or exponent that fits an Int64; `nil` otherwise (a sign, `null`,
        /// a float: left to JSONDecoder).
        mutating func integer() -> Int64? {
            skipWhitespace()
            let start = index
            var value: Int64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            // At least one digit, no leading zero (invalid JSON), and no fraction or exponent following.
            guard index > start else { return nil }
            if index - start > 1, bytes[start] == UInt8(ascii: "0") { return nil }
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
                default: break
                }
            }
            return value
        }
    }
}

extension JWSHeader {
    /// The header of a token, read by ``FlatJSON`` when it can and by `JSONDecoder` otherwise; `nil` when malformed.
    public static func decode(_ data: Data) -> JWSHeader? {
        data.withUnsafeBytes { decode($0.bindMemory(to: UInt8.self)) }
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> JWSHeader? {
        var alg: String?
        var kid: String?
        var typ: String?
        let fast = FlatJSON.forEachMember(bytes) { key, reader in
            switch key {
            case "alg": FlatJSON.fill(&alg) { reader.string() }
            case "kid": FlatJSON.fill(&kid) { reader.string() }
            case "typ": FlatJSON.fill(&typ) { reader.string() }
            default: false
            }
        }
        if fast, let alg {
            return JWSHeader(alg: alg, kid: kid, typ: typ)
        }
        return try? JSONDecoder().decode(JWSHeader.self, from: Data(buffer: bytes))
    }
}

extension AccessTokenClaims {
    /// The claims of a token, read by ``FlatJSON`` when it can and by `JSONDecoder` otherwise; `nil` when malformed.
    public static func decode(_ data: Data) -> AccessTokenClaims? {
        data.withUnsafeBytes { decode($0.bindMemory(to: UInt8.self)) }
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> AccessTokenClaims? {
        fastDecode(bytes) ?? (try? JSONDecoder().decode(AccessTokenClaims.self, from: Data(buffer: bytes)))
    }

    private static func fastDecode(_ bytes: UnsafeBufferPointer<UInt8>) -> AccessTokenClaims? {
        var iss: String?
        var sub: String?
        var jti: String?
        var tenantID: String?
        var workspaceID: String?
        var service: String?
        var sid: String?
        var clientID: String?
        var scope: String?
        var aud: [String]?
        var roles: [String]?
        var permissions: [String]?
        var exp: Int64?
        var iat: Int64?
        var nbf: Int64?
        var policyVersion: Int64?
        let parsed = FlatJSON.forEachMember(bytes) { key, reader in
            switch key {
            case "iss": FlatJSON.fill(&iss) { reader.string() }
            case "sub": FlatJSON.fill(&sub) { reader.string() }
            case "aud": FlatJSON.fill(&aud) { reader.stringOrStrings() }
            case "exp": FlatJSON.fill(&exp) { reader.integer() }
            case "iat": FlatJSON.fill(&iat) { reader.integer() }
            case "nbf": FlatJSON.fill(&nbf) { reader.integer() }
            case "jti": FlatJSON.fill(&jti) { reader.string() }
            case "tenant_id": FlatJSON.fill(&tenantID) { reader.string() }
            case "workspace_id": FlatJSON.fill(&workspaceID) { reader.string() }
            case "roles": FlatJSON.fill(&roles) { reader.strings() }
            case "policy_version": FlatJSON.fill(&policyVersion) { reader.integer() }
            case "service": FlatJSON.fill(&service) { reader.string() }
            case "permissions": FlatJSON.fill(&permissions) { reader.strings() }
            case "sid": FlatJSON.fill(&sid) { reader.string() }
            case "client_id": FlatJSON.fill(&clientID) { reader.string() }
            case "scope": FlatJSON.fill(&scope) { reader.string() }
            default: false
            }
        }
        guard parsed, let iss, let sub, let aud, let exp, let iat, let nbf, let jti, let tenantID, let workspaceID,
            let roles, let policyVersion, let service, let permissions
        else { return nil }
        return AccessTokenClaims(
            iss: iss, sub: sub, audiences: aud, exp: exp, iat: iat, nbf: nbf, jti: jti, tenantID: tenantID,
            workspaceID: workspaceID, roles: roles, policyVersion: policyVersion, service: service,
            permissions: permissions, sid: sid, clientID: clientID, scope: scope
        )
    }
}
