import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import JWTKit
import NIOCore
import Testing

@Suite struct DiscoveryTests {
    func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }

    @Test func healthAndReadiness() async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        try await gateway.application().test(.router) { client in
            try await client.execute(uri: "/v1/health", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(try json(response.body)["status"] as? String == "ok")
            }
            try await client.execute(uri: "/v1/ready", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(try json(response.body)["active_kid"] as? String == gateway.keyRing.snapshot.active.kid)
            }
            try await gateway.store.close()
            try await client.execute(uri: "/v1/ready", method: .get) { response throws in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(try json(response.body)["code"] as? String == "unavailable")
            }
        }
    }

    @Test func jwksPublishesActiveAndNextWithCacheControl() async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        try await gateway.application().test(.router) { client in
            try await client.execute(uri: "/.well-known/jwks.json", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.cacheControl] == "public, max-age=300")
                let set = try JSONDecoder().decode(JSONWebKeySet.self, from: Data(response.body.readableBytesView))
                #expect(set.keys.count == 2)
                #expect(Set(set.keys.compactMap(\.kid)) == Set(gateway.keyRing.snapshot.records.map(\.kid)))
                for key in set.keys {
                    #expect(key.kty == "RSA" && key.alg == "RS256" && key.use == "sig")
                    #expect(key.rs256PublicKey() != nil)
                }
                let body = String(buffer: response.body)
                #expect(!body.contains("\"d\""), "no private exponent")
                #expect(!body.contains("\"p\"") && !body.contains("\"q\""))
                // jwt-kit accepts the document as a JWKS.
                let keys = JWTKeyCollection()
                try await keys.add(jwksJSON: body)
            }
        }
    }

    @Test func jwksFollowsRotationAndRevocation() async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        try await gateway.application().test(.router) { client in
            let old = gateway.keyRing.snapshot.active.kid
            try await gateway.keyRing.rotate(force: true)
            try await client.execute(uri: "/.well-known/jwks.json", method: .get) { response throws in
                let set = try JSONDecoder().decode(JSONWebKeySet.self, from: Data(response.body.readableBytesView))
                #expect(set.keys.count == 3)
                #expect(set.keys.contains { $0.kid == old })
            }
            try await gateway.keyRing.revoke(kid: old)
            try await client.execute(uri: "/.well-known/jwks.json", method: .get) { response throws in
                let set = try JSONDecoder().decode(JSONWebKeySet.self, from: Data(response.body.readableBytesView))
                #expect(set.keys.count == 2)
                #expect(!set.keys.contains { $0.kid == old })
            }
        }
    }

    /// RFC 9110: every GET endpoint answers HEAD with the GET's status and headers and no body; SPEC 5: the JWKS and
    /// discovery documents answer CORS requests from any origin, with a 204 preflight.
    @Test func everyGetAnswersHeadAndDiscoveryAnswersCORS() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let token = try await client.token()
            let paths = [
                "/v1/health", "/v1/ready", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/v1/me",
                "/v1/users",
                "/v1/roles", "/v1/roles/viewer", "/v1/assignments", "/v1/permissions", "/v1/workspaces", "/v1/api-keys",
                "/v1/tenants",
                "/v1/policy-version", "/v1/policy-versions", "/v1/audit-events", "/v1/admin/keys",
            ]
            for path in paths {
                let get = try await client.execute(
                    uri: path, method: .get, headers: [.authorization: "Bearer \(token)"])
                let head = try await client.execute(
                    uri: path, method: .head, headers: [.authorization: "Bearer \(token)"])
                #expect(get.status == .ok, "GET \(path)")
                #expect(head.status == get.status, "HEAD \(path)")
                #expect(head.body.readableBytes == 0, "HEAD \(path) has no body")
                #expect(head.headers[.contentType] == get.headers[.contentType], "HEAD \(path)")
            }
            for path in ["/.well-known/jwks.json", "/.well-known/openid-configuration"] {
                let get = try await client.execute(
                    uri: path, method: .get, headers: [HTTPField.Name("Origin")!: "https://app.example"])
                #expect(get.headers[.accessControlAllowOrigin] == "*", "\(path)")
                let preflight = try await client.execute(
                    uri: path, method: .options,
                    headers: [
                        HTTPField.Name("Origin")!: "https://app.example", .accessControlRequestMethod: "GET",
                    ])
                #expect(preflight.status == .noContent, "\(path)")
                #expect(preflight.headers[.accessControlAllowOrigin] == "*")
                #expect(preflight.headers[.accessControlAllowMethods]?.contains("GET") == true)
            }
            // The API itself grants no cross-origin access.
            let me = try await client.execute(
                uri: "/v1/me", method: .get,
                headers: [.authorization: "Bearer \(token)", HTTPField.Name("Origin")!: "https://evil.example"])
            #expect(me.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func openIDConfigurationDerivesFromIssuer() async throws {
        let gateway = try await TestGateway.make { $0.issuer = "https://auth.example.com/" }
        defer { Task { await gateway.cleanUp() } }
        try await gateway.application().test(.router) { client in
            try await client.execute(uri: "/.well-known/openid-configuration", method: .get) { response throws in
                #expect(response.status == .ok)
                let document = try json(response.body)
                #expect(document["issuer"] as? String == "https://auth.example.com/")
                #expect(document["jwks_uri"] as? String == "https://auth.example.com/.well-known/jwks.json")
                #expect(document["token_endpoint"] as? String == "https://auth.example.com/oauth/token")
                #expect(document["id_token_signing_alg_values_supported"] as? [String] == ["RS256"])
            }
        }
    }

    @Test(arguments: [
        ("/nope", HTTPRequest.Method.get), ("/v1/health", .post), ("/.well-known/other", .get), ("/v1", .get),
    ])
    func unknownPathsAreProblemJSON404(_ path: String, _ method: HTTPRequest.Method) async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        try await gateway.application().test(.router) { client in
            try await client.execute(uri: path, method: method) { response throws in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try json(response.body)
                #expect(problem["code"] as? String == "not_found")
                #expect(problem["status"] as? Int == 404)
                #expect(problem["title"] as? String == "Not found")
                #expect((problem["type"] as? String)?.isEmpty == false)
                #expect((problem["detail"] as? String)?.isEmpty == false)
            }
        }
    }

    @Test func problemMappingCoversEveryCode() {
        let statuses: [GatewayError.Code: Int] = [
            .invalidRequest: 400, .invalidCredentials: 401, .invalidToken: 401, .tokenRevoked: 401, .stalePolicy: 401,
            .forbidden: 403, .notFound: 404, .conflict: 409, .payloadTooLarge: 413, .unsupportedMediaType: 415,
            .requestHeaderFieldsTooLarge: 431,
            .rateLimited: 429, .upstreamUnavailable: 502, .upstreamTimeout: 504, .unavailable: 503, .internal: 500,
        ]
        for code in GatewayError.Code.allCases {
            let error = GatewayError(code, "x", retryAfter: code == .rateLimited ? 7 : nil, bearerPresented: true)
            #expect(Int(error.status.code) == statuses[code], "\(code)")
            let response = error.problemResponse()
            #expect(response.headers[.contentType] == "application/problem+json")
            if error.status == .unauthorized {
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="iam-gateway", error="invalid_token""#)
            } else {
                #expect(response.headers[.wwwAuthenticate] == nil)
            }
            #expect(response.headers[.retryAfter] == (code == .rateLimited ? "7" : nil))
        }
    }
}
