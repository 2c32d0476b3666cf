import Foundation
import IAMEnforcement
import IAMEnforcementTesting
import Synchronization
import Vapor

enum TestTokens {
    static let audience = "connections"

    static func claims(
        issuer: String, now: Date = Date(), permissions: [String] = ["connections.read"], tenantID: String = "t1",
        policyVersion: Int64 = 1, lifetime: Int64 = 300
    ) -> AccessTokenClaims {
        let seconds = Int64(now.timeIntervalSince1970)
        return AccessTokenClaims(
            iss: issuer, sub: "user_1", aud: audience, exp: seconds + lifetime, iat: seconds, nbf: seconds,
            jti: UUID().uuidString, tenantID: tenantID, workspaceID: "w1", roles: ["role_1"],
            policyVersion: policyVersion, permissions: permissions, sid: "sess_1", clientID: "first-party"
        )
    }
}

/// A stand-in for the gateway's JWKS endpoint: a Vapor server on a loopback port chosen by the system.
final class FakeGateway: Sendable {
    private let jwks = Mutex(JSONWebKeySet(keys: []))
    private let requests = Mutex(0)

    func publish(_ keys: [TestSigningKey]) throws {
        let set = JSONWebKeySet(keys: try keys.map { try $0.jwk })
        jwks.withLock { $0 = set }
    }

    var jwksRequests: Int { requests.withLock { $0 } }

    /// Runs `body` with the base URL of the running fake, then stops it.
    func run<T>(_ body: (String) async throws -> T) async throws -> T {
        let app = try await Application.make(.testing)
        app.get(".well-known", "jwks.json") { [self] _ -> Response in
            requests.withLock { $0 += 1 }
            let response = Response(status: .ok, headers: ["Cache-Control": "max-age=60"])
            try response.content.encode(jwks.withLock { $0 }, as: .json)
            return response
        }
        do {
            try await app.server.start(address: .hostname("127.0.0.1", port: 0))
            guard let port = app.http.server.shared.localAddress?.port else { throw Abort(.internalServerError) }
            let result = try await body("http://127.0.0.1:\(port)")
            await app.server.shutdown()
            try await app.asyncShutdown()
            return result
        } catch {
            await app.server.shutdown()
            try? await app.asyncShutdown()
            throw error
        }
    }
}
