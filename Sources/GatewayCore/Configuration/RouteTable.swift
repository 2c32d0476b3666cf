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
        withBytes(target) { bytes in
            if bytes.contains(UInt8(ascii: "#")) { return true }
            let end = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
            return isUnsafe(path: UnsafeBufferPointer(rebasing: bytes[..<end]))
        }
    }

    /// True when the raw path has a `.` or `..` segment (plain or percent-encoded, any case), an encoded slash or
    /// backslash, a raw backslash, a NUL, or malformed percent-encoding.
    public static func isUnsafe(_ rawPath: some StringProtocol) -> Bool {
        withBytes(rawPath) { isUnsafe(path: $0) }
    }

    /// The text's UTF-8 bytes in place (a native string or substring), copied only otherwise.
    static func withBytes(_ text: some StringProtocol, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }

    /// Runs for every request (Benchmarks/PROFILE.md has what the generic, array-per-segment version cost): one pass
    /// over the bytes, a segment tracked by its decoded length and whether it is all dots.
    static func isUnsafe(path bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.first == UInt8(ascii: "/") else { return true }
        var segmentLength = 0
        var segmentAllDots = true
        var index = 1
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if segmentAllDots, segmentLength == 1 || segmentLength == 2 { return true }
                segmentLength = 0
                segmentAllDots = true
                index += 1
                continue
            }
            var byte = bytes[index]
            // Path parameters (`;`, RFC 3986 3.3) are refused: servers disagree on them (`/a/..;/b`).
            if byte == UInt8(ascii: "\\") || byte == 0 || byte == UInt8(ascii: ";") { return true }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) else {
                    return true
                }
                byte = high << 4 | low
                if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\") || byte == 0 || byte == UInt8(ascii: "%")
                    || byte == UInt8(ascii: ";")
                {
                    return true
                }
                index += 3
            } else {
                index += 1
            }
            segmentLength += 1
            if byte != UInt8(ascii: ".") { segmentAllDots = false }
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
