import GatewayCore
import HTTPTypes
import NIOHTTP1
import Testing

@testable import GatewayHTTP

/// Header and path rules as pure functions (the live tests cover them end to end where a client can send them).
@Suite struct ProxyHeadersTests {
    @Test func connectionListedAndHopByHopHeadersAreDropped() {
        var fields: HTTPFields = [
            .connection: "keep-alive, X-Custom-Hop", HTTPField.Name("X-Custom-Hop")!: "secret", .te: "trailers",
        ]
        fields.append(HTTPField(name: .cookie, value: "__Host-iam-session=abc"))
        fields.append(HTTPField(name: .cookie, value: "theme=dark"))
        fields.append(HTTPField(name: .cookie, value: "lang=en"))
        fields[HTTPField.Name("Upgrade")!] = "h2c"
        fields[HTTPField.Name("Proxy-Authorization")!] = "Basic x"
        fields[HTTPField.Name("X-Kept")!] = "1"
        let upstream = ProxyHeaders().upstream(from: fields, set: [("X-Tenant-Id", "t")])
        #expect(upstream["X-Custom-Hop"].isEmpty)
        #expect(
            upstream["Connection"].isEmpty && upstream["TE"].isEmpty && upstream["Upgrade"].isEmpty
                && upstream["Proxy-Authorization"].isEmpty)
        #expect(upstream["Cookie"] == ["theme=dark; lang=en"], "one Cookie header without the gateway's session cookie")
        #expect(upstream["X-Kept"] == ["1"])
        #expect(upstream["X-Tenant-Id"] == ["t"])
        var response = HTTPHeaders()
        response.add(name: "Connection", value: "X-Internal")
        response.add(name: "X-Internal", value: "secret")
        response.add(name: "Transfer-Encoding", value: "chunked")
        response.add(name: "X-Public", value: "yes")
        let downstream = ProxyHeaders.downstream(from: response)
        #expect(downstream.count == 1)
        #expect(downstream[HTTPField.Name("X-Public")!] == "yes")
    }

    /// SPEC 7: underscore variants are the same header; identity headers and `proxy.strip_headers` never go up;
    /// `X-Forwarded-*` are the gateway's alone.
    @Test func identityHeadersAndUnderscoreVariantsAreDropped() {
        var fields = HTTPFields()
        for name in [
            "X_Tenant_Id", "x_workspace_id", "X_Forwarded_For", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-IAM-User",
            "X-IAM-Roles", "X-User",
            "X-User-Id", "X-Username", "X-Remote-User", "Remote-User", "X-Forwarded-User", "X-Auth-Request-Email",
            "X-Real-IP", "True-Client-IP",
            "X-Original-URL", "X-Rewrite-URL", "Forwarded", "X_API_Key", "X-Debug-Internal", "x_debug_internal",
        ] {
            fields.append(HTTPField(name: HTTPField.Name(name)!, value: "forged"))
        }
        fields.append(HTTPField(name: HTTPField.Name("X-Kept")!, value: "1"))
        fields.append(HTTPField(name: HTTPField.Name("X_Kept_Too")!, value: "2"))
        let upstream = ProxyHeaders(stripHeaders: ["X-Debug-Internal"]).upstream(
            from: fields, set: [("X-Tenant-Id", "acme"), ("X-Forwarded-For", "10.0.0.1")])
        let names = upstream.map(\.name)
        #expect(names == ["X-Kept", "X_Kept_Too", "X-Tenant-Id", "X-Forwarded-For"], "\(names)")
        #expect(!upstream.contains { $0.value == "forged" })
    }

    @Test func hostMustBeOneValidAuthority() {
        for valid in [
            "example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:443", "a-b.c_d.example",
        ] {
            #expect(RequestHygiene.isValidHost(valid), "\(valid)")
        }
        for invalid in [
            "", "a@evil.com", "evil.com/path", "host:port", "host:99999", "[::1", "ex ample.com", "example.com:",
            "a\tb", "x?y", "x#y",
        ] {
            #expect(!RequestHygiene.isValidHost(invalid), "\(invalid)")
        }
    }

    @Test func pathParametersAndFragmentsAreUnsafe() {
        for unsafe in [
            "/api/x/..;/y", "/api/x;jsessionid=1", "/api/x%3By", "/api/x%3by", "/api/x#frag", "/api/x?q=1#frag",
        ] {
            #expect(PathSafety.isUnsafe(target: unsafe), "\(unsafe)")
        }
        for safe in ["/api/x", "/api/x?q=a;b", "/api/x?q=%3B"] {
            #expect(!PathSafety.isUnsafe(target: safe), "\(safe)")
        }
    }

    @Test func pathSafety() {
        for unsafe in [
            "/a/../b", "/a/./b", "/..", "/a/%2e%2e/b", "/a/%2E%2E", "/a/.%2e/b", "/a/%2e", "/a%2fb", "/a%2Fb", "/a%5Cb",
            "/a\\b", "/a%00", "/a%zz", "/a%2", "relative", "", "/a%252e%252e",
        ] {
            #expect(PathSafety.isUnsafe(unsafe), "\(unsafe)")
        }
        for safe in [
            "/", "/a/b", "/a/..b", "/a/b.", "/a/.well", "/a%20b", "/files/report.pdf", "/a/%41", "/a/.../b", "//a",
            "/a/%2e%2e%2e",
        ] {
            #expect(!PathSafety.isUnsafe(safe), "\(safe)")
        }
        // A substring (not contiguous-native in general) gives the same answers.
        let text = "xx/a/%2e./b"
        #expect(PathSafety.isUnsafe(text.dropFirst(2)))
        #expect(!PathSafety.isUnsafe("xx/a/b".dropFirst(2)))
    }

    @Test func routeTable() {
        let table = RouteTable(routes: [
            .init(name: "a", prefix: "/api", upstream: "http://h", audience: "a"),
            .init(name: "b", prefix: "/api/b", upstream: "http://h", audience: "b"),
            .init(name: "c", prefix: "/keep", upstream: "http://h", audience: "c", stripPrefix: false),
        ])
        #expect(table.match(path: "/api/b/x")?.route.name == "b")
        #expect(table.match(path: "/api/b/x")?.upstreamPath == "/x")
        #expect(table.match(path: "/api/bx")?.route.name == "a")
        #expect(table.match(path: "/api/bx")?.upstreamPath == "/bx")
        #expect(table.match(path: "/api")?.upstreamPath == "/")
        #expect(table.match(path: "/apix") == nil)
        #expect(table.match(path: "/keep/1")?.upstreamPath == "/keep/1")
        #expect(table.match(path: "/") == nil)
    }
}
