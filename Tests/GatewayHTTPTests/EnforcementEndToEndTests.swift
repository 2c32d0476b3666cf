import Foundation
import GatewayCore
import GatewayHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import Testing

/// The enforcement library against a running gateway: real JWKS over loopback, real tokens, real role changes.
@Suite struct EnforcementEndToEndTests {
    func withLiveGateway(_ body: @Sendable (TestGateway, any TestClientProtocol, String) async throws -> Void)
        async throws
    {
        let gateway = try await TestGateway.make()
        try await gateway.test(.live) { _, client in
            let port = try #require(client.port)
            try await body(gateway, client, "http://127.0.0.1:\(port)")
        }
    }

    /// A user with a custom role in tenant platform; returns the role id.
    func setUp(_ client: some TestClientProtocol, admin: String) async throws -> String {
        let role = try await client.send(
            .post, "/v1/roles", json: ["name": "Reader", "permissions": ["connections.read"]], bearer: admin)
        let roleID = try #require(role.string("role_id"))
        #expect(
            try await client.send(
                .post, "/v1/users", json: ["username": "ann", "password": "ann-password", "user_id": "ann"],
                bearer: admin
            ).status == .created)
        #expect(
            try await client.send(
                .post, "/v1/assignments", json: ["user_id": "ann", "role_id": roleID, "workspace_id": "default"],
                bearer: admin
            ).status == .created)
        return roleID
    }

    func downstreamToken(_ client: some TestClientProtocol, user: String) async throws -> String {
        let exchanged = try await client.send(.post, "/v1/auth/token", json: ["audience": "connections"], bearer: user)
        return try #require(exchanged.string("access_token"))
    }

    @Test func stalePolicyAfterARoleChangeLearnedFromTokens() async throws {
        try await withLiveGateway { gateway, client, base in
            let admin = try await client.token()
            let roleID = try await setUp(client, admin: admin)
            let ann = try await client.token(username: "ann", password: "ann-password")
            let jwks = JWKSCache(configuration: .init(url: base + "/.well-known/jwks.json"))
            let service = GatewayTokenAuthenticator(
                issuer: gateway.configuration.issuer, audience: "connections", keys: jwks,
                policyVersions: PolicyVersionCache())

            let before = try await downstreamToken(client, user: ann)
            guard
                case .allowed(let claims) = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(before)")
            else {
                Issue.record("a valid token with the permission was refused")
                return
            }
            #expect(claims.sub == "ann")
            guard
                case .forbidden = await service.requirePermission(
                    "connections.create", authorizationHeader: "Bearer \(before)")
            else {
                Issue.record("a valid token without the permission was not refused with 403")
                return
            }
            // The role changes; a fresh token carries the new version, after which the old one is stale.
            #expect(
                try await client.send(
                    .put, "/v1/roles/\(roleID)", json: ["permissions": ["connections.read", "connections.create"]],
                    bearer: admin
                ).status == .ok)
            let after = try await downstreamToken(client, user: ann)
            guard
                case .allowed(let fresh) = await service.requirePermission(
                    "connections.create", authorizationHeader: "Bearer \(after)")
            else {
                Issue.record("the new token was refused")
                return
            }
            #expect(fresh.policyVersion == claims.policyVersion + 1)
            guard
                case .stalePolicy = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(before)")
            else {
                Issue.record("the old token was not refused as stale")
                return
            }
            // A token for another audience and the gateway's own access token are refused.
            guard
                case .unauthorized = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(ann)")
            else {
                Issue.record("a gateway-audience token was accepted downstream")
                return
            }
        }
    }

    @Test func stalePolicyFromThePollerWithAServiceKey() async throws {
        try await withLiveGateway { gateway, client, base in
            let admin = try await client.token()
            let roleID = try await setUp(client, admin: admin)
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "connections-service", "workspace_id": "default"], bearer: admin)
            let keyID = try #require(key.string("key_id"))
            let secret = try #require(key.string("api_key"))
            #expect(
                try await client.send(
                    .post, "/v1/assignments",
                    json: ["user_id": keyID, "role_id": "service", "workspace_id": "default"], bearer: admin
                ).status == .created)
            let ann = try await client.token(username: "ann", password: "ann-password")
            let versions = PolicyVersionCache()
            let poller = PolicyVersionPoller(configuration: .init(gatewayURL: base, apiKey: secret), cache: versions)
            let service = GatewayTokenAuthenticator(
                issuer: gateway.configuration.issuer, audience: "connections",
                keys: JWKSCache(configuration: .init(url: base + "/.well-known/jwks.json")), policyVersions: versions
            )
            let token = try await downstreamToken(client, user: ann)
            try await poller.pollOnce()
            guard
                case .allowed = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(token)")
            else {
                Issue.record("refused before any change")
                return
            }
            // A change no client has seen a token for yet: the poller alone makes the token stale.
            #expect(
                try await client.send(
                    .put, "/v1/roles/\(roleID)", json: ["permissions": ["explorer.read", "connections.read"]],
                    bearer: admin
                ).status == .ok)
            try await poller.pollOnce()
            guard
                case .stalePolicy = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(token)")
            else {
                Issue.record("the poller did not make the token stale")
                return
            }
        }
    }

    @Test func keysKeepVerifyingAcrossRotationAndStopAfterRevocation() async throws {
        try await withLiveGateway { gateway, client, base in
            let admin = try await client.token()
            _ = try await setUp(client, admin: admin)
            let ann = try await client.token(username: "ann", password: "ann-password")
            let jwks = JWKSCache(
                configuration: .init(url: base + "/.well-known/jwks.json", minimumRefetchInterval: .milliseconds(10)))
            let service = GatewayTokenAuthenticator(
                issuer: gateway.configuration.issuer, audience: "connections", keys: jwks, policyVersions: nil)
            let first = try await downstreamToken(client, user: ann)
            guard
                case .allowed = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(first)")
            else {
                Issue.record("refused")
                return
            }
            let published = Set(jwks.keyIDs)
            // The next key was published before it signs: a token from it verifies from the cached set.
            let (active, previous) = try await gateway.keyRing.rotate(force: true)
            #expect(published.contains(active))
            let second = try await downstreamToken(
                client, user: try await client.token(username: "ann", password: "ann-password"))
            guard
                case .allowed = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(second)")
            else {
                Issue.record("a token of the pre-published next key was refused")
                return
            }
            // An emergency revocation of the old key: once the cache refetches, its tokens stop verifying.
            try await gateway.keyRing.revoke(kid: try #require(previous))
            try await jwks.refresh()
            guard
                case .unauthorized = await service.requirePermission(
                    "connections.read", authorizationHeader: "Bearer \(first)")
            else {
                Issue.record("a token of a revoked key still verified")
                return
            }
        }
    }
}
