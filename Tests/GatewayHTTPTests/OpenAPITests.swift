import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GatewayHTTP

/// The OpenAPI document (docs/openapi.json, served at /v1/openapi.json) stays true to the router: every route the
/// router registers is documented and every documented operation is routed (schemathesis, in the interop suite,
/// checks the answers against it).
@Suite struct OpenAPITests {
    static func document() throws -> [String: Any] {
        let asset = try #require(OpenAPIController<GatewayRequestContext>.bundled())
        return try #require(
            try JSONSerialization.jsonObject(with: Data(asset.body.readableBytesView)) as? [String: Any])
    }

    /// `/v1/users/:user_id` -> `/v1/users/{user_id}`; the console's catch-all -> `/console/{path}`.
    static func openAPIPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
            if segment.hasPrefix(":") { return "{\(segment.dropFirst())}" }
            if segment == "**" { return "{path}" }
            return String(segment)
        }.joined(separator: "/")
    }

    @Test func everyRouteIsDocumentedAndEveryOperationIsRouted() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { wired, _ in try Self.compare(wired) }
    }

    static func compare(_ wired: Gateway) throws {
        let document = try Self.document()
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        #expect((document["info"] as? [String: Any])?["version"] as? String == GatewayVersion.current)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        for (path, item) in paths {
            for method in item.keys where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        // HEAD is generated for every GET (RFC 9110); the document lists it only where it says something else.
        let routed = Set(
            wired.router().routes.filter { $0.method != .head }.map {
                "\($0.method.rawValue) \(Self.openAPIPath($0.path.description))"
            })
        #expect(routed.subtracting(documented).sorted() == [], "routed but not documented")
        #expect(
            documented.subtracting(routed).filter { !$0.hasPrefix("HEAD ") }.sorted() == [], "documented but not routed"
        )
    }

    @Test func theDocumentIsServedWithRevalidation() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let reply = try await client.send(.get, "/v1/openapi.json")
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "application/json")
            #expect(reply["openapi"] as? String != nil)
            let etag = try #require(reply.headers[.eTag])
            let again = try await client.send(.get, "/v1/openapi.json", headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
        }
    }

    /// docs/openapi.json is the served file (a link to it), so the documentation cannot drift from what is served.
    @Test func docsCopyIsTheServedFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let docs = try Data(contentsOf: root.appendingPathComponent("docs/openapi.json"))
        let served = try #require(OpenAPIController<GatewayRequestContext>.bundled())
        #expect(docs == Data(served.body.readableBytesView))
    }
}
