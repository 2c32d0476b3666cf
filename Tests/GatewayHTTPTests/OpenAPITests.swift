import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GatewayHTTP

/// The OpenAPI document (docs/openapi.json, served at /v1/openapi.json) stays true to the router: every route the
/// router registers is documented and every documented operation is routed. Every answer the tests' `send` receives
/// is checked against it by `OpenAPIConformance`; schemathesis, in the interop suite, checks generated requests.
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

/// The checker every test's `send` runs (`OpenAPIConformance`) finds what does not conform, so its silence means
/// something.
@Suite struct OpenAPIConformanceTests {
    static let json: HTTPFields = [.contentType: "application/json"]
    static let problem: HTTPFields = [.contentType: "application/problem+json"]

    static func problems(
        _ method: HTTPRequest.Method, _ uri: String, _ status: HTTPResponse.Status, _ headers: HTTPFields,
        _ body: String
    ) -> [String] {
        OpenAPIConformance.problems(method: method, uri: uri, status: status, headers: headers, body: Data(body.utf8))
    }

    @Test func conformingAnswersPass() {
        #expect(Self.problems(.get, "/v1/health", .ok, Self.json, #"{"status":"ok"}"#) == [])
        #expect(
            Self.problems(
                .get, "/v1/me?workspace_id=*", .ok, Self.json,
                #"{"sub":"u","tenant_id":"t","workspace_id":"*","roles":[],"permissions":["a.b"],"policy_version":3}"#)
                == [])
        #expect(
            Self.problems(
                .delete, "/v1/users/u-1", .notFound, Self.problem,
                #"{"type":"about:blank","title":"Not Found","status":404,"code":"not_found","detail":"x"}"#) == [])
        // Paths the document does not list (proxied routes) are not its business.
        #expect(Self.problems(.get, "/api/echo/x", HTTPResponse.Status(code: 418), Self.json, "{}") == [])
    }

    @Test func whatDoesNotConformIsNamed() {
        let undocumented = Self.problems(.get, "/v1/health", HTTPResponse.Status(code: 418), Self.json, "{}")
        #expect(undocumented.count == 1 && undocumented[0].contains("status not documented"))
        let wrongType = Self.problems(.get, "/v1/health", .ok, Self.json, #"{"status":5}"#)
        #expect(!wrongType.isEmpty && wrongType[0].contains("$.status"))
        let missing = Self.problems(
            .get, "/v1/me", .ok, Self.json,
            #"{"sub":"u","tenant_id":"t","roles":[],"permissions":[],"policy_version":1}"#)
        #expect(missing.contains { $0.contains("required member 'workspace_id'") })
        let integer = Self.problems(
            .get, "/v1/me", .ok, Self.json,
            #"{"sub":"u","tenant_id":"t","workspace_id":"w","roles":[],"permissions":[],"policy_version":1.5}"#)
        #expect(integer.contains { $0.contains("$.policy_version") })
        let mediaType = Self.problems(.get, "/v1/health", .ok, [.contentType: "text/plain"], "ok")
        #expect(mediaType.contains { $0.contains("media type 'text/plain'") })
        let notJSON = Self.problems(.get, "/v1/health", .ok, Self.json, "{")
        #expect(notJSON.contains { $0.contains("not JSON") })
    }
}
