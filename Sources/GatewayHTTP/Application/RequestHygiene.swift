import GatewayCore
import HTTPTypes

/// Request-level rules of SPEC 7 checked before routing, on every path (responder, event-loop relay, WebSocket):
/// exactly one syntactically valid `Host`, and a request target without `.`/`..` segments, path parameters or a
/// fragment. A refusal is 400 `invalid_request`.
enum RequestHygiene {
    /// A second `Host` stays among the fields after the first became the authority.
    static let host = HTTPField.Name("Host")!

    /// The first rule `request` breaks, or `nil`.
    static func violation(_ request: HTTPRequest) -> GatewayError? {
        // The first `Host` is the request's authority; any further one stays among the fields.
        guard let authority = request.authority, request.headerFields[values: Self.host].isEmpty else {
            return .invalidRequest("A request needs exactly one Host header.")
        }
        guard isValidHost(authority) else { return .invalidRequest("The Host header is not a valid host[:port].") }
        guard let target = request.path, !PathSafety.isUnsafe(target: target) else { return .unsafePath() }
        return nil
    }

    /// `host[:port]` (RFC 9110 7.2): a registered name (letters, digits, `-`, `.`, `_`, `~`), an IPv4 address or a
    /// bracketed IPv6 literal, and an optional port of 1 to 5 digits up to 65535. No userinfo, path, space or query.
    static func isValidHost(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 255 else { return false }
        var host = Substring(text)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let literal = host[host.index(after: host.startIndex)..<close]
            guard !literal.isEmpty,
                literal.utf8.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return false }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return false }
                port = rest.dropFirst()
            }
            host = ""
        } else if let colon = host.lastIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
            guard !host.isEmpty else { return false }
        }
        if let port {
            guard (1...5).contains(port.utf8.count), port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int(port), value <= 65535
            else {
                return false
            }
        }
        return host.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "~")
        }
    }

    static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }
}
