import GatewayCore
@testable import GatewayHTTP
import HTTPTypes
import NIOHTTP1
import Testing

/// Header and path rules as pure functions (the live tests cover them end to end where a client can send them).
@Suite struct ProxyHeadersTests {
    @Test func connectionListedAndHopByHopHeadersAreDropped() {
        var fields: HTTPFields = [.connection: "keep-alive, X-Custom-Hop", HTTPField.Name("X-Custom-Hop")!: "secret", .te: "trailers"]
        fields.append(HTTPField(name: .cookie, value: "__Host-iam-session=abc"))
        fields.append(HTTPField(name: .cookie, value: "theme=dark"))
        fields.append(HTTPField(name: .cookie, value: "lang=en"))
        fields[HTTPField.Name("Upgrade")!] = "h2c"
        fields[HTTPField.Name("Proxy-Authorization")!] = "Basic x"
        fields[HTTPField.Name("X-Kept")!] = "1"
        let upstream = ProxyHeaders.upstream(from: fields, set: [("X-Tenant-Id", "t")])
        #expect(upstream["X-Custom-Hop"].isEmpty)
        #expect(upstream["Connection"].isEmpty && upstream["TE"].isEmpty && upstream["Upgrade"].isEmpty && upstream["Proxy-Authorization"].isEmpty)
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

    @Test func pathSafety() {
        for unsafe in ["/a/../b", "/a/./b", "/..", "/a/%2e%2e/b", "/a/%2E%2E", "/a/.%2e/b", "/a/%2e", "/a%2fb", "/a%2Fb", "/a%5Cb", "/a\\b", "/a%00", "/a%zz", "/a%2", "relative", "", "/a%252e%252e"] {
            #expect(PathSafety.isUnsafe(unsafe), "\(unsafe)")
        }
        for safe in ["/", "/a/b", "/a/..b", "/a/b.", "/a/.well", "/a%20b", "/files/report.pdf", "/a/%41"] {
            #expect(!PathSafety.isUnsafe(safe), "\(safe)")
        }
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
