import Foundation
import GatewayCore
import GatewayStorage
import Testing

/// The contract of ``GatewayStore``, run against every implementation: SQLite always, PostgreSQL when
/// `IAM_GATEWAY_TEST_POSTGRES_URL` is set (see ``PostgresAvailability`` for the visible skip).
///
/// Times are whole seconds so that they round-trip exactly in every store.
@Suite struct StoreConformanceTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func at(_ seconds: TimeInterval) -> Date { t0.addingTimeInterval(seconds) }

    static func user(_ tenant: String, _ id: String, _ name: String) -> UserRecord {
        UserRecord(tenantID: tenant, userID: id, username: name, passwordHash: "scrypt$hash-of-\(id)", createdAt: at(1))
    }

    static func assignment(
        _ id: String, tenant: String, workspace: String = "default", principal: String, role: String,
        at seconds: TimeInterval = 2
    ) -> Assignment {
        Assignment(
            assignmentID: id, tenantID: tenant, workspaceID: workspace, principalID: principal, roleID: role,
            createdAt: at(seconds))
    }

    static func role(
        _ id: String, tenant: String, name: String? = nil, workspace: String? = nil,
        permissions: [String] = ["connections.read"]
    ) -> RoleRecord {
        RoleRecord(
            roleID: id, tenantID: tenant, name: name ?? id, description: "role \(id)", workspaceID: workspace,
            permissions: permissions, createdAt: at(3), updatedAt: at(3))
    }

    static func session(
        _ id: String, tenant: String = "acme", principal: String = "u-1", expiresIn: TimeInterval = 3600
    ) -> SessionRecord {
        SessionRecord(
            sessionID: id, tenantID: tenant, workspaceID: "default", principalID: principal, createdAt: at(10),
            expiresAt: at(10 + expiresIn))
    }

    func expectCode(
        _ code: GatewayError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
        } catch let error as GatewayError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
        }
    }

    /// A tenant `acme` with workspaces `default` and `eu`, and tenant `other`.
    func seed(_ store: any GatewayStore) async throws {
        try await store.createTenant(Tenant(tenantID: "acme", name: "Acme", createdAt: Self.at(0)))
        try await store.createWorkspace(
            Workspace(tenantID: "acme", workspaceID: "eu", name: "EU", createdAt: Self.at(0)))
        try await store.createTenant(Tenant(tenantID: "other", name: "Other", createdAt: Self.at(0)))
    }

    // MARK: - Schema

    @Test(arguments: StoreBackend.configured)
    func migratedAndAnswering(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await store.ping()
            #expect(try await store.schemaVersion() >= 2)
            #expect(!store.description.isEmpty)
            #expect(!store.description.contains("gw-secret"))
        }
    }

    // MARK: - Tenants and workspaces

    @Test(arguments: StoreBackend.configured)
    func tenantsAndWorkspaces(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            #expect(try await store.isEmpty())
            try await seed(store)
            #expect(try await !store.isEmpty())
            #expect(try await store.tenant("acme") == Tenant(tenantID: "acme", name: "Acme", createdAt: Self.at(0)))
            #expect(try await store.tenant("nobody") == nil)
            #expect(try await store.tenants().map(\.tenantID) == ["acme", "other"])
            await expectCode(.conflict) {
                try await store.createTenant(Tenant(tenantID: "acme", name: "Again", createdAt: Self.at(5)))
            }
            #expect(try await store.tenant("acme")?.name == "Acme")

            // Every tenant starts with `default`, at policy version 1.
            #expect(try await store.workspaces(tenantID: "acme").map(\.workspaceID) == ["default", "eu"])
            #expect(try await store.workspaces(tenantID: "other").map(\.workspaceID) == ["default"])
            #expect(
                try await store.workspace(tenantID: "acme", workspaceID: "eu")
                    == Workspace(tenantID: "acme", workspaceID: "eu", name: "EU", createdAt: Self.at(0)))
            #expect(try await store.workspace(tenantID: "other", workspaceID: "eu") == nil)
            #expect(try await store.policyVersion(tenantID: "acme", workspaceID: "eu") == 1)
            await expectCode(.conflict) {
                try await store.createWorkspace(
                    Workspace(tenantID: "acme", workspaceID: "eu", name: "x", createdAt: Self.at(5)))
            }
            await expectCode(.notFound) {
                try await store.createWorkspace(
                    Workspace(tenantID: "nobody", workspaceID: "eu", name: "x", createdAt: Self.at(5)))
            }
            await expectCode(.notFound) { _ = try await store.policyVersion(tenantID: "other", workspaceID: "eu") }
        }
    }

    // MARK: - Users

    @Test(arguments: StoreBackend.configured)
    func users(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            try await store.createUser(Self.user("acme", "u-2", "zoe"))
            try await store.createUser(Self.user("acme", "u-1", "adam"))
            try await store.createUser(Self.user("other", "u-1", "adam"))
            await expectCode(.conflict) { try await store.createUser(Self.user("acme", "u-1", "someone")) }
            await expectCode(.conflict) { try await store.createUser(Self.user("acme", "u-3", "zoe")) }

            #expect(try await store.user(tenantID: "acme", userID: "u-1") == Self.user("acme", "u-1", "adam"))
            #expect(try await store.user(tenantID: "acme", username: "zoe")?.userID == "u-2")
            #expect(try await store.user(tenantID: "other", username: "zoe") == nil)
            #expect(try await store.user(tenantID: "nobody", userID: "u-1") == nil)
            #expect(try await store.users(tenantID: "acme").map(\.username) == ["adam", "zoe"])

            #expect(try await store.updatePassword(tenantID: "acme", userID: "u-1", passwordHash: "scrypt$new"))
            #expect(try await store.user(tenantID: "acme", userID: "u-1")?.passwordHash == "scrypt$new")
            #expect(try await store.user(tenantID: "other", userID: "u-1")?.passwordHash == "scrypt$hash-of-u-1")
            #expect(try await !store.updatePassword(tenantID: "acme", userID: "u-9", passwordHash: "x"))
        }
    }

    @Test(arguments: StoreBackend.configured)
    func deletingAUserRemovesAssignmentsRevokesSessionsAndBumps(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            try await store.createUser(Self.user("acme", "u-1", "adam"))
            try await store.createUser(Self.user("other", "u-1", "adam"))
            try await store.createAssignment(Self.assignment("as-1", tenant: "acme", principal: "u-1", role: "viewer"))
            try await store.createAssignment(
                Self.assignment("as-2", tenant: "acme", workspace: "eu", principal: "u-1", role: "viewer"))
            try await store.createAssignment(Self.assignment("as-3", tenant: "other", principal: "u-1", role: "viewer"))
            try await store.createSession(Self.session("s-1"), refreshTokenHash: "h-1")
            try await store.createSession(Self.session("s-2", tenant: "other"), refreshTokenHash: "h-2")
            let before = try await store.policyVersion(tenantID: "acme", workspaceID: "eu")

            #expect(try await store.deleteUser(tenantID: "acme", userID: "u-9", now: Self.at(20)) == nil)
            let deleted = try #require(try await store.deleteUser(tenantID: "acme", userID: "u-1", now: Self.at(20)))
            #expect(deleted == DeletedPrincipal(revokedSessionIDs: ["s-1"], bumpedWorkspaces: ["default", "eu"]))
            #expect(try await store.user(tenantID: "acme", userID: "u-1") == nil)
            #expect(try await store.assignments(tenantID: "acme", principalID: "u-1", workspaceID: nil).isEmpty)
            #expect(try await store.policyVersion(tenantID: "acme", workspaceID: "eu") == before + 1)
            #expect(try await store.session("s-1")?.revokedAt == Self.at(20))
            // The same id in another tenant is untouched.
            #expect(try await store.user(tenantID: "other", userID: "u-1") != nil)
            #expect(try await store.assignments(tenantID: "other", principalID: "u-1", workspaceID: nil).count == 1)
            #expect(try await store.session("s-2")?.revokedAt == nil)
            #expect(try await store.deleteUser(tenantID: "acme", userID: "u-1", now: Self.at(21)) == nil)
        }
    }

    // MARK: - API keys

    @Test(arguments: StoreBackend.configured)
    func apiKeys(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let key = APIKeyRecord(
                tenantID: "acme", keyID: "key-1", name: "ci", workspaceID: "eu", secretHash: "h", createdAt: Self.at(1),
                expiresAt: Self.at(100))
            let forever = APIKeyRecord(
                tenantID: "acme", keyID: "key-2", name: "svc", workspaceID: "default", secretHash: "h2",
                createdAt: Self.at(2), expiresAt: nil)
            try await store.createAPIKey(key)
            try await store.createAPIKey(forever)
            try await store.createAPIKey(
                APIKeyRecord(
                    tenantID: "other", keyID: "key-3", name: "x", workspaceID: "default", secretHash: "h3",
                    createdAt: Self.at(3), expiresAt: nil))
            await expectCode(.conflict) {
                try await store.createAPIKey(
                    APIKeyRecord(
                        tenantID: "other", keyID: "key-1", name: "dup", workspaceID: "default", secretHash: "h",
                        createdAt: Self.at(4), expiresAt: nil))
            }

            #expect(try await store.apiKey(keyID: "key-1") == key)
            #expect(try await store.apiKey(keyID: "key-2") == forever)
            #expect(try await store.apiKey(keyID: "key-9") == nil)
            #expect(try await store.apiKeys(tenantID: "acme") == [key, forever])

            try await store.createAssignment(
                Self.assignment("as-1", tenant: "acme", workspace: "eu", principal: "key-1", role: "viewer"))
            try await store.createSession(Self.session("s-k", principal: "key-1"), refreshTokenHash: "hk")
            #expect(try await store.deleteAPIKey(tenantID: "other", keyID: "key-1", now: Self.at(5)) == nil)
            let deleted = try #require(try await store.deleteAPIKey(tenantID: "acme", keyID: "key-1", now: Self.at(5)))
            #expect(deleted == DeletedPrincipal(revokedSessionIDs: ["s-k"], bumpedWorkspaces: ["eu"]))
            #expect(try await store.apiKey(keyID: "key-1") == nil)
            #expect(try await store.assignments(tenantID: "acme", principalID: "key-1", workspaceID: nil).isEmpty)
            // A principal without assignments bumps nothing.
            let version = try await store.policyVersion(tenantID: "acme", workspaceID: "default")
            #expect(
                try await store.deleteAPIKey(tenantID: "acme", keyID: "key-2", now: Self.at(6))
                    == DeletedPrincipal(revokedSessionIDs: [], bumpedWorkspaces: []))
            #expect(try await store.policyVersion(tenantID: "acme", workspaceID: "default") == version)
        }
    }

    // MARK: - Sessions and refresh tokens

    @Test(arguments: StoreBackend.configured)
    func refreshRotationReuseAndRevocation(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let session = Self.session("s-1")
            try await store.createSession(session, refreshTokenHash: "r-1")
            #expect(try await store.session("s-1") == session)
            #expect(try await store.session("s-9") == nil)

            #expect(
                try await store.rotateRefreshToken(presentedHash: "r-1", successorHash: "r-2", now: Self.at(20))
                    == .rotated(session))
            #expect(
                try await store.rotateRefreshToken(presentedHash: "r-2", successorHash: "r-3", now: Self.at(21))
                    == .rotated(session))
            #expect(
                try await store.rotateRefreshToken(presentedHash: "unknown", successorHash: "r-x", now: Self.at(22))
                    == .invalid)

            // Presenting a spent token revokes the family: the live successor stops working too.
            var revoked = session
            revoked.revokedAt = Self.at(30)
            #expect(
                try await store.rotateRefreshToken(presentedHash: "r-1", successorHash: "r-4", now: Self.at(30))
                    == .reused(revoked))
            #expect(try await store.session("s-1")?.revokedAt == Self.at(30))
            #expect(
                try await store.rotateRefreshToken(presentedHash: "r-3", successorHash: "r-5", now: Self.at(31))
                    == .invalid)
            #expect(try await store.revokedSessionIDs(since: Self.at(30)) == ["s-1"])
            #expect(try await store.revokedSessionIDs(since: Self.at(31)).isEmpty)

            // An expired family is invalid.
            try await store.createSession(Self.session("s-2", expiresIn: 60), refreshTokenHash: "q-1")
            #expect(
                try await store.rotateRefreshToken(presentedHash: "q-1", successorHash: "q-2", now: Self.at(70))
                    == .invalid)

            // Logout: revoked once; a second revocation or an unknown session answers false.
            try await store.createSession(Self.session("s-3"), refreshTokenHash: "p-1")
            #expect(try await store.revokeSession("s-3", now: Self.at(40)))
            #expect(try await !store.revokeSession("s-3", now: Self.at(41)))
            #expect(try await !store.revokeSession("s-9", now: Self.at(41)))
            #expect(try await store.session("s-3")?.revokedAt == Self.at(40))
            #expect(
                try await store.rotateRefreshToken(presentedHash: "p-1", successorHash: "p-2", now: Self.at(42))
                    == .invalid)
            #expect(try await Set(store.revokedSessionIDs(since: Self.at(0))) == ["s-1", "s-3"])
        }
    }

    /// Two presentations of one refresh token at the same moment: exactly one rotates, the other is reuse and
    /// revokes the family. Repeated to give interleavings a chance.
    @Test(arguments: StoreBackend.configured)
    func concurrentRefreshRotationRotatesOnce(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            for round in 0..<20 {
                try await store.createSession(Self.session("s-\(round)"), refreshTokenHash: "r-\(round)")
                let outcomes = try await withThrowingTaskGroup(of: RefreshOutcome.self) { group in
                    for replica in 0..<2 {
                        group.addTask {
                            try await store.rotateRefreshToken(
                                presentedHash: "r-\(round)", successorHash: "r-\(round)-\(replica)", now: Self.at(20))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let rotated = outcomes.filter { if case .rotated = $0 { true } else { false } }.count
                let reused = outcomes.filter { if case .reused = $0 { true } else { false } }.count
                #expect(rotated == 1 && reused == 1, "round \(round): \(outcomes)")
                #expect(try await store.session("s-\(round)")?.revokedAt != nil)
            }
        }
    }

    // MARK: - Roles and assignments

    @Test(arguments: StoreBackend.configured)
    func rolesBumpTheirWorkspacesOrTheWholeTenant(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            func versions() async throws -> [Int64] {
                [
                    try await store.policyVersion(tenantID: "acme", workspaceID: "default"),
                    try await store.policyVersion(tenantID: "acme", workspaceID: "eu"),
                    try await store.policyVersion(tenantID: "other", workspaceID: "default"),
                ]
            }
            let start = try await versions()
            let wide = Self.role(
                "builder", tenant: "acme", permissions: ["connections.read", "connections.create", "integrations.read"])
            try await store.createRole(wide)
            #expect(try await versions() == [start[0] + 1, start[1] + 1, start[2]])
            let local = Self.role("eu-only", tenant: "acme", workspace: "eu")
            try await store.createRole(local)
            #expect(try await versions() == [start[0] + 1, start[1] + 2, start[2]])

            #expect(try await store.role(tenantID: "acme", roleID: "builder") == wide)
            #expect(try await store.role(tenantID: "other", roleID: "builder") == nil)
            #expect(try await store.roles(tenantID: "acme").map(\.roleID) == ["builder", "eu-only"])
            await expectCode(.conflict) {
                try await store.createRole(Self.role("builder", tenant: "acme", name: "new name"))
            }
            await expectCode(.conflict) { try await store.createRole(Self.role("b2", tenant: "acme", name: "builder")) }
            try await store.createRole(Self.role("builder", tenant: "other"))

            var changed = wide
            changed.name = "Builder"
            changed.description = nil
            changed.permissions = ["integrations.read"]
            changed.updatedAt = Self.at(50)
            #expect(try await store.updateRole(changed))
            #expect(try await store.role(tenantID: "acme", roleID: "builder") == changed)
            #expect(try await versions() == [start[0] + 2, start[1] + 3, start[2] + 1])
            var clash = local
            clash.name = "Builder"
            await expectCode(.conflict) { _ = try await store.updateRole(clash) }
            #expect(try await !store.updateRole(Self.role("ghost", tenant: "acme")))

            try await store.createAssignment(
                Self.assignment("as-1", tenant: "acme", workspace: "eu", principal: "u-1", role: "eu-only"))
            await expectCode(.conflict) { _ = try await store.deleteRole(tenantID: "acme", roleID: "eu-only") }
            _ = try await store.deleteAssignment(tenantID: "acme", assignmentID: "as-1")
            let beforeDelete = try await versions()
            #expect(try await store.deleteRole(tenantID: "acme", roleID: "eu-only"))
            #expect(try await versions() == [beforeDelete[0], beforeDelete[1] + 1, beforeDelete[2]])
            #expect(try await !store.deleteRole(tenantID: "acme", roleID: "eu-only"))
            #expect(try await store.role(tenantID: "other", roleID: "builder") != nil)
        }
    }

    @Test(arguments: StoreBackend.configured)
    func assignments(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let before = try await store.policyVersion(tenantID: "acme", workspaceID: "eu")
            let first = Self.assignment(
                "as-1", tenant: "acme", workspace: "eu", principal: "u-1", role: "viewer", at: 1)
            let second = Self.assignment(
                "as-2", tenant: "acme", workspace: "eu", principal: "u-1", role: "auditor", at: 2)
            let third = Self.assignment(
                "as-3", tenant: "acme", workspace: "default", principal: "u-2", role: "viewer", at: 3)
            for assignment in [first, second, third] { try await store.createAssignment(assignment) }
            #expect(try await store.policyVersion(tenantID: "acme", workspaceID: "eu") == before + 2)
            await expectCode(.conflict) {
                try await store.createAssignment(
                    Self.assignment("as-4", tenant: "acme", workspace: "eu", principal: "u-1", role: "viewer"))
            }

            #expect(
                try await store.assignments(tenantID: "acme", principalID: nil, workspaceID: nil) == [
                    first, second, third,
                ])
            #expect(
                try await store.assignments(tenantID: "acme", principalID: "u-1", workspaceID: nil) == [first, second])
            #expect(try await store.assignments(tenantID: "acme", principalID: nil, workspaceID: "default") == [third])
            #expect(try await store.assignments(tenantID: "acme", principalID: "u-2", workspaceID: "eu").isEmpty)
            #expect(try await store.assignments(tenantID: "other", principalID: nil, workspaceID: nil).isEmpty)

            #expect(try await store.deleteAssignment(tenantID: "other", assignmentID: "as-1") == nil)
            #expect(try await store.deleteAssignment(tenantID: "acme", assignmentID: "as-1") == first)
            #expect(try await store.deleteAssignment(tenantID: "acme", assignmentID: "as-1") == nil)
            #expect(try await store.policyVersion(tenantID: "acme", workspaceID: "eu") == before + 3)
        }
    }

    /// Concurrent changes in one workspace each bump its version once; none is lost.
    @Test(arguments: StoreBackend.configured)
    func concurrentChangesBumpOnceEach(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let before = try await store.policyVersion(tenantID: "acme", workspaceID: "default")
            let (_, cursor) = try await store.policyVersions(after: nil, tenantID: nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try await store.createAssignment(
                            Self.assignment("as-\(index)", tenant: "acme", principal: "u-\(index)", role: "viewer"))
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.policyVersion(tenantID: "acme", workspaceID: "default") == before + 12)
            let (entries, next) = try await store.policyVersions(after: cursor, tenantID: "acme")
            #expect(entries.map(\.workspaceID) == ["default"])
            #expect(entries.first?.version == before + 12)
            #expect(next == cursor + 12)
        }
    }

    // MARK: - Permissions

    @Test(arguments: StoreBackend.configured)
    func permissionRegistry(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let seeded = try await store.permissions()
            #expect(seeded.map(\.name) == seeded.map(\.name).sorted())
            #expect(Set(seeded.map(\.name)).isSuperset(of: PermissionCatalog.seed.map(\.name)))

            let entries = [
                PermissionCatalog.Entry(name: "reports.read", service: "reports", label: "Read reports"),
                PermissionCatalog.Entry(name: "reports.create", service: "reports", label: "Create reports"),
            ]
            try await store.registerPermissions(service: "reports", entries: entries)
            try await store.registerPermissions(service: "reports", entries: entries)
            try await store.registerPermissions(
                service: "reports",
                entries: [PermissionCatalog.Entry(name: "reports.read", service: "reports", label: "View reports")])
            let registered = try await store.permissions().filter { $0.service == "reports" }
            #expect(
                registered == [
                    PermissionCatalog.Entry(name: "reports.create", service: "reports", label: "Create reports"),
                    PermissionCatalog.Entry(name: "reports.read", service: "reports", label: "View reports"),
                ])

            // A name owned by another service is a conflict, and nothing of that registration is applied.
            await expectCode(.conflict) {
                try await store.registerPermissions(
                    service: "billing",
                    entries: [
                        PermissionCatalog.Entry(name: "billing.read", service: "billing", label: "Read"),
                        PermissionCatalog.Entry(name: "reports.read", service: "billing", label: "Stolen"),
                    ])
            }
            let after = try await store.permissions()
            #expect(!after.contains { $0.name == "billing.read" })
            #expect(after.first { $0.name == "reports.read" }?.label == "View reports")
        }
    }

    // MARK: - Policy versions

    @Test(arguments: StoreBackend.configured)
    func policyVersionFeed(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await seed(store)
            let (all, cursor) = try await store.policyVersions(after: nil, tenantID: nil)
            #expect(
                Set(all.map { "\($0.tenantID)/\($0.workspaceID)" }) == ["acme/default", "acme/eu", "other/default"])
            #expect(all.allSatisfy { $0.version == 1 })
            #expect(all.map(\.sequence) == all.map(\.sequence).sorted())
            #expect(cursor == all.map(\.sequence).max())
            #expect(try await store.policyVersions(after: cursor, tenantID: nil).entries.isEmpty)
            #expect(try await store.policyVersions(after: cursor, tenantID: nil).cursor == cursor)
            #expect(
                try await store.policyVersions(after: nil, tenantID: "other").entries.map(\.workspaceID) == ["default"])

            try await store.createRole(Self.role("r", tenant: "acme"))
            let (changed, next) = try await store.policyVersions(after: cursor, tenantID: nil)
            #expect(
                changed.map { "\($0.tenantID)/\($0.workspaceID)/\($0.version)" } == ["acme/default/2", "acme/eu/2"])
            #expect(next > cursor)
            #expect(try await store.policyVersions(after: cursor, tenantID: "other").entries.isEmpty)
            #expect(try await store.policyVersions(after: cursor, tenantID: "other").cursor == cursor)
        }
    }

    // MARK: - Audit

    @Test(arguments: StoreBackend.configured)
    func auditLogIsOrderedFilteredAndPaged(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            for index in 0..<5 {
                try await store.appendAudit(
                    AuditEvent(
                        at: Self.at(TimeInterval(index)), actor: "acme/u-1",
                        tenantID: index.isMultiple(of: 2) ? "acme" : "other",
                        workspaceID: index == 0 ? nil : "default", action: "test.\(index)",
                        target: index == 1 ? nil : "t-\(index)", requestID: index == 2 ? "req-2" : nil
                    ))
            }
            try await store.appendAudit(
                AuditEvent(
                    at: Self.at(5), actor: "acme/u-2", tenantID: "acme", workspaceID: "w2", action: "test.5",
                    target: nil, requestID: nil, originWorkspaceID: "default"
                ))
            let all = try await store.auditEvents(AuditQuery(tenantID: nil))
            #expect(all.map(\.action) == (0..<6).reversed().map { "test.\($0)" }, "newest first")
            #expect(all.map(\.id) == all.map(\.id).sorted(by: >) && Set(all.map(\.id)).count == 6)
            #expect(
                all[5]
                    == AuditEvent(
                        id: all[5].id, at: Self.at(0), actor: "acme/u-1", tenantID: "acme", workspaceID: nil,
                        action: "test.0", target: "t-0", requestID: nil))
            #expect(all[4].target == nil && all[3].requestID == "req-2")
            #expect(all[0].originWorkspaceID == "default" && all[0].workspaceID == "w2")
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: "acme")).map(\.action) == [
                    "test.5", "test.4", "test.2", "test.0",
                ])
            // Paged by cursor: the page after the second event.
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: nil, before: all[1].id, limit: 2)).map(\.action) == [
                    "test.3", "test.2",
                ])
            // Filters: one workspace (acted on or from), action, actor, time.
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: "acme", workspaceID: "default")).map(\.action) == [
                    "test.5", "test.4", "test.2",
                ])
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: "acme", workspaceID: "w2")).map(\.action) == ["test.5"]
            )
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: nil, action: "test.3")).map(\.action) == ["test.3"])
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: nil, actor: "acme/u-2")).map(\.action) == ["test.5"])
            #expect(
                try await store.auditEvents(AuditQuery(tenantID: nil, since: Self.at(2), until: Self.at(4))).map(
                    \.action) == ["test.3", "test.2"])
            #expect(try await store.auditEvents(AuditQuery(tenantID: "nobody")).isEmpty)
        }
    }

    @Test(arguments: StoreBackend.configured)
    func loginFailuresAreCountedPerKeyWithinTheWindowAndCleared(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            for index in 0..<3 {
                try await store.recordLoginFailure(
                    keys: ["k1", "k2"], at: Self.at(TimeInterval(index * 10)), forgetBefore: Self.at(-1000))
            }
            try await store.recordLoginFailure(keys: ["k3"], at: Self.at(5), forgetBefore: Self.at(-1000))
            var counts = try await store.loginFailures(keys: ["k1", "k3", "unknown"], since: Self.at(0))
            #expect(counts["k1"] == LoginFailures(count: 3, last: Self.at(20)))
            #expect(counts["k3"] == LoginFailures(count: 1, last: Self.at(5)))
            #expect(counts["unknown"] == nil)
            #expect(
                try await store.loginFailures(keys: ["k1"], since: Self.at(15))["k1"]?.count == 1,
                "only those since the window's start")
            // Recording forgets the key's older failures.
            try await store.recordLoginFailure(keys: ["k1"], at: Self.at(100), forgetBefore: Self.at(15))
            #expect(try await store.loginFailures(keys: ["k1"], since: Self.at(-1000))["k1"]?.count == 2)
            try await store.clearLoginFailures(keys: ["k1"])
            counts = try await store.loginFailures(keys: ["k1", "k2"], since: Self.at(-1000))
            #expect(counts["k1"] == nil && counts["k2"]?.count == 3)
        }
    }

    @Test(arguments: StoreBackend.configured)
    func principalIDsAreUniqueAcrossKindsAndNeverReused(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await store.createTenant(Tenant(tenantID: "acme", name: "Acme", createdAt: Self.at(0)))
            try await store.createTenant(Tenant(tenantID: "other", name: "Other", createdAt: Self.at(0)))
            try await store.createUser(
                UserRecord(tenantID: "acme", userID: "pat", username: "pat", passwordHash: "h", createdAt: Self.at(1)))
            let key = APIKeyRecord(
                tenantID: "acme", keyID: "pat", name: "k", workspaceID: "default", secretHash: "s",
                createdAt: Self.at(1), expiresAt: nil)
            await expectCode(.conflict) { try await store.createAPIKey(key) }
            #expect(try await store.apiKey(keyID: "pat") == nil, "nothing half-written")
            #expect(try await store.deleteUser(tenantID: "acme", userID: "pat", now: Self.at(2)) != nil)
            await expectCode(.conflict) {
                try await store.createUser(
                    UserRecord(
                        tenantID: "acme", userID: "pat", username: "pat2", passwordHash: "h", createdAt: Self.at(3)))
            }
            #expect(try await store.user(tenantID: "acme", username: "pat2") == nil)
            // Another tenant may use the id.
            try await store.createUser(
                UserRecord(tenantID: "other", userID: "pat", username: "pat", passwordHash: "h", createdAt: Self.at(3)))
        }
    }
}
