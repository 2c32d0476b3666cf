import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import Testing

@Suite struct AuthenticatorTests {
    let key: TestSigningKey
    let clock = TestClock()
    let authenticator: GatewayTokenAuthenticator

    init() throws {
        key = try TestSigningKey(kid: "k1")
        let clock = clock
        authenticator = GatewayTokenAuthenticator(
            issuer: TestTokens.issuer, audience: TestTokens.audience, leeway: 30, keys: StaticKeys([key]),
            policyVersions: PolicyVersionCache(), clock: { clock.now() }
        )
    }

    func refusal(_ header: String?) async -> VerificationError? {
        do {
            _ = try await authenticator.authenticate(authorizationHeader: header)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsTheBearerHeader() async throws {
        let token = try key.sign(TestTokens.claims(now: clock.now()))
        for header in ["Bearer \(token)", "bearer \(token)", "BEARER  \(token) "] {
            #expect(await refusal(header) == nil, "\(header.prefix(10))")
        }
        #expect(await refusal(nil) == .missingToken)
        #expect(await refusal("") == .missingToken)
        #expect(await refusal("Bearer") == .missingToken)
        #expect(await refusal("Bearer   ") == .missingToken)
        #expect(await refusal("Basic dXNlcjpwYXNz") == .missingToken)
        #expect(await refusal("ApiKey \(token)") == .missingToken)
        #expect(await refusal("Bearer \(token) \(token)") == .malformed)
        #expect(await refusal("Bearer not.a.token") == .malformed)
        #expect(VerificationError.missingToken.bearerTokenPresented == false)
        #expect(VerificationError.malformed.bearerTokenPresented)
    }

    @Test func namesTheFailedCheck() async throws {
        let now = clock.now()
        #expect(
            await refusal("Bearer \(try key.sign(TestTokens.claims(now: now, audience: "other-service")))")
                == .audienceMismatch)
        #expect(
            await refusal("Bearer \(try key.sign(TestTokens.claims(now: now.addingTimeInterval(-400))))") == .expired)
        #expect(
            await refusal("Bearer \(try key.sign(TestTokens.claims(now: now.addingTimeInterval(120))))") == .notYetValid
        )
        // Within the leeway.
        #expect(await refusal("Bearer \(try key.sign(TestTokens.claims(now: now.addingTimeInterval(20))))") == nil)

        let token = try key.sign(TestTokens.claims(now: now))
        let parts = token.split(separator: ".").map(String.init)
        let forgedClaims = Base64URL.encode(
            try JSONEncoder().encode(TestTokens.claims(now: now, permissions: ["everything"])))
        #expect(await refusal("Bearer \(parts[0]).\(forgedClaims).\(parts[2])") == .badSignature)
        let none = Base64URL.encode(Data(#"{"alg":"none","kid":"k1","typ":"at+jwt"}"#.utf8))
        #expect(await refusal("Bearer \(none).\(parts[1]).\(parts[2])") == .unsupportedAlgorithm)
        let hs256 = Base64URL.encode(Data(#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#.utf8))
        #expect(await refusal("Bearer \(hs256).\(parts[1]).\(parts[2])") == .unsupportedAlgorithm)
        let jwt = try key.sign(TestTokens.claims(now: now), header: ["alg": "RS256", "kid": "k1", "typ": "JWT"])
        #expect(await refusal("Bearer \(jwt)") == .invalidType)
        let noKid = try key.sign(TestTokens.claims(now: now), header: ["alg": "RS256", "typ": "at+jwt"])
        #expect(await refusal("Bearer \(noKid)") == .missingKeyID)
    }

    @Test func aHugeTokenIsRefusedWithoutCrashing() async throws {
        let huge = String(repeating: "a", count: 100 * 1024)
        #expect(await refusal("Bearer \(huge)") == .tooLarge)
        #expect(await refusal("Bearer \(huge).\(huge).\(huge)") == .tooLarge)
        #expect(await refusal(huge) == .missingToken)
        let decision = await authenticator.requirePermission("connections.read", authorizationHeader: "Bearer \(huge)")
        #expect(decision == .unauthorized(.tooLarge))
    }

    @Test func decidesOnPermissions() async throws {
        let claims = TestTokens.claims(now: clock.now(), permissions: ["connections.read"])
        let header = "Bearer \(try key.sign(claims))"
        #expect(
            await authenticator.requirePermission("connections.read", authorizationHeader: header) == .allowed(claims))
        #expect(
            await authenticator.requirePermission("connections.create", authorizationHeader: header)
                == .forbidden(claims))
        #expect(
            await authenticator.authorize(authorizationHeader: header, requirement: .authenticated).claims == claims)
        #expect(
            await authenticator.requirePermission("connections.read", authorizationHeader: nil)
                == .unauthorized(.missingToken))
    }

    @Test func requirementsCompose() {
        let claims = TestTokens.claims(permissions: ["a", "b"])
        #expect(PermissionRequirement.authenticated.isSatisfied(by: claims))
        #expect(PermissionRequirement.permission("a").isSatisfied(by: claims))
        #expect(!PermissionRequirement.permission("c").isSatisfied(by: claims))
        #expect(PermissionRequirement.allOf([.permission("a"), .permission("b")]).isSatisfied(by: claims))
        #expect(!PermissionRequirement.allOf([.permission("a"), .permission("c")]).isSatisfied(by: claims))
        #expect(PermissionRequirement.anyOf([.permission("c"), .permission("b")]).isSatisfied(by: claims))
        #expect(!PermissionRequirement.anyOf([]).isSatisfied(by: claims))
        #expect(
            PermissionRequirement.allOf([.permission("a"), .anyOf([.permission("x"), .permission("b")])]).description
                == "allOf(a, anyOf(x, b))")
    }
}
