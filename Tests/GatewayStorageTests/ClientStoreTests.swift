import Foundation
import GatewayCore
import GatewayStorage
import Testing

/// OAuth clients in every store: round trip, ids unique across tenants and kinds, deletion takes assignments.
extension StoreConformanceTests {
    static func client(_ id: String, tenant: String = "acme", type: OAuthClientRecord.ClientType = .confidential)
        -> OAuthClientRecord
    {
        OAuthClientRecord(
            tenantID: tenant, clientID: id, name: "client \(id)", workspaceID: "default", type: type,
            secretHash: type == .confidential ? "sha256-of-\(id)" : nil,
            redirectURIs: ["https://app.example/cb", "http://127.0.0.1/cb"],
            postLogoutRedirectURIs: ["https://app.example/bye"],
            grantTypes: ["client_credentials"], createdAt: at(5)
        )
    }

    @Test(arguments: StoreBackend.configured)
    func clientsRoundTripAndAreUniqueAcrossTenantsAndPrincipals(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let confidential = Self.client("cl-a")
            let publicClient = Self.client("cl-b", type: .public)
            try await store.createClient(confidential)
            try await store.createClient(publicClient)
            #expect(try await store.client(clientID: "cl-a") == confidential)
            #expect(try await store.client(clientID: "cl-b") == publicClient)
            #expect(try await store.client(clientID: "cl-none") == nil)
            #expect(try await store.clients(tenantID: "acme").map(\.clientID) == ["cl-a", "cl-b"])
            #expect(try await store.clients(tenantID: "other").isEmpty)
            // The same id in another tenant: refused (ids are global); a user id taken by a client: refused.
            await expectCode(.conflict) { try await store.createClient(Self.client("cl-a", tenant: "other")) }
            await expectCode(.conflict) { try await store.createUser(Self.user("acme", "cl-a", "someone")) }
            try await store.createUser(Self.user("acme", "u-1", "alice"))
            await expectCode(.conflict) { try await store.createClient(Self.client("u-1")) }

            try await store.createAssignment(Self.assignment("as-1", tenant: "acme", principal: "cl-a", role: "viewer"))
            #expect(
                try await store.deleteClient(tenantID: "other", clientID: "cl-a", now: Self.at(20)) == nil,
                "not another tenant's")
            let deleted = try await store.deleteClient(tenantID: "acme", clientID: "cl-a", now: Self.at(20))
            #expect(deleted?.bumpedWorkspaces == ["default"])
            #expect(try await store.client(clientID: "cl-a") == nil)
            #expect(try await store.assignments(tenantID: "acme", principalID: "cl-a", workspaceID: nil).isEmpty)
            await expectCode(.conflict) { try await store.createClient(Self.client("cl-a")) }
        }
    }

    @Test(arguments: StoreBackend.configured)
    func authorizationCodesAreSpentOnceAndCreateAClientBoundSession(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let code = AuthorizationCodeRecord(
                codeHash: "hash-of-code", tenantID: "acme", workspaceID: "default", principalID: "u-1",
                clientID: "cl-a",
                redirectURI: "https://app.example/cb", codeChallenge: "challenge", scope: "openid profile",
                nonce: "n-1", authTime: Self.at(10),
                expiresAt: Self.at(70)
            )
            try await store.createAuthorizationCode(code)
            func redeem(_ hash: String, at seconds: TimeInterval, sid: String) async throws -> CodeRedemption {
                try await store.redeemAuthorizationCode(
                    hash: hash, now: Self.at(seconds), sessionID: sid, sessionExpiresAt: Self.at(3600),
                    refreshTokenHash: "refresh-\(sid)")
            }
            var spent = code
            spent.sessionID = "s-1"
            let session = SessionRecord(
                sessionID: "s-1", tenantID: "acme", workspaceID: "default", principalID: "u-1", createdAt: Self.at(20),
                expiresAt: Self.at(3600), clientID: "cl-a",
                scope: "openid profile"
            )
            #expect(try await redeem("hash-of-code", at: 20, sid: "s-1") == .redeemed(spent, session))
            #expect(try await store.session("s-1") == session, "the session exists, bound to the client")
            #expect(
                try await redeem("hash-of-code", at: 21, sid: "s-2") == .reused(spent),
                "single use; names the session to revoke")
            #expect(try await store.session("s-2") == nil)
            #expect(try await redeem("nope", at: 21, sid: "s-3") == .invalid)
            // The refresh token created with the session rotates like any.
            if case .rotated(let rotated) = try await store.rotateRefreshToken(
                presentedHash: "refresh-s-1", successorHash: "refresh-s-1b", now: Self.at(30))
            {
                #expect(rotated.clientID == "cl-a")
            } else {
                Issue.record("the code's refresh token did not rotate")
            }
            var late = code
            late.codeHash = "hash-of-late"
            try await store.createAuthorizationCode(late)
            #expect(try await redeem("hash-of-late", at: 70, sid: "s-4") == .invalid, "expired at 60 s")
            // Concurrent redemptions: exactly one wins.
            var raced = code
            raced.codeHash = "hash-of-raced"
            try await store.createAuthorizationCode(raced)
            let outcomes = try await withThrowingTaskGroup(of: CodeRedemption.self) { group in
                for index in 0..<8 {
                    group.addTask { try await redeem("hash-of-raced", at: 30, sid: "s-race-\(index)") }
                }
                return try await group.reduce(into: [CodeRedemption]()) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .redeemed = $0 { true } else { false } }.count == 1)
            #expect(outcomes.filter { if case .reused = $0 { true } else { false } }.count == 7)
        }
    }
}
