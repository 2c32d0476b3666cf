import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GatewayHTTP

/// SPEC 7 "Header and protocol hygiene" end to end, on the responder path and the event-loop path alike.
extension ProxyTests {
    @Test func identityAndUnderscoreHeadersNeverReachTheUpstreamOnEitherPath() async throws {
        try await withWiredProxy { _, wired, upstream, client in
            let token = try await client.token()
            _ = try await client.send(.get, "/api/echo/warm", bearer: token)
            var sent: HTTPFields = [.authorization: "Bearer \(token)"]
            let forged = [
                "X_Tenant_Id", "X_Forwarded_For", "X-Forwarded-Port", "X-IAM-User", "X-User-Id", "X-Remote-User",
                "Remote-User", "X-Forwarded-User",
                "X-Auth-Request-Email", "X-Real-IP", "True-Client-IP", "X-Original-URL", "X-Rewrite-URL", "Forwarded",
                "X_Request_Id",
            ]
            for name in forged { sent.append(HTTPField(name: HTTPField.Name(name)!, value: "forged-value")) }
            sent.append(HTTPField(name: HTTPField.Name("X-Forwarded-Host")!, value: "a@evil.com"))
            sent.append(HTTPField(name: HTTPField.Name("X-Benign")!, value: "kept"))
            for fastPath in [false, true] {
                wired.proxyFastPath.isEnabled = fastPath
                let before = wired.eventLoopProxiedRequests
                let reply = try await client.send(.get, "/api/echo/h", headers: sent)
                #expect(reply.status == .created, "\(reply.text)")
                #expect((wired.eventLoopProxiedRequests > before) == fastPath, "path taken")
                let seen = try #require(upstream.last)
                let values = seen.headers.map(\.value)
                #expect(!values.contains("forged-value"), "fast path: \(fastPath): \(seen.headers)")
                #expect(!values.contains("a@evil.com"))
                #expect(seen.header("X-Tenant-Id") == "platform")
                #expect(seen.headers[values: HTTPField.Name("X-Forwarded-For")!].count == 1, "replaced, not appended")
                #expect(seen.header("X-Forwarded-Host") == "localhost", "the validated Host")
                #expect(seen.header("X-Benign") == "kept")
            }
        }
    }

    /// `X-Forwarded-*` from a client are replaced by the gateway's values; from a load balancer listed in
    /// `http.trusted_proxies` they are believed: the client it names (the nearest untrusted hop), its scheme and host.
    @Test(arguments: [false, true])
    func forwardedHeadersAreBelievedOnlyFromTrustedProxies(_ trusted: Bool) async throws {
        try await withWiredProxy(configure: { configuration in
            if trusted { configuration.http.trustedProxies = try! TrustedProxies(["10.0.0.0/8", "127.0.0.1"]) }
        }) { _, wired, upstream, client in
            let token = try await client.token()
            _ = try await client.send(.get, "/api/echo/warm", bearer: token)
            let sent: HTTPFields = [
                .authorization: "Bearer \(token)",
                HTTPField.Name("X-Forwarded-For")!: "198.51.100.66, 203.0.113.9, 10.1.2.3",
                HTTPField.Name("X-Forwarded-Proto")!: "https",
                HTTPField.Name("X-Forwarded-Host")!: "app.example.com",
            ]
            for fastPath in [false, true] {
                wired.proxyFastPath.isEnabled = fastPath
                let reply = try await client.send(.get, "/api/echo/h", headers: sent)
                #expect(reply.status == .created, "\(reply.text)")
                let seen = try #require(upstream.last)
                #expect(seen.all("X-Forwarded-For") == [trusted ? "203.0.113.9" : "127.0.0.1"], "fast path \(fastPath)")
                #expect(seen.header("X-Forwarded-Proto") == (trusted ? "https" : "http"))
                #expect(seen.header("X-Forwarded-Host") == (trusted ? "app.example.com" : "localhost"))
            }
            // A trusted proxy's scheme or host that is not one is not believed.
            var odd = sent
            odd[HTTPField.Name("X-Forwarded-Proto")!] = "gopher"
            odd[HTTPField.Name("X-Forwarded-Host")!] = "a@evil.com"
            _ = try await client.send(.get, "/api/echo/h", headers: odd)
            let seen = try #require(upstream.last)
            #expect(seen.header("X-Forwarded-Proto") == "http")
            #expect(seen.header("X-Forwarded-Host") == "localhost")
        }
    }

    @Test func hostAndTargetRulesAnswer400OnEveryPath() async throws {
        try await withWiredProxy { _, _, upstream, client in
            let port = try #require(client.port)
            let token = try await client.token()
            _ = try await client.send(.get, "/api/echo/warm", bearer: token)
            let seenBefore = upstream.requests.count
            let auth = "Authorization: Bearer \(token)\r\n"
            let cases = [
                ("missing Host", "GET /api/echo/x HTTP/1.1\r\n\(auth)\r\n"),
                ("two Hosts", "GET /api/echo/x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\(auth)\r\n"),
                ("userinfo in Host", "GET /api/echo/x HTTP/1.1\r\nHost: a@evil.com\r\n\(auth)\r\n"),
                ("path parameter", "GET /api/echo/x/..;/y HTTP/1.1\r\nHost: localhost\r\n\(auth)\r\n"),
                ("encoded parameter", "GET /api/echo/x%3Bjsessionid=1 HTTP/1.1\r\nHost: localhost\r\n\(auth)\r\n"),
                ("fragment", "GET /api/echo/x#frag HTTP/1.1\r\nHost: localhost\r\n\(auth)\r\n"),
                ("API fragment", "GET /v1/health#x HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            ]
            for (name, request) in cases {
                let (text, _) = try await Self.rawExchange(
                    port: port,
                    bytes: request + "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                #expect(text.hasPrefix("HTTP/1.1 400"), "\(name): \(text.prefix(80))")
                #expect(text.contains("application/problem+json"), "\(name)")
            }
            #expect(upstream.requests.count == seenBefore, "nothing was forwarded")
            #expect(try await client.send(.get, "/v1/health").status == .ok)
        }
    }

    /// SPEC 7: bad framing (an invalid chunk size) is 400, never a 500 or a 502, on the API and the proxy. The body
    /// is streamed, so the upstream may have seen the bytes before the bad chunk, but its request is aborted, never
    /// completed: the upload endpoint, which answers only after the whole body, never answers.
    @Test func invalidChunkSizesAre400OnTheAPIAndTheProxy() async throws {
        try await withWiredProxy { _, _, _, client in
            let port = try #require(client.port)
            let token = try await client.token()
            let cases = [
                (
                    "API",
                    "POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
                ),
                (
                    "proxy",
                    "POST /api/files/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n"
                ),
            ]
            for (name, request) in cases {
                let (text, _) = try await Self.rawExchange(port: port, bytes: request)
                #expect(text.hasPrefix("HTTP/1.1 400"), "\(name): \(text.prefix(80))")
                #expect(text.contains(#""code":"invalid_request""#), "\(name)")
                #expect(!text.contains("sha256"), "\(name): the upstream never completed the request")
            }
            #expect(try await client.send(.get, "/v1/health").status == .ok)
        }
    }

    /// SPEC 7: HTTP/1.0 without keep-alive is closed after the answer (not at the idle timeout); `Upgrade: h2c` is
    /// ignored and the request answered, on the API and the proxy.
    @Test func http10ClosesAndH2cUpgradeIsIgnored() async throws {
        try await withWiredProxy { _, _, _, client in
            let port = try #require(client.port)
            let token = try await client.token()
            for target in ["/v1/health", "/api/echo/x"] {
                let old = try await Self.rawExchange(
                    port: port,
                    bytes: "GET \(target) HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n\r\n")
                #expect(old.text.hasPrefix("HTTP/1.1 20"), "\(target): \(old.text.prefix(40))")
                #expect(old.closedByServer, "\(target): HTTP/1.0 closes after the answer")
                let h2c = try await Self.rawExchange(
                    port: port,
                    bytes:
                        "GET \(target) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                        + "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
                )
                #expect(h2c.text.hasPrefix("HTTP/1.1 20"), "\(target): \(h2c.text.prefix(40))")
                #expect(
                    !h2c.closedByServer || h2c.text.contains("\r\n\r\n"), "\(target): answered, not closed unanswered")
            }
        }
    }
}
