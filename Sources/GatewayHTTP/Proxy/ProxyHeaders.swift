import Foundation
import HTTPTypes
import NIOHTTP1

/// The proxy's one header policy (SPEC 7 "Header and protocol hygiene", RFC 9110 7.6.1), used by every path
/// (responder, event-loop relay, WebSocket handshake).
///
/// Names are compared case-insensitively with `_` and `-` equal (``normalized(_:)``), so `X_Tenant_Id` is
/// `X-Tenant-Id`: a server behind the gateway that folds underscores (CGI, nginx with `underscores_in_headers`)
/// never sees a client's copy of a header the gateway owns.
struct ProxyHeaders: Sendable {
    /// Hop-by-hop headers: never forwarded in either direction.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Headers the gateway sets or that carry the client's credentials, and identity headers some upstream might
    /// trust: client values are dropped.
    static let gatewayOwned: Set<String> = [
        "authorization", "x-api-key", "x-tenant-id", "x-workspace-id", "x-request-id", "forwarded", "host",
        "content-length", "expect",
        "x-remote-user", "remote-user", "x-forwarded-user", "x-real-ip", "true-client-ip", "x-original-url",
        "x-rewrite-url",
    ]

    /// Prefixes of dropped identity headers: `X-IAM-*`, `X-User*`, `X-Auth-*`, and every `X-Forwarded-*` (the gateway
    /// sets its own, replacing, never appending).
    static let gatewayOwnedPrefixes = ["x-iam-", "x-user", "x-auth-", "x-forwarded-"]

    /// Names (normalized) from `proxy.strip_headers`.
    let extraStripped: Set<String>

    init(stripHeaders: [String] = []) {
        extraStripped = Set(stripHeaders.map(Self.normalized))
    }

    /// Lower case, `_` as `-`.
    static func normalized(_ name: some StringProtocol) -> String {
        String(name.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    /// True when a client's header of this (normalized) name never goes upstream.
    func isStripped(_ name: String) -> Bool {
        if Self.hopByHop.contains(name) || Self.gatewayOwned.contains(name) || extraStripped.contains(name) {
            return true
        }
        return Self.gatewayOwnedPrefixes.contains { name.hasPrefix($0) }
    }

    /// Header names listed in `Connection` (they are hop-by-hop for this message), normalized.
    static func connectionListed(_ fields: HTTPFields) -> Set<String> {
        var names: Set<String> = []
        for value in fields[values: .connection] {
            for token in value.split(separator: ",") {
                names.insert(normalized(RequestAuthenticator.trimmed(token)))
            }
        }
        return names
    }

    /// What goes upstream: the client's headers less hop-by-hop, credentials, identity and gateway-owned ones,
    /// less the gateway's session cookie (other cookies stay), plus the gateway's own.
    func upstream(from fields: HTTPFields, set: [(String, String)]) -> HTTPHeaders {
        let listed = Self.connectionListed(fields)
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + set.count)
        var cookies: [Substring] = []
        for field in fields {
            // `canonicalName` is already lower case; only a name with `_` needs a copy (runs per header, per request).
            let canonical = field.name.canonicalName
            let name = canonical.utf8.contains(UInt8(ascii: "_")) ? Self.normalized(canonical) : canonical
            if isStripped(name) || listed.contains(name) { continue }
            if name == "cookie" {
                for pair in field.value.split(separator: ";") {
                    let trimmed = pair.drop { $0 == " " }
                    if !trimmed.isEmpty, !trimmed.hasPrefix(SessionCookie.name + "=") { cookies.append(trimmed) }
                }
                continue
            }
            headers.add(name: field.name.rawName, value: field.value)
        }
        if !cookies.isEmpty { headers.add(name: "Cookie", value: cookies.joined(separator: "; ")) }
        for (name, value) in set { headers.add(name: name, value: value) }
        return headers
    }

    /// What goes back to the client: the upstream's headers less hop-by-hop ones.
    static func downstream(from headers: HTTPHeaders) -> HTTPFields {
        var listed: Set<String> = []
        for value in headers["connection"] {
            for token in value.split(separator: ",") { listed.insert(RequestAuthenticator.trimmed(token).lowercased()) }
        }
        var fields = HTTPFields()
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || listed.contains(lower) { continue }
            guard let fieldName = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }
}
