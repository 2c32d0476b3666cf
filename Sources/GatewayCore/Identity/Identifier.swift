/// Ids of tenants, workspaces, users, roles and routes: `^[a-z0-9][a-z0-9_-]{0,62}$`.
public enum Identifier {
    public static func isValid(_ text: some StringProtocol) -> Bool {
        let bytes = text.utf8
        guard let first = bytes.first, bytes.count <= 63, isLowerAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy {
            isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}

/// Permission names: lower-case dotted identifiers such as `connections.create` or `discovery.history.read`.
public enum PermissionName {
    public static func isValid(_ text: some StringProtocol) -> Bool {
        guard text.utf8.count <= 128 else { return false }
        let segments = text.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count >= 2 else { return false }
        return segments.allSatisfy { segment in
            guard let first = segment.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else {
                return false
            }
            return segment.utf8.allSatisfy { Identifier.isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") }
        }
    }
}

/// Path rules for proxy route prefixes.
public enum RoutePath {
    /// Prefixes the gateway serves itself; no route may shadow them.
    public static let reservedPrefixes = ["/v1", "/.well-known", "/oauth", "/console"]

    /// `/a/b`: starts with `/`, no empty, `.` or `..` segments, no trailing `/`, no percent-encoding.
    public static func isValidPrefix(_ prefix: String) -> Bool {
        guard prefix.hasPrefix("/"), prefix.count > 1, !prefix.hasSuffix("/"), !prefix.contains("%"),
            !prefix.contains("?"), !prefix.contains("#")
        else {
            return false
        }
        let segments = prefix.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// True when one prefix equals the other or contains it on a segment boundary.
    public static func prefix(_ a: String, overlaps b: String) -> Bool {
        isSegmentPrefix(a, of: b) || isSegmentPrefix(b, of: a)
    }

    /// True when `path` equals `prefix` or continues it with `/`.
    public static func isSegmentPrefix(_ prefix: String, of path: String) -> Bool {
        guard path.hasPrefix(prefix) else { return false }
        return path.count == prefix.count || path.dropFirst(prefix.count).first == "/"
    }
}
