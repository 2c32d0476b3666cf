import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import IAMEnforcementVapor
import IAMVaporExample
import Testing
import Vapor
import VaporTesting

@Suite struct VaporMiddlewareTests {
    struct Problem: Decodable, Equatable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
    }

    static func problem(_ response: TestingHTTPResponse) throws -> Problem {
        #expect(response.headers.first(name: .contentType) == "application/problem+json")
        #expect(response.headers.first(name: .cacheControl) == "no-store")
        return try JSONDecoder().decode(Problem.self, from: Data(response.body.readableBytesView))
    }

    static func bearer(_ token: String) -> HTTPHeaders {
        ["Authorization": "Bearer \(token)"]
    }

    /// The example service, verifying against a fake gateway's JWKS over loopback.
    func withExample(
        _ test: (Application, _ issuer: String, _ key: TestSigningKey, _ gateway: FakeGateway) async throws -> Void
    ) async throws {
        let key = try TestSigningKey(kid: "k1")
        let gateway = FakeGateway()
        try gateway.publish([key])
        try await gateway.run { baseURL in
            let authenticator = ExampleService.authenticator(gatewayURL: baseURL, audience: TestTokens.audience)
            try await withApp(configure: { app in ExampleService.routes(app, authenticator: authenticator) }) { app in
                try await test(app, baseURL, key, gateway)
            }
        }
    }

    @Test func aMissingTokenIs401WithoutAnErrorAttribute() async throws {
        try await withExample { app, _, _, _ in
            try await app.testing().test(.GET, "whoami") { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers.first(name: .wwwAuthenticate) == #"Bearer realm="iam-gateway""#)
                let problem = try Self.problem(response)
                #expect(
                    problem
                        == Problem(
                            type: "urn:iam-gateway:problem:invalid_token", title: "Invalid token", status: 401,
                            detail: "This request needs a bearer token.", code: "invalid_token"
                        ))
            }
            try await app.testing().test(.GET, "connections", headers: ["Authorization": "Basic dXNlcjpwYXNz"]) {
                response in
                #expect(response.status == .unauthorized)
                let problem = try Self.problem(response)
                #expect(problem.code == "invalid_token")
            }
        }
    }

    @Test func badTokensAre401() async throws {
        try await withExample { app, issuer, key, _ in
            let good = try key.sign(TestTokens.claims(issuer: issuer))
            let tampered = String(good.dropLast(4)) + (good.hasSuffix("AAAA") ? "BBBB" : "AAAA")
            let rogue = try TestSigningKey(kid: "rogue").sign(TestTokens.claims(issuer: issuer))
            let otherIssuer = try key.sign(TestTokens.claims(issuer: "https://elsewhere.test"))
            for token in [tampered, rogue, otherIssuer, "not.a.token", String(repeating: "x", count: 100 * 1024)] {
                try await app.testing().test(.GET, "whoami", headers: Self.bearer(token)) { response in
                    #expect(response.status == .unauthorized)
                    #expect(
                        response.headers.first(name: .wwwAuthenticate)
                            == #"Bearer realm="iam-gateway", error="invalid_token""#)
                    let problem = try Self.problem(response)
                    #expect(
                        problem.code == "invalid_token" && problem.detail == "The bearer token could not be verified.")
                }
            }
        }
    }

    @Test func anExpiredTokenIs401() async throws {
        try await withExample { app, issuer, key, _ in
            // Expired 31 s ago: beyond the 30 s leeway.
            let expired = try key.sign(TestTokens.claims(issuer: issuer, now: Date().addingTimeInterval(-331)))
            try await app.testing().test(.GET, "whoami", headers: Self.bearer(expired)) { response in
                #expect(response.status == .unauthorized)
                let problem = try Self.problem(response)
                #expect(problem.code == "invalid_token")
            }
        }
    }

    @Test func aStaleTokenIs401StalePolicy() async throws {
        try await withExample { app, issuer, key, _ in
            let old = try key.sign(TestTokens.claims(issuer: issuer, policyVersion: 1))
            let new = try key.sign(TestTokens.claims(issuer: issuer, policyVersion: 2))
            try await app.testing().test(.GET, "connections", headers: Self.bearer(old)) { response in
                #expect(response.status == .ok)
            }
            try await app.testing().test(.GET, "connections", headers: Self.bearer(new)) { response in
                #expect(response.status == .ok)
            }
            // Version 2 has been seen for t1/w1, so the version-1 token is stale now (also from the cache).
            try await app.testing().test(.GET, "connections", headers: Self.bearer(old)) { response in
                #expect(response.status == .unauthorized)
                #expect(
                    response.headers.first(name: .wwwAuthenticate)
                        == #"Bearer realm="iam-gateway", error="invalid_token""#)
                let problem = try Self.problem(response)
                #expect(problem.code == "stale_policy" && problem.type == "urn:iam-gateway:problem:stale_policy")
            }
        }
    }

    @Test func aValidTokenWithoutThePermissionIs403() async throws {
        try await withExample { app, issuer, key, _ in
            let reader = try key.sign(TestTokens.claims(issuer: issuer, permissions: ["connections.read"]))
            try await app.testing().test(
                .POST, "connections", headers: Self.bearer(reader),
                beforeRequest: { request in
                    try request.content.encode(["name": "db"], as: .json)
                }
            ) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers.first(name: .wwwAuthenticate) == nil)
                let problem = try Self.problem(response)
                #expect(
                    problem.code == "forbidden" && problem.status == 403
                        && problem.type == "urn:iam-gateway:problem:forbidden")
                #expect(problem.detail.hasSuffix("connections.create."))
            }
            let nobody = try key.sign(TestTokens.claims(issuer: issuer, permissions: []))
            try await app.testing().test(.GET, "connections", headers: Self.bearer(nobody)) { response in
                #expect(response.status == .forbidden)
            }
        }
    }

    @Test func validTokensReachTheHandlerWithTheirClaims() async throws {
        try await withExample { app, issuer, key, gateway in
            let claims = TestTokens.claims(
                issuer: issuer, permissions: ["connections.read", "connections.create"], tenantID: "t7")
            let writer = try key.sign(claims)
            try await app.testing().test(.GET, "whoami", headers: Self.bearer(writer)) { response in
                #expect(response.status == .ok)
                let answered = try JSONDecoder().decode(
                    AccessTokenClaims.self, from: Data(response.body.readableBytesView))
                #expect(answered == claims)
            }
            try await app.testing().test(
                .POST, "connections", headers: Self.bearer(writer),
                beforeRequest: { request in
                    try request.content.encode(["name": "warehouse"], as: .json)
                }
            ) { response in
                #expect(response.status == .created)
                let body =
                    try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: String]
                #expect(body?["name"] == "warehouse" && body?["tenant_id"] == "t7" && body?["created_by"] == "user_1")
            }
            try await app.testing().test(.GET, "connections", headers: Self.bearer(writer)) { response in
                #expect(response.status == .ok)
                #expect(response.body.string.contains("warehouse"))
            }
            // Another workspace's reader sees none of t7's connections.
            let otherTenant = try key.sign(
                TestTokens.claims(issuer: issuer, permissions: ["connections.read"], tenantID: "t8"))
            try await app.testing().test(.GET, "connections", headers: Self.bearer(otherTenant)) { response in
                #expect(response.status == .ok)
                #expect(!response.body.string.contains("warehouse"))
            }
            // One JWKS fetch served every request.
            #expect(gateway.jwksRequests == 1)
        }
    }

    @Test func theClaimsAccessorIsEmptyWithoutTheMiddleware() async throws {
        try await withApp { app in
            app.get("open") { request -> String in
                request.iamClaims == nil ? "none" : "some"
            }
            app.get("wired-wrong") { request -> String in
                try request.requireIAMClaims().sub
            }
            try await app.testing().test(.GET, "open") { response in
                #expect(response.body.string == "none")
            }
            try await app.testing().test(.GET, "wired-wrong") { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
