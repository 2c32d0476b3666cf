import Crypto
import CryptoExtras
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import JWTKit
import Logging
import Testing

struct GatewayPayload: JWTPayload {
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var tenant_id: String
    var workspace_id: String
    var roles: [String]
    var permissions: [String]
    var policy_version: Int
    var sid: String?

    func verify(using algorithm: some JWTAlgorithm) throws {}
}

@Suite struct AuthTests {
    func withGateway(
        _ configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestGateway, any TestClientProtocol) async throws -> Void
    ) async throws {
        let gateway = try await TestGateway.make(configure: configure)
        try await gateway.test(.router) { _, client in try await body(gateway, client) }
    }

    @Test func loginIssuesVerifiableTokensAndMeAnswers() async throws {
        try await withGateway { gateway, client in
            let reply = try await client.login()
            #expect(reply.status == .ok)
            #expect(reply.string("token_type") == "Bearer")
            #expect(reply["expires_in"] as? Int == 300)
            #expect(reply["refresh_expires_in"] as? Int == 2_592_000)
            let refresh = try #require(reply.string("refresh_token"))
            #expect(refresh.hasPrefix("iamr_") && refresh.count > 40)
            let token = try #require(reply.string("access_token"))

            // An independent verifier, from the JWKS as served.
            let jwks = try await client.send(.get, "/.well-known/jwks.json")
            let keys = JWTKeyCollection()
            try await keys.add(jwksJSON: jwks.text)
            let payload = try await keys.verify(token, as: GatewayPayload.self)
            #expect(payload.aud.value == ["iam-gateway"])
            #expect(payload.tenant_id == "platform" && payload.workspace_id == "default")
            #expect(payload.roles == ["platform_admin"])
            #expect(payload.sid?.isEmpty == false)
            #expect(payload.permissions.contains("tenants.manage"))

            let me = try await client.send(.get, "/v1/me", bearer: token)
            #expect(me.status == .ok)
            #expect(me.string("sub") == payload.sub.value)
            #expect(me.string("tenant_id") == "platform")
            #expect(me.string("workspace_id") == "default")
            #expect(me["roles"] as? [String] == ["platform_admin"])
            #expect((me["permissions"] as? [String])?.contains("keys.rotate") == true)
            #expect((me["policy_version"] as? Int ?? 0) >= 1)
        }
    }

    @Test func failedLoginsLookAlike() async throws {
        try await withGateway { gateway, client in
            _ = try await gateway.addUser(
                tenantID: "platform", username: "bob", password: "bob-password", roles: ["viewer"])
            let wrongPassword = try await client.login(username: "bob", password: "not-the-password")
            let unknownUser = try await client.login(username: "nobody", password: "not-the-password")
            let unknownTenant = try await client.login(
                tenant: "no-such-tenant", username: "bob", password: "not-the-password")
            for reply in [wrongPassword, unknownUser, unknownTenant] {
                #expect(reply.status == .unauthorized)
                #expect(reply.headers[.contentType] == "application/problem+json")
                #expect(reply.string("code") == "invalid_credentials")
                #expect(reply.text == wrongPassword.text)
            }
            let events = try await gateway.store.auditEvents(AuditQuery(tenantID: nil, limit: 100))
            // The unknown tenant's failure goes into no tenant's log (a tenant created later must not inherit it).
            #expect(events.filter { $0.action == "login.failure" }.count == 2)
            #expect(events.allSatisfy { $0.tenantID == "platform" })
        }
    }

    @Test func userWithoutRoleInWorkspaceIsForbidden() async throws {
        try await withGateway { gateway, client in
            _ = try await gateway.addUser(
                tenantID: "platform", username: "norole", password: "norole-password", roles: [])
            let reply = try await client.login(username: "norole", password: "norole-password")
            #expect(reply.status == .forbidden)
            #expect(reply.string("code") == "forbidden")
            let otherWorkspace = try await client.login(workspace: "elsewhere")
            #expect(otherWorkspace.status == .forbidden)
        }
    }

    @Test func throttlingLocksOneAccountNotOthers() async throws {
        try await withGateway { gateway, client in
            _ = try await gateway.addUser(
                tenantID: "platform", username: "victim", password: "victim-password", roles: ["viewer"])
            _ = try await gateway.addUser(
                tenantID: "platform", username: "bystander", password: "bystander-password", roles: ["viewer"])
            for _ in 0..<5 {
                #expect(try await client.login(username: "victim", password: "guess-guess").status == .unauthorized)
            }
            let throttled = try await client.login(username: "victim", password: "victim-password")
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.string("code") == "rate_limited")
            #expect(Int(throttled.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try await client.login(username: "bystander", password: "bystander-password").status == .ok)
            // Back-off grows with each further failure and passes with time.
            gateway.clock.advance(by: 2)
            #expect(try await client.login(username: "victim", password: "guess-again").status == .unauthorized)
            let longer = try await client.login(username: "victim", password: "victim-password")
            #expect(longer.status == .tooManyRequests)
            #expect(Int(longer.headers[.retryAfter] ?? "") ?? 0 >= 2)
            gateway.clock.advance(by: 60)
            #expect(try await client.login(username: "victim", password: "victim-password").status == .ok)
        }
    }

    @Test func refreshRotatesAndReuseRevokesTheFamily() async throws {
        try await withGateway { gateway, client in
            let login = try await client.login()
            let first = try #require(login.string("refresh_token"))
            let rotated = try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": first])
            #expect(rotated.status == .ok)
            let second = try #require(rotated.string("refresh_token"))
            let secondAccess = try #require(rotated.string("access_token"))
            #expect(second != first)
            #expect(try await client.send(.get, "/v1/me", bearer: secondAccess).status == .ok)

            // Replaying the spent token revokes the family: the live successor and its access tokens die too.
            let replay = try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": first])
            #expect(replay.status == .unauthorized)
            #expect(replay.string("code") == "invalid_token")
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": second]).status
                    == .unauthorized)
            let me = try await client.send(.get, "/v1/me", bearer: secondAccess)
            #expect(me.status == .unauthorized)
            #expect(me.string("code") == "token_revoked")
            let events = try await gateway.store.auditEvents(AuditQuery(tenantID: "platform", limit: 100))
            #expect(events.contains { $0.action == "refresh.reuse" })

            // Unknown and malformed refresh tokens.
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": "iamr_nope"]).status
                    == .unauthorized)
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": ""]).status == .unauthorized)
        }
    }

    @Test func refreshFamilyHasAnAbsoluteLifetime() async throws {
        try await withGateway({ $0.tokens.refreshTTL = 3600 }) { gateway, client in
            let login = try await client.login()
            var refresh = try #require(login.string("refresh_token"))
            gateway.clock.advance(by: 3000)
            let rotated = try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh])
            #expect(rotated.status == .ok)
            #expect((rotated["refresh_expires_in"] as? Int ?? 0) <= 600)
            refresh = try #require(rotated.string("refresh_token"))
            gateway.clock.advance(by: 601)
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh]).status
                    == .unauthorized)
        }
    }

    @Test func logoutRevokesAccessAndRefresh() async throws {
        try await withGateway { gateway, client in
            let login = try await client.login()
            let token = try #require(login.string("access_token"))
            let other = try await client.token()
            let logout = try await client.send(.post, "/v1/auth/logout", bearer: token)
            #expect(logout.status == .noContent)
            let me = try await client.send(.get, "/v1/me", bearer: token)
            #expect(me.status == .unauthorized)
            #expect(me.string("code") == "token_revoked")
            #expect(me.headers[.wwwAuthenticate] == #"Bearer realm="iam-gateway", error="invalid_token""#)
            let refresh = try #require(login.string("refresh_token"))
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh]).status
                    == .unauthorized)
            // Another session of the same user is untouched.
            #expect(try await client.send(.get, "/v1/me", bearer: other).status == .ok)
            #expect(try await client.send(.post, "/v1/auth/logout").status == .unauthorized)
        }
    }

    @Test func restartKeepsUsersSessionsAndRevocations() async throws {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "iam-gateway-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock(Date())
        let first = try await TestGateway.make(directory: directory, clock: clock)
        let (refresh, revoked, userID): (String, String, String) = try await first.application().test(.router) {
            client in
            let admin = try await client.token()
            let created = try await client.send(
                .post, "/v1/users", json: ["username": "carol", "password": "carol-password"], bearer: admin)
            #expect(created.status == .created)
            let userID = try #require(created.string("user_id"))
            try await first.store.createAssignment(
                Assignment(
                    assignmentID: "as-carol", tenantID: "platform", workspaceID: "default", principalID: userID,
                    roleID: "viewer", createdAt: clock.now()))
            let login = try await client.login(username: "carol", password: "carol-password")
            let gone = try await client.token(username: "carol", password: "carol-password")
            #expect(try await client.send(.post, "/v1/auth/logout", bearer: gone).status == .noContent)
            let refresh = try #require(login.string("refresh_token"))
            return (refresh, gone, userID)
        }
        try await first.store.close()

        let second = try await TestGateway.make(directory: directory, clock: clock)
        defer { Task { try? await second.store.close() } }
        try await second.application().test(.router) { client in
            #expect(try await client.login(username: "carol", password: "carol-password").status == .ok)
            let rotated = try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh])
            #expect(rotated.status == .ok)
            let access = try #require(rotated.string("access_token"))
            let me = try await client.send(.get, "/v1/me", bearer: access)
            #expect(me.string("sub") == userID)
            #expect(try await client.send(.get, "/v1/me", bearer: revoked).string("code") == "token_revoked")
        }
    }

    @Test func forgedAndMisdirectedTokensAreRejected() async throws {
        try await withGateway { gateway, client in
            let token = try await client.token()
            let parts = token.split(separator: ".").map(String.init)
            let header = try #require(Base64URL.decode(parts[0]))
            let kid =
                try #require(try JSONSerialization.jsonObject(with: header) as? [String: Any])["kid"] as? String ?? ""
            func encode(_ object: [String: Any]) throws -> String {
                Base64URL.encode(try JSONSerialization.data(withJSONObject: object))
            }

            let none = try encode(["alg": "none", "typ": "at+jwt", "kid": kid]) + "." + parts[1] + "."
            let hsInput = try encode(["alg": "HS256", "typ": "at+jwt", "kid": kid]) + "." + parts[1]
            let publicPEM = gateway.keyRing.snapshot.active.privateKey.publicKey.pemRepresentation
            let hs256 =
                hsInput + "."
                + Base64URL.encode(
                    Data(
                        HMAC<SHA256>.authenticationCode(
                            for: Data(hsInput.utf8), using: SymmetricKey(data: Data(publicPEM.utf8)))))
            let foreign = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let foreignSigned =
                parts[0] + "." + parts[1] + "."
                + Base64URL.encode(
                    try foreign.signature(for: Data((parts[0] + "." + parts[1]).utf8), padding: .insecurePKCS1v1_5)
                        .rawRepresentation)
            let unknownHeader = try encode(["alg": "RS256", "typ": "at+jwt", "kid": "unknown-kid"])
            let unknownKid =
                unknownHeader + "." + parts[1] + "."
                + Base64URL.encode(
                    try foreign.signature(for: Data((unknownHeader + "." + parts[1]).utf8), padding: .insecurePKCS1v1_5)
                        .rawRepresentation)
            let claimsData = try #require(Base64URL.decode(parts[1]))
            var claims = try #require(try JSONSerialization.jsonObject(with: claimsData) as? [String: Any])
            claims["tenant_id"] = "other"
            let tampered = parts[0] + "." + (try encode(claims)) + "." + parts[2]
            let exchanged = try await client.send(
                .post, "/v1/auth/token", json: ["audience": "integrations"], bearer: token)
            let downstream = try #require(exchanged.string("access_token"))

            for (name, forged) in [
                ("none", none), ("hs256", hs256), ("foreign key", foreignSigned), ("unknown kid", unknownKid),
                ("tampered", tampered), ("downstream aud", downstream), ("garbage", "not.a.token"), ("empty", ""),
            ] {
                let reply = try await client.send(.get, "/v1/me", headers: [.authorization: "Bearer \(forged)"])
                #expect(reply.status == .unauthorized, "\(name)")
                #expect(reply.string("code") == "invalid_token", "\(name)")
                #expect(!reply.text.contains(forged.prefix(20)) || forged.isEmpty, "\(name): the token is not echoed")
            }
            // Validly signed by the gateway's own active key, with hostile shapes (SPEC 6): `exp` near Int64.max (it
            // trapped at `exp + leeway`), beyond 2^53, and a `crit` header. 401 at the API and at the proxy, and the
            // process keeps serving.
            let active = gateway.keyRing.snapshot.active
            func signed(header: [String: Any], claims: [String: Any]) throws -> String {
                let input = try encode(header) + "." + (try encode(claims))
                return input + "." + Base64URL.encode(Data(try active.sign(Array(input.utf8))))
            }
            let goodHeader: [String: Any] = ["alg": "RS256", "typ": "at+jwt", "kid": active.kid]
            let original = try #require(try JSONSerialization.jsonObject(with: claimsData) as? [String: Any])
            var hostile: [(String, String)] = []
            for (field, value) in [
                ("exp", Int64.max), ("exp", Int64.max - 10), ("exp", (1 << 53) + 1), ("nbf", Int64.min), ("iat", -5),
            ] as [(String, Int64)] {
                var changed = original
                changed[field] = value
                hostile.append(("\(field)=\(value)", try signed(header: goodHeader, claims: changed)))
            }
            var critHeader = goodHeader
            critHeader["crit"] = ["exp"]
            hostile.append(("crit", try signed(header: critHeader, claims: original)))
            #expect(
                try await client.send(.get, "/v1/me", bearer: try signed(header: goodHeader, claims: original)).status
                    == .ok, "the control verifies")
            for (name, forged) in hostile {
                #expect(try await client.send(.get, "/v1/me", bearer: forged).status == .unauthorized, "\(name)")
                #expect(
                    try await client.send(.get, "/api/integrations/x", bearer: forged).status == .unauthorized,
                    "\(name) at the proxy")
            }
            #expect(try await client.send(.get, "/v1/health").status == .ok)
            // Expired: move the clock past exp + leeway.
            gateway.clock.advance(by: 300 + 31)
            #expect(try await client.send(.get, "/v1/me", bearer: token).string("code") == "invalid_token")
            // Garbage authorization schemes.
            for value in ["Basic YWRtaW46YWRtaW4=", "Bearer", "bearer ", "ApiKey nope", "\u{1}"] {
                let reply = try await client.send(.get, "/v1/me", headers: [.authorization: value])
                #expect(reply.status == .unauthorized || reply.status == .badRequest, "\(value)")
                #expect(reply.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test func tokenExchangeMintsForKnownAudiencesOnly() async throws {
        try await withGateway { gateway, client in
            let token = try await client.token()
            let reply = try await client.send(.post, "/v1/auth/token", json: ["audience": "connections"], bearer: token)
            #expect(reply.status == .ok)
            #expect(reply["expires_in"] as? Int == 120)
            let keys = JWTKeyCollection()
            try await keys.add(jwksJSON: try await client.send(.get, "/.well-known/jwks.json").text)
            let exchanged = try #require(reply.string("access_token"))
            let payload = try await keys.verify(exchanged, as: GatewayPayload.self)
            #expect(payload.aud.value == ["connections"])
            #expect(payload.sid == nil)
            // Only the permissions the connections service owns, as it registered some (the seed does).
            #expect(
                Set(payload.permissions) == [
                    "connections.read", "connections.create", "connections.update", "connections.delete",
                ])
            let unknown = try await client.send(.post, "/v1/auth/token", json: ["audience": "billing"], bearer: token)
            #expect(unknown.status == .badRequest)
            #expect(unknown.string("code") == "invalid_request")
            #expect(
                try await client.send(.post, "/v1/auth/token", json: ["audience": "connections"]).status
                    == .unauthorized)
        }
    }

    @Test func sessionCookieIsHardenedAndAccepted() async throws {
        try await withGateway { gateway, client in
            let reply = try await client.login(cookie: true)
            let cookie = try #require(reply.headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-iam-session="))
            for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
                #expect(cookie.contains(attribute))
            }
            let value = String(cookie.split(separator: ";")[0])
            #expect(try await client.send(.get, "/v1/me", headers: [.cookie: value]).status == .ok)
            #expect(
                try await client.send(.get, "/v1/me", headers: [.cookie: "__Host-iam-session=forged"]).status
                    == .unauthorized)
            #expect(try await client.login().headers[.setCookie] == nil)
        }
    }

    @Test func apiKeysAuthenticateAndAreShownOnce() async throws {
        try await withGateway { gateway, client in
            let admin = try await client.token()
            let created = try await client.send(
                .post, "/v1/api-keys", json: ["name": "ci", "workspace_id": "default"], bearer: admin)
            #expect(created.status == .created)
            let keyID = try #require(created.string("key_id"))
            let secret = try #require(created.string("api_key"))
            #expect(secret.hasPrefix("iamk_\(keyID)_"))
            for headers: HTTPFields in [[.authorization: "ApiKey \(secret)"], [HTTPField.Name("X-API-Key")!: secret]] {
                let me = try await client.send(.get, "/v1/me", headers: headers)
                #expect(me.status == .ok)
                #expect(me.string("sub") == keyID)
                #expect(me["roles"] as? [String] == [])
            }
            let listed = try await client.send(.get, "/v1/api-keys", bearer: admin)
            #expect(listed.status == .ok)
            #expect(!listed.text.contains(String(secret.suffix(20))))
            #expect(listed.text.contains(keyID))
            let stored = try #require(try await gateway.store.apiKey(keyID: keyID))
            #expect(!stored.secretHash.contains(String(secret.suffix(20))))
            // A wrong secret for a real id, then deletion.
            #expect(
                try await client.send(.get, "/v1/me", headers: [.authorization: "ApiKey iamk_\(keyID)_wrong"]).status
                    == .unauthorized)
            #expect(try await client.send(.delete, "/v1/api-keys/\(keyID)", bearer: admin).status == .noContent)
            #expect(
                try await client.send(.get, "/v1/me", headers: [.authorization: "ApiKey \(secret)"]).status
                    == .unauthorized)
            #expect(try await client.send(.delete, "/v1/api-keys/\(keyID)", bearer: admin).status == .notFound)
        }
    }

    @Test func apiKeyExpires() async throws {
        try await withGateway { gateway, client in
            let admin = try await client.token()
            let created = try await client.send(
                .post, "/v1/api-keys", json: ["name": "short", "workspace_id": "default", "expires_in": 60],
                bearer: admin)
            let secret = try #require(created.string("api_key"))
            #expect(try await client.send(.get, "/v1/me", headers: [.authorization: "ApiKey \(secret)"]).status == .ok)
            gateway.clock.advance(by: 61)
            #expect(
                try await client.send(.get, "/v1/me", headers: [.authorization: "ApiKey \(secret)"]).status
                    == .unauthorized)
            #expect(
                try await client.send(
                    .post, "/v1/api-keys", json: ["name": "x", "workspace_id": "nope"], bearer: try await client.token()
                ).status == .badRequest)
        }
    }

    @Test func userManagementAndDeletionRevokesSessions() async throws {
        try await withGateway { gateway, client in
            let admin = try await client.token()
            let short = try await client.send(
                .post, "/v1/users", json: ["username": "dave", "password": "short"], bearer: admin)
            #expect(short.status == .badRequest)
            let empty = try await client.send(
                .post, "/v1/users", json: ["username": "dave", "password": ""], bearer: admin)
            #expect(empty.status == .badRequest)
            let badID = try await client.send(
                .post, "/v1/users", json: ["username": "dave", "password": "dave-password", "user_id": "Not Valid"],
                bearer: admin)
            #expect(badID.status == .badRequest)
            let long = String(repeating: "x", count: 100) + "-" + String(repeating: "y", count: 100)
            let created = try await client.send(
                .post, "/v1/users", json: ["username": "dave", "password": long, "user_id": "dave"], bearer: admin)
            #expect(created.status == .created)
            #expect(created.string("user_id") == "dave")
            #expect(
                try await client.send(
                    .post, "/v1/users", json: ["username": "dave", "password": "dave-password"], bearer: admin
                ).status == .conflict)
            try await gateway.store.createAssignment(
                Assignment(
                    assignmentID: "as-dave", tenantID: "platform", workspaceID: "default", principalID: "dave",
                    roleID: "viewer", createdAt: gateway.clock.now()))
            // A password longer than bcrypt's 72 bytes is not truncated: a different suffix fails.
            #expect(
                try await client.login(username: "dave", password: String(long.prefix(150)) + "z").status
                    == .unauthorized)
            let dave = try await client.token(username: "dave", password: long)
            let listed = try await client.send(.get, "/v1/users", bearer: admin)
            #expect(listed.text.contains("dave"))
            #expect(!listed.text.contains("scrypt"))
            // Viewer may not manage users.
            #expect(try await client.send(.get, "/v1/users", bearer: dave).status == .forbidden)
            let changed = try await client.send(
                .put, "/v1/users/dave/password", json: ["password": "new-dave-password"], bearer: admin)
            #expect(changed.status == .noContent)
            #expect(try await client.login(username: "dave", password: "new-dave-password").status == .ok)
            #expect(try await client.send(.delete, "/v1/users/dave", bearer: admin).status == .noContent)
            #expect(try await client.send(.get, "/v1/me", bearer: dave).string("code") == "token_revoked")
            #expect(try await client.send(.delete, "/v1/users/dave", bearer: admin).status == .notFound)
            #expect(
                try await client.send(
                    .put, "/v1/users/ghost/password", json: ["password": "whatever-pass"], bearer: admin
                ).status == .notFound)
        }
    }

    @Test func badBodiesGiveProblemJSON() async throws {
        try await withGateway { gateway, client in
            let cases: [(String?, [String: Any]?, String)] = [
                ("{not json", nil, "malformed"),
                (nil, ["tenant_id": 5, "workspace_id": "default", "username": "a", "password": "b"], "wrong type"),
                (nil, ["tenant_id": "platform"], "missing fields"),
                (
                    nil,
                    ["tenant_id": "Bad Tenant", "workspace_id": "default", "username": "a", "password": "bbbbbbbb"],
                    "bad id"
                ),
                (
                    nil, ["tenant_id": "platform", "workspace_id": "default", "username": "admin", "password": ""],
                    "empty password"
                ),
                ("", nil, "empty body"),
                ("[]", nil, "array"),
            ]
            for (raw, json, name) in cases {
                let reply = try await client.send(.post, "/v1/auth/login", json: json, raw: raw)
                #expect(reply.status == .badRequest, "\(name)")
                #expect(reply.string("code") == "invalid_request", "\(name)")
                #expect(reply.headers[.contentType] == "application/problem+json", "\(name)")
            }
            #expect(
                try await client.send(.post, "/v1/auth/login", raw: "[]").string("detail")
                    == "The request body must be a JSON object.")
            #expect(
                try await client.send(
                    .post, "/v1/auth/login",
                    json: ["tenant_id": 5, "workspace_id": "default", "username": "a", "password": "b"]
                ).string("detail") == "The field tenant_id has the wrong type.")
            let huge = String(repeating: "a", count: 1024 * 1024 + 10)
            let tooLarge = try await client.send(.post, "/v1/auth/login", raw: #"{"tenant_id":"\#(huge)"}"#)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.string("code") == "payload_too_large")
            // The process keeps serving.
            #expect(try await client.login().status == .ok)
        }
    }

    @Test func throttleUnitIsolatesAddressesAndAccounts() throws {
        let clock = ManualClock()
        let throttle = LoginThrottle(clock: clock)
        func fail(_ account: String, _ address: String) throws {
            throttle.release(try throttle.reserve(account: account, address: address).get(), succeeded: false)
        }
        func blocked(_ account: String, _ address: String) -> Bool {
            guard case .success(let reservation) = throttle.reserve(account: account, address: address) else {
                return true
            }
            throttle.release(reservation, succeeded: true)
            return false
        }
        for _ in 0..<5 { try fail("t|a", "10.0.0.1") }
        #expect(blocked("t|a", "10.0.0.1"))
        #expect(!blocked("t|a", "10.0.0.2"))
        #expect(!blocked("t|b", "10.0.0.1"))
        for index in 0..<50 { try fail("t|c", "10.1.0.\(index)") }
        #expect(blocked("t|c", "10.9.9.9"), "distributed guessing locks the account")
        clock.advance(by: 1000)
        #expect(!blocked("t|c", "10.9.9.9"))
    }

    @Test func throttleCountsChecksInFlight() throws {
        let throttle = LoginThrottle(clock: ManualClock())
        var granted: [LoginThrottle.Reservation] = []
        var refused: [Int] = []
        for _ in 0..<200 {
            switch throttle.reserve(account: "t|a", address: "10.0.0.1") {
            case .success(let reservation): granted.append(reservation)
            case .failure(let wait): refused.append(wait.seconds)
            }
        }
        #expect(granted.count == 5, "only five checks may run before any has failed")
        #expect(refused.count == 195 && refused.allSatisfy { $0 >= 1 })
        for reservation in granted { throttle.release(reservation, succeeded: false) }
        guard case .failure = throttle.reserve(account: "t|a", address: "10.0.0.1") else {
            Issue.record("five failures lock the account for this address")
            return
        }
        // A success frees the account+address key only.
        let other = try throttle.reserve(account: "t|b", address: "10.0.0.1").get()
        throttle.release(other, succeeded: true)
        #expect((try? throttle.reserve(account: "t|b", address: "10.0.0.1").get()) != nil)
    }
}
