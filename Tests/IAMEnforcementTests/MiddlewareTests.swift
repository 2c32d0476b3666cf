import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import IAMEnforcementHummingbird
import IAMEnforcementTesting
import NIOCore
import Testing

@Suite struct MiddlewareTests {
    struct Problem: Decodable, Equatable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
    }

    static func application(_ authenticator: GatewayTokenAuthenticator) -> some ApplicationProtocol {
        let router = Router(context: BasicIAMRequestContext.self)
        router.group("whoami")
            .add(middleware: authenticator.requireAuthentication())
            .get { _, context in context.iamClaims?.sub ?? "nobody" }
        router.group("connections")
            .add(middleware: authenticator.requirePermission("connections.create"))
            .post { _, context in
                EditedResponse(status: .created, response: context.iamClaims?.tenantID ?? "none")
            }
        return Application(router: router)
    }

    static func problem(_ response: TestResponse) throws -> Problem {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try JSONDecoder().decode(Problem.self, from: Data(response.body.readableBytesView))
    }

    @Test func answers401Then403Then200() async throws {
        let key = try TestSigningKey(kid: "k1")
        let authenticator = GatewayTokenAuthenticator(
            issuer: TestTokens.issuer, audience: TestTokens.audience, keys: StaticKeys([key]),
            policyVersions: PolicyVersionCache()
        )
        let reader = try key.sign(TestTokens.claims(permissions: ["connections.read"], policyVersion: 2))
        let writer = try key.sign(
            TestTokens.claims(permissions: ["connections.read", "connections.create"], policyVersion: 2))
        let stale = try key.sign(TestTokens.claims(permissions: ["connections.create"], policyVersion: 1))
        let tampered = String(writer.dropLast(4)) + "AAAA"

        try await Self.application(authenticator).test(.router) { client in
            // No token: 401 without an error attribute (RFC 6750 section 3.1).
            try await client.execute(uri: "/whoami", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="iam-gateway""#)
                let problem = try Self.problem(response)
                #expect(
                    problem
                        == Problem(
                            type: "urn:iam-gateway:problem:invalid_token", title: "Invalid token", status: 401,
                            detail: "This request needs a bearer token.", code: "invalid_token"
                        ))
            }
            // A bad token: 401 invalid_token; the detail says nothing of the token or the check.
            try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(tampered)"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="iam-gateway", error="invalid_token""#)
                let problem = try Self.problem(response)
                #expect(problem.code == "invalid_token")
                #expect(
                    !problem.detail.contains(tampered.prefix(20)) && !problem.detail.lowercased().contains("signature"))
            }
            // Valid tokens.
            try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(reader)"]) {
                response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "user_1")
            }
            try await client.execute(uri: "/connections", method: .post, headers: [.authorization: "Bearer \(reader)"])
            { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.wwwAuthenticate] == nil)
                let problem = try Self.problem(response)
                #expect(
                    problem.code == "forbidden" && problem.status == 403
                        && problem.type == "urn:iam-gateway:problem:forbidden")
            }
            try await client.execute(uri: "/connections", method: .post, headers: [.authorization: "Bearer \(writer)"])
            { response in
                #expect(response.status == .created)
                #expect(String(buffer: response.body) == "t1")
            }
            // Version 2 has been seen for t1/w1, so a version-1 token is stale.
            try await client.execute(uri: "/connections", method: .post, headers: [.authorization: "Bearer \(stale)"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="iam-gateway", error="invalid_token""#)
                let problem = try Self.problem(response)
                #expect(problem.code == "stale_policy" && problem.type == "urn:iam-gateway:problem:stale_policy")
            }
            // A 100 KB token.
            let huge = String(repeating: "x", count: 100 * 1024)
            try await client.execute(uri: "/connections", method: .post, headers: [.authorization: "Bearer \(huge)"]) {
                response in
                #expect(response.status == .unauthorized)
                let problem = try Self.problem(response)
                #expect(problem.code == "invalid_token")
            }
        }
    }

    @Test func aGarbageJWKSGives401ForTheUnknownKeyAndKeepsTheOldOne() async throws {
        let gateway = FakeGateway()
        let active = try TestSigningKey(kid: "active")
        let rogue = try TestSigningKey(kid: "rogue")
        try gateway.publish([active])
        let clock = TestClock()
        try await gateway.run { baseURL in
            let cache = JWKSCache(configuration: .init(url: baseURL + "/.well-known/jwks.json"), clock: { clock.now() })
            let authenticator = GatewayTokenAuthenticator(
                issuer: TestTokens.issuer, audience: TestTokens.audience, keys: cache, policyVersions: nil,
                clock: { clock.now() }
            )
            let good = try active.sign(TestTokens.claims(now: clock.now()))
            let unknown = try rogue.sign(TestTokens.claims(now: clock.now()))
            try await Self.application(authenticator).test(.router) { client in
                try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(good)"]) {
                    response in
                    #expect(response.status == .ok)
                }
                gateway.setJWKSMode(.garbage)
                clock.advance(seconds: 11)
                try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(unknown)"]) {
                    response in
                    #expect(response.status == .unauthorized)
                    let problem = try Self.problem(response)
                    #expect(problem.code == "invalid_token")
                }
                try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(good)"]) {
                    response in
                    #expect(response.status == .ok)
                }
            }
            #expect(gateway.jwksRequests == 2)
        }
    }
}
