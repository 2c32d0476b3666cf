import Foundation
import GatewayCore
import GatewayHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// OAuth clients and the token endpoint (SPEC 5.1), tried as their users and as attackers would.
@Suite struct OAuthTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    static func basic(_ id: String, _ secret: String) -> HTTPFields {
        var headers = form
        headers[.authorization] = "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
        return headers
    }

    /// The claims of a JWT, unverified (tests that verify use the JWKS elsewhere; here only the contents matter).
    static func claims(_ token: String) throws -> [String: Any] {
        let parts = token.split(separator: ".")
        try #require(parts.count == 3)
        var payload = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let data = try #require(Data(base64Encoded: payload))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func withTenants(_ body: @Sendable (any TestClientProtocol, TwoTenants) async throws -> Void) async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in try await body(client, try await TwoTenants.make(client)) }
    }

    /// A confidential client of acme with the client_credentials grant; its id and secret.
    static func confidentialClient(_ client: some TestClientProtocol, _ tenants: TwoTenants) async throws -> (
        id: String, secret: String
    ) {
        let created = try await client.send(
            .post, "/v1/clients",
            json: [
                "name": "billing-sync", "type": "confidential", "workspace_id": "default",
                "grant_types": ["client_credentials"],
            ], bearer: tenants.acmeAdmin)
        #expect(created.status == .created, "\(created.text)")
        return (try #require(created.string("client_id")), try #require(created.string("client_secret")))
    }

    @Test func clientsAreCreatedListedAndDeletedWithTheSecretShownOnce() async throws {
        try await withTenants { client, tenants in
            let (id, secret) = try await Self.confidentialClient(client, tenants)
            #expect(secret.hasPrefix("iamc_") && secret.count > 40)
            let listed = try await client.send(.get, "/v1/clients", bearer: tenants.acmeAdmin)
            #expect(listed.status == .ok)
            #expect(!listed.text.contains(secret), "the secret is never shown again")
            let clients = try #require(listed["clients"] as? [[String: Any]])
            #expect(clients.map { $0["client_id"] as? String } == [id])
            let one = try await client.send(.get, "/v1/clients/\(id)", bearer: tenants.acmeAdmin)
            #expect(one.string("type") == "confidential" && one["client_secret"] == nil)
            let publicClient = try await client.send(
                .post, "/v1/clients",
                json: [
                    "name": "cli", "type": "public", "workspace_id": "default", "grant_types": ["client_credentials"],
                ], bearer: tenants.acmeAdmin)
            #expect(
                publicClient.status == .badRequest,
                "a public client cannot use client_credentials: \(publicClient.text)")
            for (field, value) in [
                ("redirect_uris", ["http://evil.example/cb"]), ("redirect_uris", ["https://app.example/cb#frag"]),
                ("grant_types", ["password"]),
            ] {
                var body: [String: Any] = [
                    "name": "x", "type": "confidential", "workspace_id": "default",
                    "grant_types": ["client_credentials"],
                ]
                body[field] = value
                let refused = try await client.send(.post, "/v1/clients", json: body, bearer: tenants.acmeAdmin)
                #expect(refused.status == .badRequest, "\(field) \(value): \(refused.text)")
            }
            let loopback = try await client.send(
                .post, "/v1/clients",
                json: [
                    "name": "x", "type": "confidential", "workspace_id": "default",
                    "grant_types": ["client_credentials"], "redirect_uris": ["http://127.0.0.1/cb"],
                ], bearer: tenants.acmeAdmin)
            #expect(loopback.status == .created, "loopback http is allowed (RFC 8252)")
            #expect(try await client.send(.delete, "/v1/clients/\(id)", bearer: tenants.acmeAdmin).status == .noContent)
            #expect(try await client.send(.get, "/v1/clients/\(id)", bearer: tenants.acmeAdmin).status == .notFound)
            let afterDelete = try await client.send(
                .post, "/oauth/token", raw: "grant_type=client_credentials", headers: Self.basic(id, secret))
            #expect(
                afterDelete.status == .unauthorized && afterDelete.string("error") == "invalid_client",
                "a deleted client's secret is dead")
        }
    }

    @Test func onlyClientsManageInTheTenantMayTouchClients() async throws {
        try await withTenants { client, tenants in
            let (id, _) = try await Self.confidentialClient(client, tenants)
            // Another tenant's admin: the client does not exist for them.
            #expect(try await client.send(.get, "/v1/clients/\(id)", bearer: tenants.globexAdmin).status == .notFound)
            #expect(
                try await client.send(.delete, "/v1/clients/\(id)", bearer: tenants.globexAdmin).status == .notFound)
            let globexList = try await client.send(.get, "/v1/clients", bearer: tenants.globexAdmin)
            #expect((globexList["clients"] as? [Any])?.isEmpty == true)
            // A viewer of acme: no clients.manage.
            let scope: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "acme"]
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "viewer", "password": "viewer-password", "user_id": "viewer"],
                headers: scope, bearer: tenants.platform)
            _ = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "viewer", "role_id": "viewer", "workspace_id": "default"],
                headers: scope, bearer: tenants.platform)
            let viewer = try await client.token(tenant: "acme", username: "viewer", password: "viewer-password")
            let created = try await client.send(
                .post, "/v1/clients",
                json: [
                    "name": "x", "type": "confidential", "workspace_id": "default",
                    "grant_types": ["client_credentials"],
                ], bearer: viewer)
            #expect(created.status == .forbidden, "\(created.text)")
            #expect(try await client.send(.get, "/v1/clients", bearer: viewer).status == .forbidden)
            #expect(try await client.send(.delete, "/v1/clients/\(id)", bearer: viewer).status == .forbidden)
            #expect(
                try await client.send(.get, "/v1/clients/\(id)", bearer: tenants.acmeAdmin).status == .ok, "still there"
            )
        }
    }

    @Test func clientCredentialsGivesTheClientATokenOfItsOwnWithBothAuthMethods() async throws {
        try await withTenants { client, tenants in
            let (id, secret) = try await Self.confidentialClient(client, tenants)
            // No role in its workspace yet.
            let unassigned = try await client.send(
                .post, "/oauth/token", raw: "grant_type=client_credentials", headers: Self.basic(id, secret))
            #expect(
                unassigned.status == .badRequest && unassigned.string("error") == "unauthorized_client",
                "\(unassigned.text)")
            let scope: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "acme"]
            let assigned = try await client.send(
                .post, "/v1/assignments", json: ["user_id": id, "role_id": "viewer", "workspace_id": "default"],
                headers: scope, bearer: tenants.acmeAdmin)
            #expect(assigned.status == .created, "\(assigned.text)")

            let encodedSecret = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? secret
            for (headers, body) in [
                (Self.basic(id, secret), "grant_type=client_credentials"),
                (Self.form, "grant_type=client_credentials&client_id=\(id)&client_secret=\(encodedSecret)"),
            ] {
                let reply = try await client.send(.post, "/oauth/token", raw: body, headers: headers)
                #expect(reply.status == .ok, "\(reply.text)")
                #expect(reply.headers[.cacheControl] == "no-store")
                #expect(reply.string("token_type") == "Bearer")
                let token = try #require(reply.string("access_token"))
                let claims = try Self.claims(token)
                #expect(claims["sub"] as? String == id && claims["client_id"] as? String == id)
                #expect(claims["tenant_id"] as? String == "acme" && claims["sid"] == nil)
                #expect((claims["permissions"] as? [String])?.contains("connections.read") == true)
                let me = try await client.send(.get, "/v1/me", bearer: token)
                #expect(me.status == .ok && me.string("sub") == id, "the token works at the gateway: \(me.text)")
            }
            let login = try Self.claims(
                try await client.token(tenant: "acme", username: "acme-admin", password: "acme-password"))
            #expect(login["client_id"] as? String == "first-party", "RFC 9068 client_id on first-party tokens")
        }
    }

    @Test func tokenEndpointErrorsAreRFC6749Errors() async throws {
        try await withTenants { client, tenants in
            let (id, secret) = try await Self.confidentialClient(client, tenants)
            let cases: [(String, HTTPFields, String, HTTPResponse.Status, String)] = [
                (
                    "wrong secret", Self.basic(id, secret + "x"), "grant_type=client_credentials", .unauthorized,
                    "invalid_client"
                ),
                (
                    "unknown client", Self.basic("cl-nobody", secret), "grant_type=client_credentials", .unauthorized,
                    "invalid_client"
                ),
                ("no client auth", Self.form, "grant_type=client_credentials", .unauthorized, "invalid_client"),
                (
                    "secret-less confidential", Self.form, "grant_type=client_credentials&client_id=\(id)",
                    .unauthorized, "invalid_client"
                ),
                (
                    "two methods", Self.basic(id, secret), "grant_type=client_credentials&client_secret=\(secret)",
                    .badRequest, "invalid_request"
                ),
                ("no grant type", Self.basic(id, secret), "", .badRequest, "invalid_request"),
                (
                    "unsupported grant", Self.basic(id, secret), "grant_type=password&username=a&password=b",
                    .badRequest, "unsupported_grant_type"
                ),
                (
                    "repeated parameter", Self.basic(id, secret),
                    "grant_type=client_credentials&grant_type=client_credentials", .badRequest, "invalid_request"
                ),
                (
                    "scope", Self.basic(id, secret), "grant_type=client_credentials&scope=admin", .badRequest,
                    "invalid_scope"
                ),
                ("bad encoding", Self.basic(id, secret), "grant_type=%zz", .badRequest, "invalid_request"),
                (
                    "JSON body", [.contentType: "application/json"], #"{"grant_type":"client_credentials"}"#,
                    .badRequest, "invalid_request"
                ),
            ]
            for (name, headers, body, status, error) in cases {
                let reply = try await client.send(.post, "/oauth/token", raw: body, headers: headers)
                #expect(
                    reply.status == status && reply.string("error") == error, "\(name): \(reply.status) \(reply.text)")
                #expect(reply.headers[.cacheControl] == "no-store", "\(name)")
                #expect(reply.string("error_description")?.isEmpty == false, "\(name)")
                #expect(!reply.text.contains(secret), "\(name): no secret in an answer")
                if status == .unauthorized {
                    #expect(reply.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true, "\(name)")
                }
            }
        }
    }

    @Test func discoveryListsExactlyWhatTheTokenEndpointServes() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            let oidc = try await client.send(.get, "/.well-known/openid-configuration")
            let rfc8414 = try await client.send(.get, "/.well-known/oauth-authorization-server")
            #expect(oidc.status == .ok && rfc8414.status == .ok)
            #expect(oidc.text == rfc8414.text)
            #expect(oidc.string("token_endpoint")?.hasSuffix("/oauth/token") == true)
            #expect(
                oidc["grant_types_supported"] as? [String] == [
                    "authorization_code", "client_credentials", "refresh_token",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ])
            #expect(
                oidc["token_endpoint_auth_methods_supported"] as? [String] == [
                    "client_secret_basic", "client_secret_post", "none",
                ])
            #expect(oidc.string("introspection_endpoint")?.hasSuffix("/oauth/introspect") == true)
            #expect(
                oidc.string("authorization_endpoint")?.hasSuffix("/oauth/authorize") == true
                    && oidc["response_types_supported"] as? [String] == ["code"])
            #expect(
                oidc["code_challenge_methods_supported"] as? [String] == ["S256"]
                    && oidc["authorization_response_iss_parameter_supported"] as? Bool == true)
            #expect(
                oidc.string("userinfo_endpoint")?.hasSuffix("/oauth/userinfo") == true
                    && oidc.string("revocation_endpoint")?.hasSuffix("/oauth/revoke") == true)
            #expect(oidc.string("end_session_endpoint")?.hasSuffix("/oauth/logout") == true)
        }
    }

    static let exchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
    static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

    static func encoded(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? value
    }

    func withExchangeGateway(_ body: @Sendable (any TestClientProtocol, TwoTenants) async throws -> Void) async throws {
        let gateway = try await TestGateway.make { configuration in
            configuration.routes = [
                .init(name: "crm", prefix: "/api/crm", upstream: "http://127.0.0.1:9", audience: "crm"),
                .init(
                    name: "admin", prefix: "/api/admin", upstream: "http://127.0.0.1:9", audience: "admin-api",
                    permission: "users.manage"),
            ]
        }
        try await gateway.test(.router) { _, client in try await body(client, try await TwoTenants.make(client)) }
    }

    @Test func tokenExchangeByAPublicClientNamingItselfMintsADownstreamTokenWithItsClientID() async throws {
        try await withExchangeGateway { client, tenants in
            let created = try await client.send(
                .post, "/v1/clients",
                json: [
                    "name": "spa", "type": "public", "workspace_id": "default", "grant_types": [Self.exchangeGrant],
                ], bearer: tenants.acmeAdmin)
            #expect(created.status == .created && created["client_secret"] == nil, "\(created.text)")
            let id = try #require(created.string("client_id"))
            let subject = tenants.acmeAdmin
            func exchange(_ extra: String, subject: String = subject) async throws -> JSONReply {
                try await client.send(
                    .post, "/oauth/token",
                    raw: "grant_type=\(Self.encoded(Self.exchangeGrant))&client_id=\(id)&subject_token=\(subject)"
                        + "&subject_token_type=\(Self.encoded(Self.accessTokenType))" + extra, headers: Self.form)
            }
            let reply = try await exchange("&audience=crm")
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.string("issued_token_type") == Self.accessTokenType && reply.string("token_type") == "Bearer")
            let claims = try Self.claims(try #require(reply.string("access_token")))
            #expect(claims["aud"] as? String == "crm" && claims["sub"] as? String == "acme-admin")
            #expect(claims["client_id"] as? String == id, "the exchanging client")

            // Refusals, each with its RFC code.
            let downstream = try #require(reply.string("access_token"))
            let cases: [(String, String, String)] = [
                ("unknown audience", "&audience=nowhere", "invalid_target"),
                ("no audience", "", "invalid_target"),
                ("resource instead", "&resource=https%3A%2F%2Fcrm&audience=crm", "invalid_target"),
                ("scope", "&audience=crm&scope=openid", "invalid_scope"),
                ("actor token", "&audience=crm&actor_token=x", "invalid_request"),
            ]
            for (name, extra, error) in cases {
                let refused = try await exchange(extra)
                #expect(refused.status == .badRequest && refused.string("error") == error, "\(name): \(refused.text)")
            }
            let fromDownstream = try await exchange("&audience=crm", subject: downstream)
            #expect(fromDownstream.string("error") == "invalid_request", "a downstream token is not a subject token")
            let otherTenant = try await exchange("&audience=crm", subject: tenants.globexAdmin)
            #expect(otherTenant.string("error") == "invalid_request", "a token of another tenant")
            let garbage = try await exchange("&audience=crm", subject: "not-a-token")
            #expect(garbage.string("error") == "invalid_request")
            #expect(!garbage.text.contains("not-a-token"), "the token is not echoed")
            // A viewer may not get a token for a route that needs users.manage: the same check as /v1/auth/token.
            let scope: HTTPFields = [HTTPField.Name("X-Tenant-Id")!: "acme"]
            _ = try await client.send(
                .post, "/v1/users", json: ["username": "viewer", "password": "viewer-password", "user_id": "viewer"],
                headers: scope, bearer: tenants.platform)
            _ = try await client.send(
                .post, "/v1/assignments", json: ["user_id": "viewer", "role_id": "viewer", "workspace_id": "default"],
                headers: scope, bearer: tenants.platform)
            let viewer = try await client.token(tenant: "acme", username: "viewer", password: "viewer-password")
            let escalation = try await exchange("&audience=admin-api", subject: viewer)
            #expect(
                escalation.status == .badRequest && escalation.string("error") == "invalid_target", "\(escalation.text)"
            )
            #expect(try await exchange("&audience=admin-api").status == .ok, "the admin holds users.manage")
            // A client registered without the grant, and a public client presenting a secret.
            let (confidential, secret) = try await Self.confidentialClient(client, tenants)
            let notRegistered = try await client.send(
                .post, "/oauth/token",
                raw: "grant_type=\(Self.encoded(Self.exchangeGrant))&subject_token=\(subject)"
                    + "&subject_token_type=\(Self.encoded(Self.accessTokenType))&audience=crm",
                headers: Self.basic(confidential, secret))
            #expect(notRegistered.string("error") == "unauthorized_client", "\(notRegistered.text)")
            let publicWithSecret = try await client.send(
                .post, "/oauth/token",
                raw: "grant_type=\(Self.encoded(Self.exchangeGrant))&subject_token=\(subject)"
                    + "&subject_token_type=\(Self.encoded(Self.accessTokenType))&audience=crm",
                headers: Self.basic(id, "guess"))
            #expect(publicWithSecret.status == .unauthorized && publicWithSecret.string("error") == "invalid_client")
        }
    }

    @Test func introspectionAnswersConfidentialClientsOfTheTokensTenantOnly() async throws {
        try await withTenants { client, tenants in
            let (id, secret) = try await Self.confidentialClient(client, tenants)
            let active = try await client.send(
                .post, "/oauth/introspect", raw: "token=\(tenants.acmeAdmin)", headers: Self.basic(id, secret))
            #expect(active.status == .ok && active["active"] as? Bool == true, "\(active.text)")
            #expect(
                active.string("sub") == "acme-admin" && active.string("client_id") == "first-party"
                    && active.string("tenant_id") == "acme")
            #expect(active.headers[.cacheControl] == "no-store")
            for (name, token) in [
                ("another tenant", tenants.globexAdmin), ("garbage", "x.y.z"), ("unknown", "iamr_nothing"),
            ] {
                let inactive = try await client.send(
                    .post, "/oauth/introspect", raw: "token=\(token)", headers: Self.basic(id, secret))
                #expect(
                    inactive.status == .ok && inactive.json.count == 1 && inactive["active"] as? Bool == false,
                    "\(name): \(inactive.text)")
            }
            // A logged-out session's token is no longer active.
            let login = try await client.login(tenant: "acme", username: "acme-admin", password: "acme-password")
            let token = try #require(login.string("access_token"))
            _ = try await client.send(.post, "/v1/auth/logout", bearer: token)
            let revoked = try await client.send(
                .post, "/oauth/introspect", raw: "token=\(token)", headers: Self.basic(id, secret))
            #expect(revoked["active"] as? Bool == false, "\(revoked.text)")
            // Without client authentication, or with a wrong secret: nothing is said about the token.
            let anonymous = try await client.send(
                .post, "/oauth/introspect", raw: "token=\(tenants.acmeAdmin)", headers: Self.form)
            #expect(anonymous.status == .unauthorized && anonymous["active"] == nil)
            let wrong = try await client.send(
                .post, "/oauth/introspect", raw: "token=\(tenants.acmeAdmin)", headers: Self.basic(id, secret + "x"))
            #expect(wrong.status == .unauthorized && wrong["sub"] == nil)
        }
    }
}
