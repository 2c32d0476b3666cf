/// The proxy routes, matched on whole path segments with the longest prefix winning (SPEC section 7).
public struct RouteTable: Sendable {
    public struct Match: Sendable, Equatable {
        public var route: GatewayConfiguration.Route
        /// The path to send upstream (prefix removed when `strip_prefix`), always starting with `/`.
        public var upstreamPath: String
    }

    let routes: [GatewayConfiguration.Route]

    public init(routes: [GatewayConfiguration.Route]) {
        self.routes = routes.sorted { $0.prefix.count > $1.prefix.count }
    }

    /// The route for a raw request path, or `nil`.
    public func match(path: String) -> Match? {
        for route in routes where RoutePath.isSegmentPrefix(route.prefix, of: path) {
            guard route.stripPrefix else { return Match(route: route, upstreamPath: path) }
            let rest = String(path.dropFirst(route.prefix.count))
            return Match(route: route, upstreamPath: rest.isEmpty ? "/" : rest)
        }
        return nil
    }

    /// The audiences of all routes.
    public var audiences: Set<String> { Set(routes.map(\.audience)) }
}

/// Rejects request paths that could route differently after decoding (SPEC section 7).
public enum PathSafety {
    /// ``isUnsafe(_:)`` for a whole request target (`path?query`): also true for a fragment (`#`), which no client
    /// sends and some servers treat differently.
    public static func isUnsafe(target: some StringProtocol) -> Bool {
        if target.utf8.contains(UInt8(ascii: "#")) { return true }
        guard let question = target.firstIndex(of: "?") else { return isUnsafe(target) }
        return isUnsafe(target[..<question])
    }

    /// True when the raw path has a `.` or `..` segment (plain or percent-encoded, any case), an encoded slash or
    /// backslash, a raw backslash, a NUL, or malformed percent-encoding.
    public static func isUnsafe(_ rawPath: some StringProtocol) -> Bool {
        let bytes = Array(rawPath.utf8)
        guard bytes.first == UInt8(ascii: "/") else { return true }
        var decodedSegment: [UInt8] = []
        var index = 1
        func segmentIsDots() -> Bool { decodedSegment == [0x2E] || decodedSegment == [0x2E, 0x2E] }
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if segmentIsDots() { return true }
                decodedSegment.removeAll(keepingCapacity: true)
                index += 1
                continue
            }
            let byte = bytes[index]
            // Path parameters (`;`, RFC 3986 3.3) are refused: servers disagree on them (`/a/..;/b`).
            if byte == UInt8(ascii: "\\") || byte == 0 || byte == UInt8(ascii: ";") { return true }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) else { return true }
                let decoded = high << 4 | low
                if decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") || decoded == 0 || decoded == UInt8(ascii: "%") || decoded == UInt8(ascii: ";") {
                    return true
                }
                decodedSegment.append(decoded)
                index += 3
                continue
            }
            decodedSegment.append(byte)
            index += 1
        }
        return false
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
