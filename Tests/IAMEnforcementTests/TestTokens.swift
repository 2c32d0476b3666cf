import Foundation
import IAMEnforcement
import Synchronization

enum TestTokens {
    static let issuer = "https://gateway.test"
    static let audience = "connections-service"

    static func claims(
        now: Date = Date(),
        audience: String = audience,
        permissions: [String] = ["connections.read"],
        tenantID: String = "t1",
        workspaceID: String = "w1",
        policyVersion: Int64 = 1,
        lifetime: Int64 = 300
    ) -> AccessTokenClaims {
        let seconds = Int64(now.timeIntervalSince1970)
        return AccessTokenClaims(
            iss: issuer, sub: "user_1", aud: audience, exp: seconds + lifetime, iat: seconds, nbf: seconds,
            jti: UUID().uuidString, tenantID: tenantID, workspaceID: workspaceID, roles: ["role_1"],
            policyVersion: policyVersion, permissions: permissions, sid: "sess_1"
        )
    }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date()) {
        current = Mutex(start)
    }

    func now() -> Date {
        current.withLock { $0 }
    }

    func advance(seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
