import Foundation
import GatewayCore
import SQLiteNIO

extension SQLiteData {
    init(_ date: Date) { self = .float(date.timeIntervalSince1970) }
    init(_ date: Date?) { self = date.map { .float($0.timeIntervalSince1970) } ?? .null }
    init(_ text: String?) { self = text.map { .text($0) } ?? .null }
}

/// Column accessors that throw ``StoreError/corrupt(_:)`` for a column that is missing or holds another type,
/// as the PostgreSQL store's decoding does: a damaged row is never read as `""`, the epoch or 0.
extension SQLiteRow {
    func value(_ name: String) throws -> SQLiteData {
        guard let data = column(name) else { throw StoreError.corrupt("no column \(name)") }
        return data
    }

    func text(_ name: String) throws -> String {
        guard case .text(let text) = try value(name) else { throw StoreError.corrupt("\(name) is not text") }
        return text
    }

    func optionalText(_ name: String) throws -> String? {
        let data = try value(name)
        if data.isNull { return nil }
        guard case .text(let text) = data else { throw StoreError.corrupt("\(name) is not text") }
        return text
    }

    func date(_ name: String) throws -> Date {
        guard let date = try optionalDate(name) else { throw StoreError.corrupt("\(name) is null") }
        return date
    }

    func optionalDate(_ name: String) throws -> Date? {
        switch try value(name) {
        case .null: return nil
        case .float(let seconds): return Date(timeIntervalSince1970: seconds)
        case .integer(let seconds): return Date(timeIntervalSince1970: TimeInterval(seconds))
        default: throw StoreError.corrupt("\(name) is not a time")
        }
    }

    func int(_ name: String) throws -> Int64 {
        guard case .integer(let value) = try value(name) else { throw StoreError.corrupt("\(name) is not an integer") }
        return Int64(value)
    }
}

extension SQLiteStore {
    /// Inserts the seed permissions that are missing (idempotent; run at every open).
    func seedPermissions() async throws {
        try await transaction { tx in
            for entry in PermissionCatalog.seed {
                try await tx.query(
                    "INSERT OR IGNORE INTO permissions (name, service, label) VALUES (?, ?, ?)",
                    [.text(entry.name), .text(entry.service), .text(entry.label)])
            }
        }
    }

    /// A role's stored permission list (JSON array of names).
    static func permissionList(_ json: String) throws -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(json.utf8))
        } catch {
            throw StoreError.corrupt("permissions is not a JSON list of names")
        }
    }

    static func isUniqueViolation(_ error: any Error) -> Bool {
        "\(error)".contains("UNIQUE constraint failed") || "\(error)".contains("PRIMARY KEY")
    }

    // MARK: - Tenants and workspaces

    public func serializingTenant<T: Sendable>(_ tenantID: String, _ body: @Sendable () async throws -> T) async throws
        -> T
    {
        try await adminWrites.withLock(body)
    }

    public func isEmpty() async throws -> Bool {
        try await query("SELECT COUNT(*) AS n FROM tenants").first?.int("n") == 0
    }

    public func createTenant(_ tenant: Tenant) async throws {
        try await transaction { tx in
            guard try await tx.query("SELECT 1 FROM tenants WHERE tenant_id = ?", [.text(tenant.tenantID)]).isEmpty
            else {
                throw GatewayError.conflict("A tenant with this id exists.")
            }
            try await tx.query(
                "INSERT INTO tenants (tenant_id, name, created_at) VALUES (?, ?, ?)",
                [.text(tenant.tenantID), .text(tenant.name), .init(tenant.createdAt)])
            try await Self.insertWorkspace(
                tx,
                Workspace(
                    tenantID: tenant.tenantID, workspaceID: Tenant.defaultWorkspaceID, name: "Default",
                    createdAt: tenant.createdAt))
        }
    }

    static func insertWorkspace(_ tx: Transaction, _ workspace: Workspace) async throws {
        try await tx.query(
            "INSERT INTO workspaces (tenant_id, workspace_id, name, created_at) VALUES (?, ?, ?, ?)",
            [
                .text(workspace.tenantID), .text(workspace.workspaceID), .text(workspace.name),
                .init(workspace.createdAt),
            ]
        )
        let sequence = try await nextSequence(tx)
        try await tx.query(
            "INSERT INTO policy_versions (tenant_id, workspace_id, version, seq) VALUES (?, ?, 1, ?)",
            [.text(workspace.tenantID), .text(workspace.workspaceID), .integer(Int(sequence))]
        )
    }

    /// The workspaces a change of assignments in `workspaceIDs` bumps: all of the tenant's (`nil`) when one is `*`.
    static func bumpTargets(_ workspaceIDs: [String]) -> [String]? {
        workspaceIDs.contains(WorkspaceScope.tenantWideID) ? nil : workspaceIDs
    }

    static func nextSequence(_ tx: Transaction) async throws -> Int64 {
        try await tx.query("UPDATE sequences SET value = value + 1 WHERE name = 'policy' RETURNING value").first?.int(
            "value") ?? 0
    }

    /// Increments the policy version of each workspace (all of the tenant's when `workspaceIDs` is nil).
    @discardableResult
    static func bumpPolicy(_ tx: Transaction, tenantID: String, workspaceIDs: [String]?) async throws -> [String] {
        let sequence = try await nextSequence(tx)
        if let workspaceIDs {
            for workspaceID in Set(workspaceIDs) {
                try await tx.query(
                    "UPDATE policy_versions SET version = version + 1, seq = ? WHERE tenant_id = ? AND workspace_id = ?",
                    [.integer(Int(sequence)), .text(tenantID), .text(workspaceID)]
                )
            }
            return Array(Set(workspaceIDs)).sorted()
        }
        let rows = try await tx.query(
            "UPDATE policy_versions SET version = version + 1, seq = ? WHERE tenant_id = ? RETURNING workspace_id",
            [.integer(Int(sequence)), .text(tenantID)]
        )
        return try rows.map { try $0.text("workspace_id") }.sorted()
    }

    public func tenant(_ tenantID: String) async throws -> Tenant? {
        try await query("SELECT * FROM tenants WHERE tenant_id = ?", [.text(tenantID)]).first.map(Self.tenant)
    }

    public func tenants() async throws -> [Tenant] {
        try await query("SELECT * FROM tenants ORDER BY tenant_id").map(Self.tenant)
    }

    static func tenant(_ row: SQLiteRow) throws -> Tenant {
        try Tenant(tenantID: row.text("tenant_id"), name: row.text("name"), createdAt: row.date("created_at"))
    }

    public func createWorkspace(_ workspace: Workspace) async throws {
        try await transaction { tx in
            guard
                !(try await tx.query("SELECT 1 FROM tenants WHERE tenant_id = ?", [.text(workspace.tenantID)]).isEmpty)
            else {
                throw GatewayError.notFound("The tenant does not exist.")
            }
            guard
                try await tx.query(
                    "SELECT 1 FROM workspaces WHERE tenant_id = ? AND workspace_id = ?",
                    [.text(workspace.tenantID), .text(workspace.workspaceID)]
                ).isEmpty
            else {
                throw GatewayError.conflict("A workspace with this id exists.")
            }
            try await Self.insertWorkspace(tx, workspace)
        }
    }

    public func workspace(tenantID: String, workspaceID: String) async throws -> Workspace? {
        try await query(
            "SELECT * FROM workspaces WHERE tenant_id = ? AND workspace_id = ?", [.text(tenantID), .text(workspaceID)]
        ).first.map(Self.workspace)
    }

    public func workspaces(tenantID: String) async throws -> [Workspace] {
        try await query("SELECT * FROM workspaces WHERE tenant_id = ? ORDER BY workspace_id", [.text(tenantID)]).map(
            Self.workspace)
    }

    static func workspace(_ row: SQLiteRow) throws -> Workspace {
        try Workspace(
            tenantID: row.text("tenant_id"), workspaceID: row.text("workspace_id"), name: row.text("name"),
            createdAt: row.date("created_at"))
    }

    // MARK: - Users

    public func createUser(_ user: UserRecord) async throws {
        try await transaction { tx in
            let existing = try await tx.query(
                "SELECT 1 FROM users WHERE tenant_id = ? AND (user_id = ? OR username = ?)",
                [.text(user.tenantID), .text(user.userID), .text(user.username)]
            )
            guard existing.isEmpty else { throw GatewayError.conflict("A user with this id or username exists.") }
            try await Self.claimPrincipalID(tx, tenantID: user.tenantID, principalID: user.userID, kind: "user")
            try await tx.query(
                "INSERT INTO users (tenant_id, user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(user.tenantID), .text(user.userID), .text(user.username), .text(user.passwordHash),
                    .init(user.createdAt),
                ]
            )
        }
    }

    public func user(tenantID: String, userID: String) async throws -> UserRecord? {
        try await query("SELECT * FROM users WHERE tenant_id = ? AND user_id = ?", [.text(tenantID), .text(userID)])
            .first.map(Self.user)
    }

    public func user(tenantID: String, username: String) async throws -> UserRecord? {
        try await query("SELECT * FROM users WHERE tenant_id = ? AND username = ?", [.text(tenantID), .text(username)])
            .first.map(Self.user)
    }

    public func users(tenantID: String) async throws -> [UserRecord] {
        try await query("SELECT * FROM users WHERE tenant_id = ? ORDER BY username", [.text(tenantID)]).map(Self.user)
    }

    static func user(_ row: SQLiteRow) throws -> UserRecord {
        try UserRecord(
            tenantID: row.text("tenant_id"), userID: row.text("user_id"), username: row.text("username"),
            passwordHash: row.text("password_hash"), createdAt: row.date("created_at"))
    }

    public func updatePassword(tenantID: String, userID: String, passwordHash: String) async throws -> Bool {
        !(try await query(
            "UPDATE users SET password_hash = ? WHERE tenant_id = ? AND user_id = ? RETURNING user_id",
            [.text(passwordHash), .text(tenantID), .text(userID)]
        ).isEmpty)
    }

    public func deleteUser(tenantID: String, userID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { tx in
            let deleted = try await tx.query(
                "DELETE FROM users WHERE tenant_id = ? AND user_id = ? RETURNING user_id",
                [.text(tenantID), .text(userID)])
            guard !deleted.isEmpty else { return nil }
            return try await Self.removePrincipal(tx, tenantID: tenantID, principalID: userID, now: now)
        }
    }

    /// Deletes a principal's assignments, revokes its sessions and bumps the workspaces it had roles in.
    static func removePrincipal(_ tx: Transaction, tenantID: String, principalID: String, now: Date) async throws
        -> DeletedPrincipal
    {
        let workspaces = try await tx.query(
            "DELETE FROM assignments WHERE tenant_id = ? AND principal_id = ? RETURNING workspace_id",
            [.text(tenantID), .text(principalID)]
        ).map { try $0.text("workspace_id") }
        let sessions = try await tx.query(
            "UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND principal_id = ? AND revoked_at IS NULL RETURNING session_id",
            [.init(now), .text(tenantID), .text(principalID)]
        ).map { try $0.text("session_id") }
        let bumped =
            workspaces.isEmpty
            ? [] : try await bumpPolicy(tx, tenantID: tenantID, workspaceIDs: bumpTargets(workspaces))
        return DeletedPrincipal(revokedSessionIDs: sessions.sorted(), bumpedWorkspaces: bumped)
    }

    // MARK: - API keys

    /// Claims a principal id in its tenant for good: `conflict` when a user, key or client has (or ever had) it.
    static func claimPrincipalID(_ tx: Transaction, tenantID: String, principalID: String, kind: String) async throws {
        guard
            try await tx.query(
                "SELECT 1 FROM principal_ids WHERE tenant_id = ? AND principal_id = ?",
                [.text(tenantID), .text(principalID)]
            ).isEmpty
        else {
            throw GatewayError.conflict(
                "A principal with this id exists or existed in this tenant; ids are never reused.")
        }
        try await tx.query(
            "INSERT INTO principal_ids (tenant_id, principal_id, kind) VALUES (?, ?, ?)",
            [.text(tenantID), .text(principalID), .text(kind)])
    }

    public func createAPIKey(_ key: APIKeyRecord) async throws {
        do {
            try await transaction { tx in
                try await Self.claimPrincipalID(tx, tenantID: key.tenantID, principalID: key.keyID, kind: "api_key")
                try await tx.query(
                    "INSERT INTO api_keys (key_id, tenant_id, name, workspace_id, secret_hash, created_at, expires_at, service) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        .text(key.keyID), .text(key.tenantID), .text(key.name), .text(key.workspaceID),
                        .text(key.secretHash), .init(key.createdAt), .init(key.expiresAt), .init(key.service),
                    ]
                )
            }
        } catch  where Self.isUniqueViolation(error) {
            throw GatewayError.conflict("An API key with this id exists.")
        }
    }

    public func apiKey(keyID: String) async throws -> APIKeyRecord? {
        try await query("SELECT * FROM api_keys WHERE key_id = ?", [.text(keyID)]).first.map(Self.apiKey)
    }

    public func apiKeys(tenantID: String) async throws -> [APIKeyRecord] {
        try await query("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, key_id", [.text(tenantID)])
            .map(Self.apiKey)
    }

    static func apiKey(_ row: SQLiteRow) throws -> APIKeyRecord {
        try APIKeyRecord(
            tenantID: row.text("tenant_id"), keyID: row.text("key_id"), name: row.text("name"),
            workspaceID: row.text("workspace_id"),
            secretHash: row.text("secret_hash"), createdAt: row.date("created_at"),
            expiresAt: row.optionalDate("expires_at"),
            service: row.optionalText("service")
        )
    }

    public func bindAPIKeyService(keyID: String, service: String) async throws -> Bool {
        !(try await query(
            "UPDATE api_keys SET service = ? WHERE key_id = ? AND (service IS NULL OR service = ?) RETURNING key_id",
            [.text(service), .text(keyID), .text(service)]
        ).isEmpty)
    }

    public func deleteAPIKey(tenantID: String, keyID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { tx in
            let deleted = try await tx.query(
                "DELETE FROM api_keys WHERE tenant_id = ? AND key_id = ? RETURNING key_id",
                [.text(tenantID), .text(keyID)])
            guard !deleted.isEmpty else { return nil }
            return try await Self.removePrincipal(tx, tenantID: tenantID, principalID: keyID, now: now)
        }
    }

    // MARK: - Sessions

    public func createSession(_ session: SessionRecord, refreshTokenHash: String) async throws {
        try await transaction { tx in try await Self.insertSession(tx, session, refreshTokenHash: refreshTokenHash) }
    }

    /// A session with its first refresh token (a login, or an authorization code's redemption).
    static func insertSession(_ tx: Transaction, _ session: SessionRecord, refreshTokenHash: String) async throws {
        try await tx.query(
            "INSERT INTO sessions (session_id, tenant_id, workspace_id, principal_id, created_at, expires_at, revoked_at, client_id, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                .text(session.sessionID), .text(session.tenantID), .text(session.workspaceID),
                .text(session.principalID), .init(session.createdAt),
                .init(session.expiresAt), .init(session.revokedAt), .init(session.clientID), .init(session.scope),
            ]
        )
        try await tx.query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)",
            [.text(refreshTokenHash), .text(session.sessionID), .init(session.createdAt)]
        )
    }

    public func session(_ sessionID: String) async throws -> SessionRecord? {
        try await query("SELECT * FROM sessions WHERE session_id = ?", [.text(sessionID)]).first.map(Self.session)
    }

    static func session(_ row: SQLiteRow) throws -> SessionRecord {
        try SessionRecord(
            sessionID: row.text("session_id"), tenantID: row.text("tenant_id"), workspaceID: row.text("workspace_id"),
            principalID: row.text("principal_id"), createdAt: row.date("created_at"), expiresAt: row.date("expires_at"),
            revokedAt: row.optionalDate("revoked_at"), clientID: row.optionalText("client_id"),
            scope: row.optionalText("scope")
        )
    }

    public func rotateRefreshToken(presentedHash: String, successorHash: String, now: Date) async throws
        -> RefreshOutcome
    {
        try await transaction { tx in
            guard
                let row = try await tx.query(
                    "SELECT s.* FROM refresh_tokens r JOIN sessions s ON s.session_id = r.session_id WHERE r.token_hash = ?",
                    [.text(presentedHash)]
                ).first
            else { return .invalid }
            var session = try Self.session(row)
            guard session.revokedAt == nil, session.expiresAt > now else { return .invalid }
            let spent = try await tx.query(
                "UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL RETURNING token_hash",
                [.init(now), .text(presentedHash)]
            )
            guard !spent.isEmpty else {
                try await tx.query(
                    "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
                    [.init(now), .text(session.sessionID)])
                session.revokedAt = now
                return .reused(session)
            }
            try await tx.query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)",
                [.text(successorHash), .text(session.sessionID), .init(now)]
            )
            return .rotated(session)
        }
    }

    public func revokeSession(_ sessionID: String, now: Date) async throws -> Bool {
        !(try await query(
            "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL RETURNING session_id",
            [.init(now), .text(sessionID)]
        ).isEmpty)
    }

    public func revokeSessions(tenantID: String, principalID: String, except: String?, now: Date) async throws
        -> [String]
    {
        try await query(
            "UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND principal_id = ? AND revoked_at IS NULL AND session_id <> ? RETURNING session_id",
            [.init(now), .text(tenantID), .text(principalID), .text(except ?? "")]
        ).map { try $0.text("session_id") }.sorted()
    }

    public func revokedSessionIDs(since: Date) async throws -> [String] {
        try await query(
            "SELECT session_id FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= ?", [.init(since)]
        ).map { try $0.text("session_id") }
    }

    // MARK: - Roles and assignments

    public func createRole(_ role: RoleRecord) async throws {
        try await transaction { tx in
            let existing = try await tx.query(
                "SELECT 1 FROM roles WHERE tenant_id = ? AND (role_id = ? OR name = ?)",
                [.text(role.tenantID), .text(role.roleID), .text(role.name)])
            guard existing.isEmpty else { throw GatewayError.conflict("A role with this id or name exists.") }
            try await tx.query(
                "INSERT INTO roles (tenant_id, role_id, name, description, workspace_id, permissions, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(role.tenantID), .text(role.roleID), .text(role.name), .init(role.description),
                    .init(role.workspaceID), .text(Self.json(role.permissions)), .init(role.createdAt),
                    .init(role.updatedAt),
                ]
            )
            try await Self.bumpPolicy(tx, tenantID: role.tenantID, workspaceIDs: role.workspaceID.map { [$0] })
        }
    }

    public func role(tenantID: String, roleID: String) async throws -> RoleRecord? {
        try await query("SELECT * FROM roles WHERE tenant_id = ? AND role_id = ?", [.text(tenantID), .text(roleID)])
            .first.map(Self.role)
    }

    public func roles(tenantID: String) async throws -> [RoleRecord] {
        try await query("SELECT * FROM roles WHERE tenant_id = ? ORDER BY role_id", [.text(tenantID)]).map(Self.role)
    }

    static func role(_ row: SQLiteRow) throws -> RoleRecord {
        try RoleRecord(
            roleID: row.text("role_id"), tenantID: row.text("tenant_id"), name: row.text("name"),
            description: row.optionalText("description"),
            workspaceID: row.optionalText("workspace_id"),
            permissions: try Self.permissionList(row.text("permissions")),
            createdAt: row.date("created_at"), updatedAt: row.date("updated_at")
        )
    }

    static func json(_ list: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(list)) ?? Data("[]".utf8), as: UTF8.self)
    }

    public func updateRole(_ role: RoleRecord) async throws -> Bool {
        try await transaction { tx in
            guard
                let row = try await tx.query(
                    "SELECT * FROM roles WHERE tenant_id = ? AND role_id = ?",
                    [.text(role.tenantID), .text(role.roleID)]
                ).first
            else {
                return false
            }
            let old = try Self.role(row)
            let clash = try await tx.query(
                "SELECT 1 FROM roles WHERE tenant_id = ? AND name = ? AND role_id <> ?",
                [.text(role.tenantID), .text(role.name), .text(role.roleID)])
            guard clash.isEmpty else { throw GatewayError.conflict("A role with this name exists.") }
            try await tx.query(
                "UPDATE roles SET name = ?, description = ?, permissions = ?, updated_at = ? WHERE tenant_id = ? AND role_id = ?",
                [
                    .text(role.name), .init(role.description), .text(Self.json(role.permissions)),
                    .init(role.updatedAt), .text(role.tenantID), .text(role.roleID),
                ]
            )
            try await Self.bumpPolicy(tx, tenantID: role.tenantID, workspaceIDs: old.workspaceID.map { [$0] })
            return true
        }
    }

    public func deleteRole(tenantID: String, roleID: String) async throws -> Bool {
        try await transaction { tx in
            guard
                let row = try await tx.query(
                    "SELECT * FROM roles WHERE tenant_id = ? AND role_id = ?", [.text(tenantID), .text(roleID)]
                ).first
            else {
                return false
            }
            guard
                try await tx.query(
                    "SELECT 1 FROM assignments WHERE tenant_id = ? AND role_id = ? LIMIT 1",
                    [.text(tenantID), .text(roleID)]
                ).isEmpty
            else {
                throw GatewayError.conflict("The role is still assigned; delete its assignments first.")
            }
            try await tx.query(
                "DELETE FROM roles WHERE tenant_id = ? AND role_id = ?", [.text(tenantID), .text(roleID)])
            try await Self.bumpPolicy(tx, tenantID: tenantID, workspaceIDs: try Self.role(row).workspaceID.map { [$0] })
            return true
        }
    }

    public func createAssignment(_ assignment: Assignment) async throws {
        try await transaction { tx in
            let existing = try await tx.query(
                "SELECT 1 FROM assignments WHERE tenant_id = ? AND workspace_id = ? AND principal_id = ? AND role_id = ?",
                [
                    .text(assignment.tenantID), .text(assignment.workspaceID), .text(assignment.principalID),
                    .text(assignment.roleID),
                ]
            )
            guard existing.isEmpty else {
                throw GatewayError.conflict("The principal already has this role in the workspace.")
            }
            try await tx.query(
                "INSERT INTO assignments (assignment_id, tenant_id, workspace_id, principal_id, role_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(assignment.assignmentID), .text(assignment.tenantID), .text(assignment.workspaceID),
                    .text(assignment.principalID), .text(assignment.roleID), .init(assignment.createdAt),
                ]
            )
            try await Self.bumpPolicy(
                tx, tenantID: assignment.tenantID, workspaceIDs: Self.bumpTargets([assignment.workspaceID]))
        }
    }

    public func deleteAssignment(tenantID: String, assignmentID: String) async throws -> Assignment? {
        try await transaction { tx in
            guard
                let row = try await tx.query(
                    "DELETE FROM assignments WHERE tenant_id = ? AND assignment_id = ? RETURNING *",
                    [.text(tenantID), .text(assignmentID)]
                ).first
            else { return nil }
            let assignment = try Self.assignment(row)
            try await Self.bumpPolicy(tx, tenantID: tenantID, workspaceIDs: Self.bumpTargets([assignment.workspaceID]))
            return assignment
        }
    }

    public func assignments(tenantID: String, principalID: String?, workspaceID: String?) async throws -> [Assignment] {
        var sql = "SELECT * FROM assignments WHERE tenant_id = ?"
        var binds: [SQLiteData] = [.text(tenantID)]
        if let principalID {
            sql += " AND principal_id = ?"
            binds.append(.text(principalID))
        }
        if let workspaceID {
            sql += " AND workspace_id = ?"
            binds.append(.text(workspaceID))
        }
        return try await query(sql + " ORDER BY created_at, assignment_id", binds).map(Self.assignment)
    }

    static func assignment(_ row: SQLiteRow) throws -> Assignment {
        try Assignment(
            assignmentID: row.text("assignment_id"), tenantID: row.text("tenant_id"),
            workspaceID: row.text("workspace_id"),
            principalID: row.text("principal_id"), roleID: row.text("role_id"), createdAt: row.date("created_at")
        )
    }

    public func registerPermissions(service: String, entries: [PermissionCatalog.Entry]) async throws {
        try await transaction { tx in
            for entry in entries {
                if let owner = try await tx.query("SELECT service FROM permissions WHERE name = ?", [.text(entry.name)])
                    .first?.text("service"), owner != service
                {
                    throw GatewayError.conflict("The permission \(entry.name) belongs to another service.")
                }
            }
            for entry in entries {
                try await tx.query(
                    "INSERT INTO permissions (name, service, label) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET label = excluded.label",
                    [.text(entry.name), .text(service), .text(entry.label)]
                )
            }
        }
    }

    public func permissions() async throws -> [PermissionCatalog.Entry] {
        try await query("SELECT * FROM permissions ORDER BY name").map {
            try PermissionCatalog.Entry(name: $0.text("name"), service: $0.text("service"), label: $0.text("label"))
        }
    }

    // MARK: - Login throttle

    public func recordLoginFailure(keys: [String], at: Date, forgetBefore: Date) async throws {
        try await transaction { tx in
            for key in keys {
                try await tx.query(
                    "DELETE FROM login_failures WHERE key = ? AND at < ?", [.text(key), .init(forgetBefore)])
                try await tx.query("INSERT INTO login_failures (key, at) VALUES (?, ?)", [.text(key), .init(at)])
            }
        }
    }

    public func clearLoginFailures(keys: [String]) async throws {
        for key in keys { try await query("DELETE FROM login_failures WHERE key = ?", [.text(key)]) }
    }

    public func loginFailures(keys: [String], since: Date) async throws -> [String: LoginFailures] {
        var counts: [String: LoginFailures] = [:]
        for key in keys {
            guard
                let row = try await query(
                    "SELECT COUNT(*) AS n, MAX(at) AS last FROM login_failures WHERE key = ? AND at >= ?",
                    [.text(key), .init(since)]
                ).first,
                try row.int("n") > 0
            else { continue }
            counts[key] = try LoginFailures(count: Int(row.int("n")), last: row.date("last"))
        }
        return counts
    }

    // MARK: - Policy versions and audit

    public func policyVersion(tenantID: String, workspaceID: String) async throws -> Int64 {
        guard
            let row = try await query(
                "SELECT version FROM policy_versions WHERE tenant_id = ? AND workspace_id = ?",
                [.text(tenantID), .text(workspaceID)]
            ).first
        else { throw GatewayError.notFound("The workspace does not exist.") }
        return try row.int("version")
    }

    public func policyVersions(after sequence: Int64?, tenantID: String?) async throws -> (
        entries: [PolicyVersionEntry], cursor: Int64
    ) {
        var sql = "SELECT * FROM policy_versions WHERE seq > ?"
        var binds: [SQLiteData] = [.integer(Int(sequence ?? 0))]
        if let tenantID {
            sql += " AND tenant_id = ?"
            binds.append(.text(tenantID))
        }
        let entries = try await query(sql + " ORDER BY seq, tenant_id, workspace_id", binds).map {
            try PolicyVersionEntry(
                tenantID: $0.text("tenant_id"), workspaceID: $0.text("workspace_id"), version: $0.int("version"),
                sequence: $0.int("seq"))
        }
        let cursor = entries.map(\.sequence).max() ?? sequence ?? 0
        return (entries, cursor)
    }

    public func appendAudit(_ event: AuditEvent) async throws {
        try await query(
            "INSERT INTO audit_events (at, actor, tenant_id, workspace_id, action, target, request_id, origin_workspace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                .init(event.at), .text(event.actor), .text(event.tenantID), .init(event.workspaceID),
                .text(event.action), .init(event.target), .init(event.requestID), .init(event.originWorkspaceID),
            ]
        )
    }

    public func auditEvents(_ filter: AuditQuery) async throws -> [AuditEvent] {
        var sql = "SELECT * FROM audit_events WHERE 1 = 1"
        var binds: [SQLiteData] = []
        func add(_ clause: String, _ values: SQLiteData...) {
            sql += " AND " + clause
            binds += values
        }
        if let tenantID = filter.tenantID { add("tenant_id = ?", .text(tenantID)) }
        if let workspaceID = filter.workspaceID {
            add("(workspace_id = ? OR origin_workspace_id = ?)", .text(workspaceID), .text(workspaceID))
        }
        if let action = filter.action { add("action = ?", .text(action)) }
        if let actor = filter.actor { add("actor = ?", .text(actor)) }
        if let since = filter.since { add("at >= ?", .init(since)) }
        if let until = filter.until { add("at < ?", .init(until)) }
        if let before = filter.before { add("id < ?", .integer(Int(before))) }
        binds.append(.integer(filter.limit))
        return try await query(sql + " ORDER BY id DESC LIMIT ?", binds).map {
            try AuditEvent(
                id: $0.int("id"), at: $0.date("at"), actor: $0.text("actor"), tenantID: $0.text("tenant_id"),
                workspaceID: $0.optionalText("workspace_id"), action: $0.text("action"),
                target: $0.optionalText("target"),
                requestID: $0.optionalText("request_id"), originWorkspaceID: $0.optionalText("origin_workspace_id")
            )
        }
    }
}
