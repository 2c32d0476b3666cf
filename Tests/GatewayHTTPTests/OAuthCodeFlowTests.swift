import Crypto
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import Testing

@testable import GatewayHTTP

/// The authorization code flow with PKCE (SPEC 5.1): the sign-in page as a browser meets it, the token endpoint,
/// and every refusal an attacker would try.
@Suite struct OAuthCodeFlowTests {
    static let redirect = "https://app.example/cb"
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static var challenge: String { Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))) }

    struct Flow {
        var client: any TestClientProtocol
        var tenants: TwoTenants
        var clientID: String

        static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

        static func encode(_ parameters: [(String, String)]) -> String {
            parameters.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)" }
                .joined(separator: "&")
        }

        var redirect = OAuthCodeFlowTests.redirect

        func authorizeQuery(
            state: String = "st-1", scope: String = "openid profile", extra: [(String, String)] = [], pkce: Bool = true,
            client: String? = nil,
            redirect: String? = nil, responseType: String = "code"
        ) -> String {
            let redirect = redirect ?? self.redirect
            var parameters = [
                ("response_type", responseType), ("client_id", client ?? clientID), ("redirect_uri", redirect),
                ("state", state), ("scope", scope),
                ("nonce", "n-0S6_WzA2Mj"),
            ]
            if pkce {
                parameters += [("code_challenge", OAuthCodeFlowTests.challenge), ("code_challenge_method", "S256")]
            }
            return Self.encode(parameters + extra)
        }

        /// GET the page; returns the reply, the CSRF cookie and the form's token.
        func page(_ query: String) async throws -> (reply: JSONReply, cookie: String?, csrf: String?) {
            let reply = try await client.send(.get, "/oauth/authorize?" + query)
            let cookie = reply.headers[.setCookie].map { String($0.split(separator: ";")[0]) }
            let csrf = reply.text.range(of: #"name="csrf_token" value="([^"]+)""#, options: .regularExpression).map {
                match in
                String(reply.text[match].split(separator: "\"")[3])
            }
            return (reply, cookie, csrf)
        }

        /// Signs in through the page; returns the final reply (a 302 on success).
        func signIn(
            query: String? = nil, tenant: String = "acme", username: String = "acme-admin",
            password: String = "acme-password",
            csrf override: String? = nil, cookie overrideCookie: String? = nil
        ) async throws -> JSONReply {
            let query = query ?? authorizeQuery()
            let (_, cookie, csrf) = try await page(query)
            var headers = Self.form
            if let cookie = overrideCookie ?? cookie { headers[.cookie] = cookie }
            var fields = (URLComponents(string: "/?" + query)?.queryItems ?? []).map { ($0.name, $0.value ?? "") }
            fields += [
                ("tenant_id", tenant), ("workspace_id", "default"), ("username", username), ("password", password),
            ]
            if let token = override ?? csrf { fields.append(("csrf_token", token)) }
            return try await client.send(.post, "/oauth/authorize", raw: Self.encode(fields), headers: headers)
        }

        static func parameters(of location: String?) -> [String: String] {
            Dictionary(
                (URLComponents(string: location ?? "")?.queryItems ?? []).map { ($0.name, $0.value ?? "") },
                uniquingKeysWith: { a, _ in a })
        }

        func redeem(
            _ code: String, verifier: String = OAuthCodeFlowTests.verifier, redirect: String? = nil,
            clientID: String? = nil
        ) async throws -> JSONReply {
            try await client.send(
                .post, "/oauth/token",
                raw: Self.encode([
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect ?? self.redirect),
                    ("client_id", clientID ?? self.clientID),
                    ("code_verifier", verifier),
                ]), headers: Self.form)
        }
    }

    func withFlow(_ body: @Sendable (Flow) async throws -> Void) async throws {
        let gateway = try await TestGateway.make { $0.issuer = "https://gateway.example" }
        try await gateway.test(.router) { _, client in
            let tenants = try await TwoTenants.make(client)
            let created = try await client.send(
                .post, "/v1/clients",
                json: [
                    "name": "Acme Web", "type": "public", "workspace_id": "default",
                    "grant_types": ["authorization_code"], "redirect_uris": [Self.redirect],
                ], bearer: tenants.acmeAdmin)
            guard created.status == .created, let id = created.string("client_id") else {
                throw TestFailure("client: \(created.text)")
            }
            #expect((created["grant_types"] as? [String]) == ["authorization_code", "refresh_token"])
            try await body(Flow(client: client, tenants: tenants, clientID: id))
        }
    }

    @Test func signInThroughThePageGivesACodeWhoseTokensBelongToTheClient() async throws {
        try await withFlow { flow in
            let (page, cookie, csrf) = try await flow.page(flow.authorizeQuery())
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            let csp = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(
                csp.contains("default-src 'none'") && !csp.contains("unsafe-inline")
                    && csp.contains("form-action 'self' https://app.example"))
            #expect(page.text.contains("Acme Web"), "the page names the client")
            for label in [
                "<label for=\"tenant_id\">Tenant</label>", "<label for=\"workspace_id\">Workspace</label>",
                "<label for=\"username\">Username</label>",
                "<label for=\"password\">Password</label>", ">Sign in</button>",
            ] {
                #expect(page.text.contains(label), "\(label)")
            }
            #expect(!page.text.contains("<script"), "no script at all")
            #expect(cookie?.hasPrefix("iam-csrf=") == true && csrf != nil)

            let signedIn = try await flow.signIn()
            #expect(signedIn.status == .found, "\(signedIn.text)")
            let location = try #require(signedIn.headers[.location])
            #expect(location.hasPrefix(Self.redirect + "?"))
            let returned = Flow.parameters(of: location)
            #expect(returned["state"] == "st-1" && returned["iss"] == "https://gateway.example", "RFC 9207 iss")
            let code = try #require(returned["code"])

            let tokens = try await flow.redeem(code)
            #expect(tokens.status == .ok, "\(tokens.text)")
            #expect(tokens.headers[.cacheControl] == "no-store")
            let access = try #require(tokens.string("access_token"))
            let claims = try OAuthTests.claims(access)
            #expect(
                claims["client_id"] as? String == flow.clientID && claims["sub"] as? String == "acme-admin"
                    && claims["sid"] != nil)
            #expect(tokens.string("scope") == "openid profile")
            #expect(claims["scope"] as? String == "openid profile", "RFC 9068 scope claim")
            let idToken = try OAuthTests.claims(try #require(tokens.string("id_token")))
            #expect(idToken["aud"] as? String == flow.clientID && idToken["sub"] as? String == "acme:acme-admin")
            #expect(
                idToken["nonce"] as? String == "n-0S6_WzA2Mj" && idToken["sid"] as? String == claims["sid"] as? String)
            let atHash = Base64URL.encode(Array(Array(SHA256.hash(data: Array(access.utf8))).prefix(16)))
            #expect(idToken["at_hash"] as? String == atHash)
            #expect(try await flow.client.send(.get, "/v1/me", bearer: access).status == .ok)

            // The refresh token rotates for this client only.
            let refresh = try #require(tokens.string("refresh_token"))
            let rotated = try await flow.client.send(
                .post, "/oauth/token",
                raw: Flow.encode([
                    ("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", flow.clientID),
                ]), headers: Flow.form)
            #expect(rotated.status == .ok, "\(rotated.text)")
            let next = try #require(rotated.string("refresh_token"))
            #expect(
                try OAuthTests.claims(try #require(rotated.string("access_token")))["client_id"] as? String
                    == flow.clientID)
            // ... not through the first-party endpoint: that revokes the family.
            let firstParty = try await flow.client.send(.post, "/v1/auth/refresh", json: ["refresh_token": next])
            #expect(firstParty.status == .unauthorized)
            let afterMisuse = try await flow.client.send(
                .post, "/oauth/token",
                raw: Flow.encode([
                    ("grant_type", "refresh_token"), ("refresh_token", next), ("client_id", flow.clientID),
                ]), headers: Flow.form)
            #expect(afterMisuse.string("error") == "invalid_grant", "the family is gone")
        }
    }

    @Test func aReusedCodeRevokesWhatItIssued() async throws {
        try await withFlow { flow in
            let code = try #require(Flow.parameters(of: try await flow.signIn().headers[.location])["code"])
            let first = try await flow.redeem(code)
            let access = try #require(first.string("access_token"))
            #expect(try await flow.client.send(.get, "/v1/me", bearer: access).status == .ok)
            let again = try await flow.redeem(code)
            #expect(again.status == .badRequest && again.string("error") == "invalid_grant")
            #expect(
                try await flow.client.send(.get, "/v1/me", bearer: access).status == .unauthorized,
                "the first redemption's tokens are revoked")
            let refresh = try await flow.client.send(
                .post, "/oauth/token",
                raw: Flow.encode([
                    ("grant_type", "refresh_token"), ("refresh_token", first.string("refresh_token") ?? ""),
                    ("client_id", flow.clientID),
                ]), headers: Flow.form)
            #expect(refresh.string("error") == "invalid_grant")
        }
    }

    @Test func codeRedemptionRefusesAWrongVerifierRedirectOrClient() async throws {
        try await withFlow { flow in
            for name in ["wrong verifier", "no verifier", "other redirect"] {
                let code = try #require(Flow.parameters(of: try await flow.signIn().headers[.location])["code"])
                let reply: JSONReply
                switch name {
                case "wrong verifier":
                    reply = try await flow.redeem(code, verifier: String(repeating: "a", count: 43))
                case "no verifier":
                    reply = try await flow.client.send(
                        .post, "/oauth/token",
                        raw: Flow.encode([
                            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Self.redirect),
                            ("client_id", flow.clientID),
                        ]), headers: Flow.form)
                default:
                    reply = try await flow.redeem(code, redirect: "https://app.example/other")
                }
                #expect(
                    reply.status == .badRequest && reply.string("error") == "invalid_grant", "\(name): \(reply.text)")
                #expect(try await flow.redeem(code).string("error") == "invalid_grant", "\(name): the code is spent")
            }
            // A code redeemed by another client.
            let other = try await flow.client.send(
                .post, "/v1/clients",
                json: [
                    "name": "Other", "type": "public", "workspace_id": "default", "grant_types": ["authorization_code"],
                    "redirect_uris": [Self.redirect],
                ], bearer: flow.tenants.acmeAdmin)
            let otherID: String = try #require(other.string("client_id"))
            let code = try #require(Flow.parameters(of: try await flow.signIn().headers[.location])["code"])
            let stolen = try await flow.redeem(code, clientID: otherID)
            #expect(stolen.string("error") == "invalid_grant")
            #expect(try await flow.redeem("iamac_made-up").string("error") == "invalid_grant")
        }
    }

    @Test func badRequestsNeverRedirectToAnUnregisteredPlace() async throws {
        try await withFlow { flow in
            for (name, query) in [
                ("unknown client", flow.authorizeQuery(client: "cl-nobody")),
                ("unregistered redirect", flow.authorizeQuery(redirect: "https://evil.example/cb")),
                ("registered redirect with a suffix", flow.authorizeQuery(redirect: Self.redirect + "/../evil")),
                ("repeated parameter", flow.authorizeQuery() + "&client_id=\(flow.clientID)"),
            ] {
                let (reply, _, _) = try await flow.page(query)
                #expect(reply.status == .badRequest, "\(name)")
                #expect(reply.headers[.location] == nil, "\(name): no redirect")
                #expect(reply.text.contains("Sign-in error"), "\(name): an error page")
            }
            for (name, query, error) in [
                ("no PKCE for a public client", flow.authorizeQuery(pkce: false), "invalid_request"),
                (
                    "plain PKCE",
                    flow.authorizeQuery(pkce: false) + "&code_challenge=\(Self.challenge)&code_challenge_method=plain",
                    "invalid_request"
                ),
                (
                    "challenge without method", flow.authorizeQuery(pkce: false) + "&code_challenge=\(Self.challenge)",
                    "invalid_request"
                ),
                ("unknown scope", flow.authorizeQuery(scope: "openid admin"), "invalid_scope"),
                ("token response type", flow.authorizeQuery(responseType: "token"), "unsupported_response_type"),
            ] {
                let (reply, _, _) = try await flow.page(query)
                #expect(reply.status == .found, "\(name): \(reply.text)")
                let returned = Flow.parameters(of: reply.headers[.location])
                #expect(
                    reply.headers[.location]?.hasPrefix(Self.redirect) == true && returned["error"] == error
                        && returned["state"] == "st-1", "\(name)")
                #expect(returned["iss"] == "https://gateway.example", "\(name)")
            }
        }
    }

    @Test func theSignInFormNeedsItsCSRFTokenAndTheClientsTenantAndEscapesEverything() async throws {
        try await withFlow { flow in
            let noToken = try await flow.signIn(csrf: "")
            #expect(noToken.status == .badRequest && noToken.headers[.location] == nil, "\(noToken.text)")
            let otherCookie = try await flow.signIn(cookie: "iam-csrf=" + String(repeating: "x", count: 43))
            #expect(otherCookie.status == .badRequest && otherCookie.headers[.location] == nil)
            // A user of another tenant cannot sign in through acme's client.
            let foreign = try await flow.signIn(tenant: "globex", username: "globex-admin", password: "globex-password")
            #expect(foreign.status == .forbidden && foreign.headers[.location] == nil)
            let wrong = try await flow.signIn(password: "wrong-password")
            #expect(wrong.status == .unauthorized && wrong.headers[.location] == nil)
            #expect(wrong.text.contains("role=\"alert\""), "the error is on the page")
            #expect(!wrong.text.contains("wrong-password"), "the password is never echoed")
            // Reflected values are text, never markup.
            let (xss, _, _) = try await flow.page(flow.authorizeQuery(state: "\"><script>alert(1)</script>"))
            #expect(xss.status == .ok)
            #expect(!xss.text.contains("<script>alert(1)"))
            #expect(xss.text.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
    }

    @Test func theSignInPageSharesTheLoginThrottle() async throws {
        try await withFlow { flow in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<7 { statuses.append(try await flow.signIn(password: "wrong-password").status) }
            #expect(statuses.prefix(5).allSatisfy { $0 == .unauthorized })
            #expect(statuses.last == .tooManyRequests, "\(statuses)")
            let login = try await flow.client.login(tenant: "acme", username: "acme-admin", password: "acme-password")
            #expect(login.status == .tooManyRequests, "the JSON login shares the count")
        }
    }

    @Test func revocationAndUserinfo() async throws {
        try await withFlow { flow in
            func tokens() async throws -> (access: String, refresh: String) {
                let code = try #require(Flow.parameters(of: try await flow.signIn().headers[.location])["code"])
                let reply = try await flow.redeem(code)
                return (try #require(reply.string("access_token")), try #require(reply.string("refresh_token")))
            }
            func revoke(_ token: String, clientID: String? = nil) async throws -> JSONReply {
                try await flow.client.send(
                    .post, "/oauth/revoke",
                    raw: Flow.encode([("token", token), ("client_id", clientID ?? flow.clientID)]), headers: Flow.form)
            }
            let first = try await tokens()
            let info = try await flow.client.send(.get, "/oauth/userinfo", bearer: first.access)
            #expect(
                info.status == .ok && info.string("sub") == "acme:acme-admin"
                    && info.string("preferred_username") == "acme-admin", "\(info.text)")
            #expect(try await flow.client.send(.post, "/oauth/userinfo", bearer: first.access).status == .ok)
            #expect(try await flow.client.send(.get, "/oauth/userinfo").status == .unauthorized)

            // Another client may not revoke this client's tokens.
            let other = try await flow.client.send(
                .post, "/v1/clients",
                json: [
                    "name": "Other", "type": "public", "workspace_id": "default", "grant_types": ["authorization_code"],
                    "redirect_uris": [Self.redirect],
                ], bearer: flow.tenants.acmeAdmin)
            let otherID: String = try #require(other.string("client_id"))
            #expect(try await revoke(first.refresh, clientID: otherID).string("error") == "unauthorized_client")
            #expect(try await flow.client.send(.get, "/v1/me", bearer: first.access).status == .ok, "still live")

            // A refresh token revokes its family and session.
            #expect(try await revoke(first.refresh).status == .ok)
            #expect(try await flow.client.send(.get, "/v1/me", bearer: first.access).status == .unauthorized)
            let refreshed = try await flow.client.send(
                .post, "/oauth/token",
                raw: Flow.encode([
                    ("grant_type", "refresh_token"), ("refresh_token", first.refresh), ("client_id", flow.clientID),
                ]), headers: Flow.form)
            #expect(refreshed.string("error") == "invalid_grant")
            // An access token revokes its session; unknown tokens and repeats are a quiet 200.
            let second = try await tokens()
            #expect(try await revoke(second.access).status == .ok)
            #expect(try await flow.client.send(.get, "/v1/me", bearer: second.access).status == .unauthorized)
            #expect(try await revoke(second.access).status == .ok)
            #expect(try await revoke("iamr_unknown").status == .ok)
            #expect(try await revoke("garbage").status == .ok)
            // A first-party token is not a client's to revoke.
            #expect(try await revoke(flow.tenants.acmeAdmin).string("error") == "unauthorized_client")
            #expect(try await flow.client.send(.get, "/v1/me", bearer: flow.tenants.acmeAdmin).status == .ok)
            // Each revocation that ended a session is in the tenant's audit log (the repeats are not).
            let audited = try await flow.client.send(
                .get, "/v1/audit-events?action=oauth.revoke", bearer: flow.tenants.acmeAdmin)
            #expect((audited["events"] as? [[String: Any]])?.count == 2, "\(audited.text)")
        }
    }

    @Test func rpInitiatedLogoutEndsTheSessionAndReturnsOnlyToARegisteredAddress() async throws {
        try await withFlow { base in
            let created = try await base.client.send(
                .post, "/v1/clients",
                json: [
                    "name": "Acme Portal", "type": "public", "workspace_id": "default",
                    "grant_types": ["authorization_code"], "redirect_uris": [Self.redirect],
                    "post_logout_redirect_uris": ["https://app.example/bye"],
                ], bearer: base.tenants.acmeAdmin)
            var flow = base
            flow.clientID = try #require(created.string("client_id"))
            let code = try #require(Flow.parameters(of: try await flow.signIn().headers[.location])["code"])
            let tokens = try await flow.redeem(code)
            let access = try #require(tokens.string("access_token"))
            let idToken = try #require(tokens.string("id_token"))
            func logout(_ parameters: [(String, String)]) async throws -> JSONReply {
                try await flow.client.send(.get, "/oauth/logout?" + Flow.encode(parameters))
            }
            // Refusals first: the session survives each.
            let unregistered = try await logout([
                ("id_token_hint", idToken), ("post_logout_redirect_uri", "https://evil.example/bye"),
            ])
            #expect(unregistered.status == .badRequest && unregistered.headers[.location] == nil)
            var forged = idToken.split(separator: ".").map(String.init)
            forged[1] = Base64URL.encode(Array(#"{"iss":"https://gateway.example","aud":"x","sid":"s"}"#.utf8))
            #expect(
                try await logout([("id_token_hint", forged.joined(separator: "."))]).status == .badRequest,
                "a forged hint")
            #expect(
                try await logout([("id_token_hint", access)]).status == .badRequest,
                "an access token is not an ID token")
            #expect(try await logout([]).status == .badRequest)
            #expect(try await flow.client.send(.get, "/v1/me", bearer: access).status == .ok)
            // The real thing.
            let out = try await logout([
                ("id_token_hint", idToken), ("post_logout_redirect_uri", "https://app.example/bye"), ("state", "s-9"),
            ])
            #expect(
                out.status == .found && out.headers[.location] == "https://app.example/bye?state=s-9",
                "\(out.status) \(out.headers)")
            #expect(
                try await flow.client.send(.get, "/v1/me", bearer: access).status == .unauthorized, "the session ended")
            let page = try await logout([("id_token_hint", idToken)])
            #expect(page.status == .ok && page.text.contains("Signed out"))
            let audited = try await flow.client.send(
                .get, "/v1/audit-events?action=logout", bearer: flow.tenants.acmeAdmin)
            #expect(
                (audited["events"] as? [[String: Any]])?.count == 1,
                "one sign-out, the repeat changed nothing: \(audited.text)")
        }
    }

    @Test func theBuiltInConsoleClientSignsInUsersOfAnyTenant() async throws {
        try await withFlow { base in
            var console = base
            console.clientID = "console"
            console.redirect = "https://gateway.example/console/callback"
            let (page, _, _) = try await console.page(console.authorizeQuery())
            #expect(page.status == .ok && page.text.contains("IAM Gateway console"))
            let (elsewhere, _, _) = try await console.page(console.authorizeQuery(redirect: "https://app.example/cb"))
            #expect(elsewhere.status == .badRequest && elsewhere.headers[.location] == nil, "only its own callback")
            for (tenant, user, password) in [
                ("acme", "acme-admin", "acme-password"), ("globex", "globex-admin", "globex-password"),
            ] {
                let signedIn = try await console.signIn(tenant: tenant, username: user, password: password)
                #expect(signedIn.status == .found, "\(tenant): \(signedIn.text)")
                let code = try #require(Flow.parameters(of: signedIn.headers[.location])["code"])
                let tokens = try await console.redeem(code)
                let claims = try OAuthTests.claims(try #require(tokens.string("access_token")))
                #expect(
                    claims["client_id"] as? String == "console" && claims["tenant_id"] as? String == tenant,
                    "the tenant signed in to")
                let refreshed = try await console.client.send(
                    .post, "/oauth/token",
                    raw: Flow.encode([
                        ("grant_type", "refresh_token"), ("refresh_token", tokens.string("refresh_token") ?? ""),
                        ("client_id", "console"),
                    ]), headers: Flow.form)
                #expect(
                    try OAuthTests.claims(try #require(refreshed.string("access_token")))["tenant_id"] as? String
                        == tenant)
            }
            // The console is public: a secret is refused, and it cannot use client credentials.
            let withSecret = try await console.client.send(
                .post, "/oauth/token", raw: "grant_type=client_credentials", headers: OAuthTests.basic("console", "x"))
            #expect(withSecret.status == .unauthorized)
        }
    }
}
