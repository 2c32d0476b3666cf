import Foundation
import HTTPTypes
import NIOHTTP1

/// Header rules of the proxy (SPEC section 7, RFC 9110 7.6.1).
enum ProxyHeaders {
    /// Hop-by-hop headers: never forwarded in either direction.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Headers the gateway sets or that carry the client's credentials: client values are dropped.
    static let gatewayOwned: Set<String> = [
        "authorization", "x-api-key", "x-tenant-id", "x-workspace-id", "x-request-id", "x-forwarded-for",
        "x-forwarded-proto", "x-forwarded-host", "forwarded", "host", "content-length", "expect",
    ]

    /// Header names listed in `Connection` (they are hop-by-hop for this message).
    static func connectionListed(_ fields: HTTPFields) -> Set<String> {
        var names: Set<String> = []
        for value in fields[values: .connection] {
            for token in value.split(separator: ",") {
                names.insert(RequestAuthenticator.trimmed(token).lowercased())
            }
        }
        return names
    }

    /// What goes upstream: the client's headers less hop-by-hop, credentials and gateway-owned ones, less the
    /// gateway's session cookie (other cookies stay), plus the gateway's own.
    static func upstream(from fields: HTTPFields, set: [(String, String)]) -> HTTPHeaders {
        let listed = connectionListed(fields)
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + set.count)
        var cookies: [Substring] = []
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || gatewayOwned.contains(name) || listed.contains(name) { continue }
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
