import Foundation

/// A reader of the flat JSON objects gateway tokens carry (header and claims), for the verification hot path:
/// Foundation's `JSONDecoder` costs several times an RSA-2048 verify here.
///
/// It reads a strict subset only: one object whose members are ASCII strings without escapes, integers without fraction
/// or exponent that fit an Int64, or arrays of such strings; each key once. Anything else (an escape, a float,
/// `null`, a nested object, a repeated or unknown key, text outside ASCII) makes it answer `nil`, and the caller decodes
/// with `JSONDecoder` as before, so every text decodes exactly as `JSONDecoder` decodes it.
enum FlatJSON {
    enum Value {
        case string(String)
        case integer(Int64)
        case strings([String])
    }

    /// Calls `member` for each member in order; `false` when the text is outside the subset or `member` refused.
    static func forEachMember(_ data: Data, _ member: (String, Value) -> Bool) -> Bool {
        data.withUnsafeBytes { raw in
            var reader = Reader(bytes: raw.bindMemory(to: UInt8.self))
            return reader.object(member)
        }
    }

    private struct Reader {
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

        mutating func object(_ member: (String, Value) -> Bool) -> Bool {
            guard consume(UInt8(ascii: "{")) else { return false }
            if consume(UInt8(ascii: "}")) { return end() }
            while true {
                guard consume(UInt8(ascii: "\"")), let key = string(), consume(UInt8(ascii: ":")), let value = value(),
                    member(key, value)
                else { return false }
                if consume(UInt8(ascii: ",")) { continue }
                guard consume(UInt8(ascii: "}")) else { return false }
                return end()
            }
        }

        mutating func end() -> Bool {
            skipWhitespace()
            return index == bytes.count
        }

        mutating func value() -> Value? {
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return string().map(Value.string)
            case UInt8(ascii: "["):
                index += 1
                var strings: [String] = []
                if consume(UInt8(ascii: "]")) { return .strings(strings) }
                while true {
                    guard consume(UInt8(ascii: "\"")), let element = string() else { return nil }
                    strings.append(element)
                    if consume(UInt8(ascii: ",")) { continue }
                    guard consume(UInt8(ascii: "]")) else { return nil }
                    return .strings(strings)
                }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                return integer().map(Value.integer)
            default:
                // A sign, `null`, `true`, an object: left to JSONDecoder.
                return nil
            }
        }

        /// The rest of a string whose opening quote was consumed; `nil` on an escape, a control character, a byte
        /// outside ASCII or no closing quote.
        mutating func string() -> String? {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    // ASCII only (checked below), so decoding cannot repair anything.
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                // Escapes, control characters and non-ASCII text are left to JSONDecoder.
                guard byte != UInt8(ascii: "\\"), byte >= 0x20, byte < 0x80 else { return nil }
                index += 1
            }
            return nil
        }

        /// A non-negative integer without fraction or exponent that fits an Int64; `nil` otherwise.
        mutating func integer() -> Int64? {
            let start = index
            var value: Int64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            // No leading zero (invalid JSON), and no fraction or exponent following.
            if index - start > 1, bytes[start] == UInt8(ascii: "0") { return nil }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                return nil
            }
            return value
        }
    }
}

extension JWSHeader {
    /// The header of a token, read by ``FlatJSON`` when it can and by `JSONDecoder` otherwise; `nil` when malformed.
    public static func decode(_ data: Data) -> JWSHeader? {
        var alg: String?
        var kid: String?
        var typ: String?
        let fast = FlatJSON.forEachMember(data) { key, value in
            guard case .string(let text) = value else { return false }
            switch key {
            case "alg" where alg == nil: alg = text
            case "kid" where kid == nil: kid = text
            case "typ" where typ == nil: typ = text
            default: return false
            }
            return true
        }
        if fast, let alg {
            return JWSHeader(alg: alg, kid: kid, typ: typ)
        }
        return try? JSONDecoder().decode(JWSHeader.self, from: data)
    }
}

extension AccessTokenClaims {
    /// The claims of a token, read by ``FlatJSON`` when it can and by `JSONDecoder` otherwise; `nil` when malformed.
    public static func decode(_ data: Data) -> AccessTokenClaims? {
        fastDecode(data) ?? (try? JSONDecoder().decode(AccessTokenClaims.self, from: data))
    }

    private static func fastDecode(_ data: Data) -> AccessTokenClaims? {
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
        func set<T>(_ slot: inout T?, _ value: T?) -> Bool {
            guard slot == nil, let value else { return false }
            slot = value
            return true
        }
        let parsed = FlatJSON.forEachMember(data) { key, value in
            var text: String?
            var number: Int64?
            var list: [String]?
            switch value {
            case .string(let value): text = value
            case .integer(let value): number = value
            case .strings(let value): list = value
            }
            switch key {
            case "iss": return set(&iss, text)
            case "sub": return set(&sub, text)
            case "aud": return set(&aud, text.map { [$0] } ?? list)
            case "exp": return set(&exp, number)
            case "iat": return set(&iat, number)
            case "nbf": return set(&nbf, number)
            case "jti": return set(&jti, text)
            case "tenant_id": return set(&tenantID, text)
            case "workspace_id": return set(&workspaceID, text)
            case "roles": return set(&roles, list)
            case "policy_version": return set(&policyVersion, number)
            case "service": return set(&service, text)
            case "permissions": return set(&permissions, list)
            case "sid": return set(&sid, text)
            case "client_id": return set(&clientID, text)
            case "scope": return set(&scope, text)
            default: return false
            }
        }
        guard parsed, let iss, let sub, let aud, let exp, let iat, let nbf, let jti, let tenantID, let workspaceID,
            let roles,
            let policyVersion, let service, let permissions
        else { return nil }
        var claims = AccessTokenClaims(
            iss: iss, sub: sub, aud: service, exp: exp, iat: iat, nbf: nbf, jti: jti, tenantID: tenantID,
            workspaceID: workspaceID, roles: roles, policyVersion: policyVersion, permissions: permissions, sid: sid,
            clientID: clientID, scope: scope
        )
        claims.aud = aud
        return claims
    }
}
