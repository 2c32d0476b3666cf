#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `http.trusted_proxies`: the addresses (single IPs or CIDR blocks, IPv4 or IPv6) of load balancers in front of
/// the gateway whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are believed (SPEC 7). From
/// anyone else those headers are dropped and the gateway's own values set.
public struct TrustedProxies: Sendable, Equatable {
    struct Block: Sendable, Equatable {
        var bytes: [UInt8]
        var prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for index in bytes.indices where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != bytes[index] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    let blocks: [Block]

    public static let none = TrustedProxies(blocks: [])

    init(blocks: [Block]) {
        self.blocks = blocks
    }

    /// Parses `entries` (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`); an entry that is not one is thrown back, named.
    public init(_ entries: [String]) throws(InvalidEntry) {
        var blocks: [Block] = []
        for entry in entries {
            let parts = entry.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let bytes = Self.parse(String(parts[0])) else { throw InvalidEntry(entry: entry) }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let bits = Int(parts[1]), (0...prefix).contains(bits), parts[1].allSatisfy(\.isASCII) else {
                    throw InvalidEntry(entry: entry)
                }
                prefix = bits
            }
            blocks.append(Block(bytes: bytes, prefix: prefix))
        }
        self.blocks = blocks
    }

    public struct InvalidEntry: Error, Equatable {
        public let entry: String
    }

    public var isEmpty: Bool { blocks.isEmpty }

    /// Whether `address` (a textual IP) is one of the trusted proxies.
    public func contains(_ address: String) -> Bool {
        guard !blocks.isEmpty, let bytes = Self.parse(address) else { return false }
        return blocks.contains { $0.contains(bytes) }
    }

    /// The client's address: `peer` itself unless it is a trusted proxy; then the nearest address in the
    /// `X-Forwarded-For` chain (read from the right) that is not a trusted proxy. Entries that are not IP addresses
    /// end the walk: what lies left of them was written by someone the gateway does not trust.
    public func clientAddress(peer: String, forwardedFor: [String]) -> String {
        guard contains(peer) else { return peer }
        var client = peer
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map {
            String($0.filter { $0 != " " && $0 != "\t" })
        }
        for hop in hops.reversed() {
            guard Self.parse(hop) != nil else { break }
            client = hop
            if !contains(hop) { break }
        }
        return client
    }

    /// The 4 or 16 bytes of a textual IPv4 or IPv6 address.
    static func parse(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
