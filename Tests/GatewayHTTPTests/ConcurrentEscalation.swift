import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The race of SPEC 4.1's last rule, played over HTTP: actor A (assignments.manage and explorer.read in `default`)
/// assigns a tenant-wide role R that grants explorer.read to user U in `default`, while actor B (roles.update,
/// users.manage and explorer.read in `ws2`, where R is not assigned) adds users.manage to R. Each check alone passes;
/// run interleaved (check A, check B, write A, write B) they would give U users.manage in `default`, which neither
/// A nor B holds there. Serialized, one of the two must be refused. After every round U must not hold users.manage
/// in `default`.
enum ConcurrentEscalation {
    static let rounds = 25

    static func race(_ clientA: any TestClientProtocol, _ clientB: any TestClientProtocol) async throws {
        let admin = try await clientA.token()
        #expect(
            try await clientA.send(
                .post, "/v1/workspaces", json: ["workspace_id": "ws2", "name": "Two"], bearer: admin
            ).status == .created)
        func role(_ name: String, _ permissions: [String], workspace: String?) async throws -> String {
            var body: [String: Any] = ["name": name, "permissions": permissions]
            if let workspace { body["workspace_id"] = workspace }
            let reply = try await clientA.send(.post, "/v1/roles", json: body, bearer: admin)
            return try #require(reply.string("role_id"), "\(reply.text)")
        }
        func user(_ id: String, role roleID: String?, workspace: String) async throws {
            #expect(
                try await clientA.send(
                    .post, "/v1/users", json: ["username": id, "password": "\(id)-password", "user_id": id],
                    bearer: admin
                ).status == .created)
            if let roleID {
                #expect(
                    try await clientA.send(
                        .post, "/v1/assignments", json: ["user_id": id, "role_id": roleID, "workspace_id": workspace],
                        bearer: admin
                    ).status == .created)
            }
        }
        try await user(
            "actor-a", role: try await role("assigner", ["assignments.manage", "explorer.read"], workspace: "default"),
            workspace: "default")
        try await user(
            "actor-b",
            role: try await role("editor", ["roles.update", "users.manage", "explorer.read"], workspace: "ws2"),
            workspace: "ws2")
        let actorA = try await clientA.token(username: "actor-a", password: "actor-a-password")
        let actorB = try await clientB.token(workspace: "ws2", username: "actor-b", password: "actor-b-password")
        var outcomes: [String: Int] = [:]
        for round in 0..<rounds {
            let roleID = try await role("r\(round)", ["explorer.read"], workspace: nil)
            try await user("u\(round)", role: nil, workspace: "default")
            async let assigned = clientA.send(
                .post, "/v1/assignments", json: ["user_id": "u\(round)", "role_id": roleID, "workspace_id": "default"],
                bearer: actorA)
            async let updated = clientB.send(
                .put, "/v1/roles/\(roleID)", json: ["permissions": ["explorer.read", "users.manage"]], bearer: actorB)
            let (a, b) = try await (assigned, updated)
            outcomes["\(a.status.code)/\(b.status.code)", default: 0] += 1
            #expect(
                !(a.status == .created && b.status == .ok),
                "round \(round): both the assignment and the update went through")
            let held = try await clientA.send(.get, "/v1/assignments?user_id=u\(round)", bearer: admin)
            let assignedNow = !((held["assignments"] as? [[String: Any]]) ?? []).isEmpty
            let permissions =
                (try await clientA.send(.get, "/v1/roles/\(roleID)", bearer: admin)["permissions"] as? [String]) ?? []
            #expect(
                !(assignedNow && permissions.contains("users.manage")),
                "round \(round): u\(round) holds users.manage in default")
        }
        // Both orders occur: the assignment first (the update is then refused) or the update first (the assignment is).
        print("concurrent escalation race outcomes (assignment/update): \(outcomes.sorted { $0.key < $1.key })")
    }
}

@Suite struct ConcurrentEscalationTests {
    @Test func racingRoleUpdateAndAssignmentNeverEscalate() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in try await ConcurrentEscalation.race(client, client) }
    }
}
