import Foundation
import GatewayCore
import Logging
import PostgresNIO

/// ``GatewayStore`` on PostgreSQL, statement for statement the contract of ``SQLiteStore``. Where SQLite serializes
/// whole transactions, PostgreSQL relies on constraints (a unique violation is a `conflict`), row locks (the policy
/// sequence row, the role row) and conditional updates (spending a refresh token).
extension PostgresStore {
    typealias Connection = PostgresConnection

    /// Maps a unique violation of `body` to `conflict` with `detail`.
    @discardableResult
    func conflicting<T: Sendable>(_ detail: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch  where PostgresErrors.isUniqueViolation(error) {
            throw GatewayError.conflict(detail)
        }
    }

    // MARK: - Tenants and workspaces

    /// Holds a session-level advisory lock named after the tenant on one pooled connection while `body` runs its
    /// reads and writes on others: replicas serialize their checks and writes of one tenant (SPEC 4.1).
    public func serializingTenant<T: Sendable>(_ tenantID: String, _ body: @Sendable () async throws -> T) async throws
        -> T
    {
        try await adminWrites.withLock { [client, logger] in
            try await client.withConnection { connection in
                let name = "iam-gateway.admin:" + tenantID
                try await connection.query("SELECT pg_advisory_lock(hashtext(\(name)))", logger: logger)
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                // Released explicitly; if the connection dies first, PostgreSQL releases it with the session.
                _ = try? await connection.query("SELECT pg_advisory_unlock(hashtext(\(name)))", logger: logger)
                return try result.get()
            }
        }
    }

    public func isEmpty() async throws -> Bool {
        try await query("SELECT 1 FROM tenants LIMIT 1").isEmpty
    }

    public func createTenant(_ tenant: Tenant) async throws {
        try await conflicting("A tenant with this id exists.") {
            try await transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO tenants (tenant_id, name, created_at) VALUES (\(tenant.tenantID), \(tenant.name), \(tenant.createdAt))",
                    logger: logger)
                try await self.insertWorkspace(
                    connection,
                    Workspace(
                        tenantID: tenant.tenantID, workspaceID: Tenant.defaultWorkspaceID, name: "Default",
                        createdAt: tenant.createdAt))
            }
        }
    }

    func insertWorkspace(_ connection: Connection, _ workspace: Workspace) async throws {
        try await connection.query(
            "INSERT INTO workspaces (tenant_id, workspace_id, name, created_at) VALUES (\(workspace.tenantID), \(workspace.workspaceID), \(workspace.name), \(workspace.createdAt))",
            logger: logger
        )
        let sequence = try await nextSequence(connection)
        try await connection.query(
            "INSERT INTO policy_versions (tenant_id, workspace_id, version, seq) VALUES (\(workspace.tenantID), \(workspace.workspaceID), 1, \(sequence))",
            logger: logger
        )
        try await notify(connection, .policy)
    }

    /// The next change-feed number. The row lock it takes is held until commit, so feed numbers commit in order and a
    /// reader's cursor never skips a change that commits later.
    func nextSequence(_ connection: Connection) async throws -> Int64 {
        let rows = try await connection.query(
            "UPDATE sequences SET value = value + 1 WHERE name = 'policy' RETURNING value", logger: logger
        ).collect()
        guard let row = rows.first else {
            throw StoreError.unavailable("\(description): the policy sequence row is missing")
        }
        return try row.makeRandomAccess()["value"].decode(Int64.self)
    }

    /// Increments the policy version of each workspace (all of the tenant's when `workspaceIDs` is nil).
    @discardableResult
    func bumpPolicy(_ connection: Connection, tenantID: String, workspaceIDs: [String]?) async throws -> [String] {
        let sequence = try await nextSequence(connection)
        try await notify(connection, .policy)
        if let workspaceIDs {
            let unique = Array(Set(workspaceIDs)).sorted()
            try await connection.query(
                "UPDATE policy_versions SET version = version + 1, seq = \(sequence) WHERE tenant_id = \(tenantID) AND workspace_id = ANY(\(unique))",
                logger: logger
            )
            return unique
        }
        let rows = try await connection.query(
            "UPDATE policy_versions SET version = version + 1, seq = \(sequence) WHERE tenant_id = \(tenantID) RETURNING workspace_id",
            logger: logger
        ).collect()
        return try rows.map { try $0.makeRandomAccess()["workspace_id"].decode(String.self) }.sorted()
    }

    public func tenant(_ tenantID: String) async throws -> Tenant? {
        try await query("SELECT * FROM tenants WHERE tenant_id = \(tenantID)").first.map(Self.tenant)
    }

    public func tenants() async throws -> [Tenant] {
        try await query("SELECT * FROM tenants ORDER BY tenant_id COLLATE \"C\"").map(Self.tenant)
    }

    static func tenant(_ row: PostgresRow) throws -> Tenant {
        let row = row.makeRandomAccess()
        return Tenant(
            tenantID: try row["tenant_id"].decode(String.self), name: try row["name"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self))
    }

    public func createWorkspace(_ workspace: Workspace) async throws {
        try await conflicting("A workspace with this id exists.") {
            try await transaction { [logger] connection in
                // FOR SHARE keeps the tenant from going away before the insert commits.
                let tenant = try await connection.query(
                    "SELECT 1 FROM tenants WHERE tenant_id = \(workspace.tenantID) FOR SHARE", logger: logger
                ).collect()
                guard !tenant.isEmpty else { throw GatewayError.notFound("The tenant does not exist.") }
                try await self.insertWorkspace(connection, workspace)
            }
        }
    }

    public func workspace(tenantID: String, workspaceID: String) async throws -> Workspace? {
        try await query("SELECT * FROM workspaces WHERE tenant_id = \(tenantID) AND workspace_id = \(workspaceID)")
            .first.map(Self.workspace)
    }

    public func workspaces(tenantID: String) async throws -> [Workspace] {
        try await query("SELECT * FROM workspaces WHERE tenant_id = \(tenantID) ORDER BY workspace_id COLLATE \"C\"")
            .map(Self.workspace)
    }

    static func workspace(_ row: PostgresRow) throws -> Workspace {
        let row = row.makeRandomAccess()
        return Workspace(
            tenantID: try row["tenant_id"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            name: try row["name"].decode(String.self), createdAt: try row["created_at"].decode(Date.self)
        )
    }

    // MARK: - Users

    public func createUser(_ user: UserRecord) async throws {
        try await conflicting(
            "A user with this id or username exists, or a principal had this id; ids are never reused."
        ) {
            try await transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO principal_ids (tenant_id, principal_id, kind) VALUES (\(user.tenantID), \(user.userID), 'user')",
                    logger: logger)
                try await connection.query(
                    """
                    INSERT INTO users (tenant_id, user_id, username, password_hash, created_at)
                    VALUES (\(user.tenantID), \(user.userID), \(user.username), \(user.passwordHash), \(user.createdAt))
                    """,
                    logger: logger
                )
            }
        }
    }

    public func user(tenantID: String, userID: String) async throws -> UserRecord? {
        try await query("SELECT * FROM users WHERE tenant_id = \(tenantID) AND user_id = \(userID)").first.map(
            Self.user)
    }

    public func user(tenantID: String, username: String) async throws -> UserRecord? {
        try await query("SELECT * FROM users WHERE tenant_id = \(tenantID) AND username = \(username)").first.map(
            Self.user)
    }

    public func users(tenantID: String) async throws -> [UserRecord] {
        try await query("SELECT * FROM users WHERE tenant_id = \(tenantID) ORDER BY username COLLATE \"C\"").map(
            Self.user)
    }

    static func user(_ row: PostgresRow) throws -> UserRecord {
        let row = row.makeRandomAccess()
        return UserRecord(
            tenantID: try row["tenant_id"].decode(String.self), userID: try row["user_id"].decode(String.self),
            username: try row["username"].decode(String.self),
            passwordHash: try row["password_hash"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self)
        )
    }

    public func updatePassword(tenantID: String, userID: String, passwordHash: String) async throws -> Bool {
        !(try await query(
            "UPDATE users SET password_hash = \(passwordHash) WHERE tenant_id = \(tenantID) AND user_id = \(userID) RETURNING user_id"
        ).isEmpty)
    }

    public func deleteUser(tenantID: String, userID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { [logger] connection in
            let deleted = try await connection.query(
                "DELETE FROM users WHERE tenant_id = \(tenantID) AND user_id = \(userID) RETURNING user_id",
                logger: logger
            ).collect()
            guard !deleted.isEmpty else { return nil }
            return try await self.removePrincipal(connection, tenantID: tenantID, principalID: userID, now: now)
        }
    }

    /// Deletes a principal's assignments, revokes its sessions and bumps the workspaces it had roles in.
    func removePrincipal(_ connection: Connection, tenantID: String, principalID: String, now: Date) async throws
        -> DeletedPrincipal
    {
        let workspaces = try await connection.query(
            "DELETE FROM assignments WHERE tenant_id = \(tenantID) AND principal_id = \(principalID) RETURNING workspace_id",
            logger: logger
        ).collect().map { try $0.makeRandomAccess()["workspace_id"].decode(String.self) }
        let sessions = try await connection.query(
            "UPDATE sessions SET revoked_at = \(now) WHERE tenant_id = \(tenantID) AND principal_id = \(principalID) AND revoked_at IS NULL RETURNING session_id",
            logger: logger
        ).collect().map { try $0.makeRandomAccess()["session_id"].decode(String.self) }
        if !sessions.isEmpty {
            try await notify(connection, .sessions)
        }
        let bumped =
            workspaces.isEmpty
            ? []
            : try await bumpPolicy(connection, tenantID: tenantID, workspaceIDs: SQLiteStore.bumpTargets(workspaces))
        return DeletedPrincipal(revokedSessionIDs: sessions.sorted(), bumpedWorkspaces: bumped)
    }

    // MARK: - API keys

    public func createAPIKey(_ key: APIKeyRecord) async throws {
        try await conflicting("A principal with this id exists or existed in this tenant.") {
            try await transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO principal_ids (tenant_id, principal_id, kind) VALUES (\(key.tenantID), \(key.keyID), 'api_key')",
                    logger: logger)
                try await connection.query(
                    """
                    INSERT INTO api_keys (key_id, tenant_id, name, workspace_id, secret_hash, created_at, expires_at, service)
                    VALUES (\(key.keyID), \(key.tenantID), \(key.name), \(key.workspaceID), \(key.secretHash), \(key.createdAt), \(key.expiresAt), \(key.service))
                    """,
                    logger: logger
                )
            }
        }
    }

    public func apiKey(keyID: String) async throws -> APIKeyRecord? {
        try await query("SELECT * FROM api_keys WHERE key_id = \(keyID)").first.map(Self.apiKey)
    }

    public func apiKeys(tenantID: String) async throws -> [APIKeyRecord] {
        try await query(
            "SELECT * FROM api_keys WHERE tenant_id = \(tenantID) ORDER BY created_at, key_id COLLATE \"C\""
        ).map(Self.apiKey)
    }

    static func apiKey(_ row: PostgresRow) throws -> APIKeyRecord {
        let row = row.makeRandomAccess()
        return APIKeyRecord(
            tenantID: try row["tenant_id"].decode(String.self), keyID: try row["key_id"].decode(String.self),
            name: try row["name"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            secretHash: try row["secret_hash"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self), expiresAt: try row["expires_at"].decode(Date?.self),
            service: try row["service"].decode(String?.self)
        )
    }

    public func bindAPIKeyService(keyID: String, service: String) async throws -> Bool {
        !(try await query(
            "UPDATE api_keys SET service = \(service) WHERE key_id = \(keyID) AND (service IS NULL OR service = \(service)) RETURNING key_id"
        ).isEmpty)
    }

    public func deleteAPIKey(tenantID: String, keyID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { [logger] connection in
            let deleted = try await connection.query(
                "DELETE FROM api_keys WHERE tenant_id = \(tenantID) AND key_id = \(keyID) RETURNING key_id",
                logger: logger
            ).collect()
            guard !deleted.isEmpty else { return nil }
            return try await self.removePrincipal(connection, tenantID: tenantID, principalID: keyID, now: now)
        }
    }

    // MARK: - Sessions

    public func createSession(_ session: SessionRecord, refreshTokenHash: String) async throws {
        try await transaction { connection in
            try await self.insertSession(connection, session, refreshTokenHash: refreshTokenHash)
        }
    }

    /// A session with its first refresh token (a login, or an authorization code's redemption).
    func insertSession(_ connection: Connection, _ session: SessionRecord, refreshTokenHash: String) async throws {
        try await connection.query(
            """
            INSERT INTO sessions (session_id, tenant_id, workspace_id, principal_id, created_at, expires_at, revoked_at, client_id, scope)
            VALUES (\(session.sessionID), \(session.tenantID), \(session.workspaceID), \(session.principalID), \(session.createdAt), \(session.expiresAt),
                \(session.revokedAt), \(session.clientID), \(session.scope))
            """,
            logger: logger
        )
        try await connection.query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (\(refreshTokenHash), \(session.sessionID), \(session.createdAt))",
            logger: logger
        )
    }

    public func session(_ sessionID: String) async throws -> SessionRecord? {
        try await query("SELECT * FROM sessions WHERE session_id = \(sessionID)").first.map(Self.session)
    }

    static func session(_ row: PostgresRow) throws -> SessionRecord {
        let row = row.makeRandomAccess()
        return SessionRecord(
            sessionID: try row["session_id"].decode(String.self), tenantID: try row["tenant_id"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            principalID: try row["principal_id"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self), expiresAt: try row["expires_at"].decode(Date.self),
            revokedAt: try row["revoked_at"].decode(Date?.self), clientID: try row["client_id"].decode(String?.self),
            scope: try row["scope"].decode(String?.self)
        )
    }

    /// Spends the token with a conditional update (`WHERE spent_at IS NULL`): of two concurrent presentations, the
    /// second waits for the first's row lock, then finds the token spent and revokes the family.
    public func rotateRefreshToken(presentedHash: String, successorHash: String, now: Date) async throws
        -> RefreshOutcome
    {
        try await transaction { [logger] connection in
            guard
                let row = try await connection.query(
                    "SELECT s.* FROM refresh_tokens r JOIN sessions s ON s.session_id = r.session_id WHERE r.token_hash = \(presentedHash)",
                    logger: logger
                ).collect().first
            else { return .invalid }
            var session = try Self.session(row)
            guard session.revokedAt == nil, session.expiresAt > now else { return .invalid }
            let spent = try await connection.query(
                "UPDATE refresh_tokens SET spent_at = \(now) WHERE token_hash = \(presentedHash) AND spent_at IS NULL RETURNING token_hash",
                logger: logger
            ).collect()
            guard !spent.isEmpty else {
                let revoked = try await connection.query(
                    "UPDATE sessions SET revoked_at = \(now) WHERE session_id = \(session.sessionID) AND revoked_at IS NULL RETURNING revoked_at",
                    logger: logger
                ).collect()
                if !revoked.isEmpty { try await self.notify(connection, .sessions) }
                session.revokedAt = now
                return .reused(session)
            }
            try await connection.query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (\(successorHash), \(session.sessionID), \(now))",
                logger: logger
            )
            return .rotated(session)
        }
    }

    public func revokeSession(_ sessionID: String, now: Date) async throws -> Bool {
        try await transaction { [logger] connection in
            let revoked = try await connection.query(
                "UPDATE sessions SET revoked_at = \(now) WHERE session_id = \(sessionID) AND revoked_at IS NULL RETURNING session_id",
                logger: logger
            ).collect()
            guard !revoked.isEmpty else { return false }
            try await self.notify(connection, .sessions)
            return true
        }
    }

    public func revokeSessions(tenantID: String, principalID: String, except: String?, now: Date) async throws
        -> [String]
    {
        try await transaction { [logger] connection in
            let revoked = try await connection.query(
                """
                UPDATE sessions SET revoked_at = \(now) WHERE tenant_id = \(tenantID) AND principal_id = \(principalID)
                AND revoked_at IS NULL AND session_id <> \(except ?? "") RETURNING session_id
                """,
                logger: logger
            ).collect().map { try $0.makeRandomAccess()["session_id"].decode(String.self) }
            if !revoked.isEmpty { try await self.notify(connection, .sessions) }
            return revoked.sorted()
        }
    }

    public func revokedSessionIDs(since: Date) async throws -> [String] {
        try await query("SELECT session_id FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= \(since)").map {
            try $0.makeRandomAccess()["session_id"].decode(String.self)
        }
    }

    // MARK: - Roles and assignments

    public func createRole(_ role: RoleRecord) async throws {
        try await conflicting("A role with this id or name exists.") {
            try await transaction { [logger] connection in
                try await connection.query(
                    """
                    INSERT INTO roles (tenant_id, role_id, name, description, workspace_id, permissions, created_at, updated_at)
                    VALUES (\(role.tenantID), \(role.roleID), \(role.name), \(role.description), \(role.workspaceID), \(role.permissions), \(role.createdAt), \(role.updatedAt))
                    """,
                    logger: logger
                )
                try await self.bumpPolicy(
                    connection, tenantID: role.tenantID, workspaceIDs: role.workspaceID.map { [$0] })
            }
        }
    }

    public func role(tenantID: String, roleID: String) async throws -> RoleRecord? {
        try await query("SELECT * FROM roles WHERE tenant_id = \(tenantID) AND role_id = \(roleID)").first.map(
            Self.role)
    }

    public func roles(tenantID: String) async throws -> [RoleRecord] {
        try await query("SELECT * FROM roles WHERE tenant_id = \(tenantID) ORDER BY role_id COLLATE \"C\"").map(
            Self.role)
    }

    static func role(_ row: PostgresRow) throws -> RoleRecord {
        let row = row.makeRandomAccess()
        return RoleRecord(
            roleID: try row["role_id"].decode(String.self), tenantID: try row["tenant_id"].decode(String.self),
            name: try row["name"].decode(String.self),
            description: try row["description"].decode(String?.self),
            workspaceID: try row["workspace_id"].decode(String?.self),
            permissions: try row["permissions"].decode([String].self),
            createdAt: try row["created_at"].decode(Date.self), updatedAt: try row["updated_at"].decode(Date.self)
        )
    }

    public func updateRole(_ role: RoleRecord) async throws -> Bool {
        try await conflicting("A role with this name exists.") {
            try await transaction { [logger] connection in
                guard
                    let row = try await connection.query(
                        "SELECT * FROM roles WHERE tenant_id = \(role.tenantID) AND role_id = \(role.roleID) FOR UPDATE",
                        logger: logger
                    ).collect().first
                else { return false }
                let old = try Self.role(row)
                try await connection.query(
                    """
                    UPDATE roles SET name = \(role.name), description = \(role.description), permissions = \(role.permissions), updated_at = \(role.updatedAt)
                    WHERE tenant_id = \(role.tenantID) AND role_id = \(role.roleID)
                    """,
                    logger: logger
                )
                try await self.bumpPolicy(
                    connection, tenantID: role.tenantID, workspaceIDs: old.workspaceID.map { [$0] })
                return true
            }
        }
    }

    public func deleteRole(tenantID: String, roleID: String) async throws -> Bool {
        try await transaction { [logger] connection in
            // The row lock makes a concurrent createAssignment of this role wait for the outcome (it takes FOR SHARE).
            guard
                let row = try await connection.query(
                    "SELECT * FROM roles WHERE tenant_id = \(tenantID) AND role_id = \(roleID) FOR UPDATE",
                    logger: logger
                ).collect().first
            else { return false }
            let assigned = try await connection.query(
                "SELECT 1 FROM assignments WHERE tenant_id = \(tenantID) AND role_id = \(roleID) LIMIT 1",
                logger: logger
            ).collect()
            guard assigned.isEmpty else {
                throw GatewayError.conflict("The role is still assigned; delete its assignments first.")
            }
            try await connection.query(
                "DELETE FROM roles WHERE tenant_id = \(tenantID) AND role_id = \(roleID)", logger: logger)
            try await self.bumpPolicy(
                connection, tenantID: tenantID, workspaceIDs: try Self.role(row).workspaceID.map { [$0] })
            return true
        }
    }

    public func createAssignment(_ assignment: Assignment) async throws {
        try await conflicting("The principal already has this role in the workspace.") {
            try await transaction { [logger] connection in
                try await connection.query(
                    "SELECT 1 FROM roles WHERE tenant_id = \(assignment.tenantID) AND role_id = \(assignment.roleID) FOR SHARE",
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO assignments (assignment_id, tenant_id, workspace_id, principal_id, role_id, created_at)
                    VALUES (\(assignment.assignmentID), \(assignment.tenantID), \(assignment.workspaceID), \(assignment.principalID), \(assignment.roleID), \(assignment.createdAt))
                    """,
                    logger: logger
                )
                try await self.bumpPolicy(
                    connection, tenantID: assignment.tenantID,
                    workspaceIDs: SQLiteStore.bumpTargets([assignment.workspaceID]))
            }
        }
    }

    public func deleteAssignment(tenantID: String, assignmentID: String) async throws -> Assignment? {
        try await transaction { [logger] connection in
            guard
                let row = try await connection.query(
                    "DELETE FROM assignments WHERE tenant_id = \(tenantID) AND assignment_id = \(assignmentID) RETURNING *",
                    logger: logger
                ).collect().first
            else { return nil }
            let assignment = try Self.assignment(row)
            try await self.bumpPolicy(
                connection, tenantID: tenantID, workspaceIDs: SQLiteStore.bumpTargets([assignment.workspaceID]))
            return assignment
        }
    }

    public func assignments(tenantID: String, principalID: String?, workspaceID: String?) async throws -> [Assignment] {
        try await query(
            """
            SELECT * FROM assignments WHERE tenant_id = \(tenantID)
            AND (\(principalID)::text IS NULL OR principal_id = \(principalID))
            AND (\(workspaceID)::text IS NULL OR workspace_id = \(workspaceID))
            ORDER BY created_at, assignment_id COLLATE "C"
            """
        ).map(Self.assignment)
    }

    static func assignment(_ row: PostgresRow) throws -> Assignment {
        let row = row.makeRandomAccess()
        return Assignment(
            assignmentID: try row["assignment_id"].decode(String.self),
            tenantID: try row["tenant_id"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            principalID: try row["principal_id"].decode(String.self),
            roleID: try row["role_id"].decode(String.self), createdAt: try row["created_at"].decode(Date.self)
        )
    }

    public func registerPermissions(service: String, entries: [PermissionCatalog.Entry]) async throws {
        try await transaction { [logger] connection in
            for entry in entries {
                // Inserts or relabels only when the name is free or already ours; no row back means another owner.
                let rows = try await connection.query(
                    """
                    INSERT INTO permissions (name, service, label) VALUES (\(entry.name), \(service), \(entry.label))
                    ON CONFLICT (name) DO UPDATE SET label = excluded.label WHERE permissions.service = excluded.service
                    RETURNING name
                    """,
                    logger: logger
                ).collect()
                guard !rows.isEmpty else {
                    throw GatewayError.conflict("The permission \(entry.name) belongs to another service.")
                }
            }
        }
    }

    public func permissions() async throws -> [PermissionCatalog.Entry] {
        try await query("SELECT * FROM permissions ORDER BY name COLLATE \"C\"").map {
            let row = $0.makeRandomAccess()
            return PermissionCatalog.Entry(
                name: try row["name"].decode(String.self), service: try row["service"].decode(String.self),
                label: try row["label"].decode(String.self))
        }
    }

    // MARK: - Policy versions and audit

    public func policyVersion(tenantID: String, workspaceID: String) async throws -> Int64 {
        guard
            let row = try await query(
                "SELECT version FROM policy_versions WHERE tenant_id = \(tenantID) AND workspace_id = \(workspaceID)"
            ).first
        else { throw GatewayError.notFound("The workspace does not exist.") }
        return try row.makeRandomAccess()["version"].decode(Int64.self)
    }

    public func policyVersions(after sequence: Int64?, tenantID: String?) async throws -> (
        entries: [PolicyVersionEntry], cursor: Int64
    ) {
        let entries = try await query(
            """
            SELECT * FROM policy_versions WHERE seq > \(sequence ?? 0) AND (\(tenantID)::text IS NULL OR tenant_id = \(tenantID))
            ORDER BY seq, tenant_id COLLATE "C", workspace_id COLLATE "C"
            """
        ).map {
            let row = $0.makeRandomAccess()
            return PolicyVersionEntry(
                tenantID: try row["tenant_id"].decode(String.self),
                workspaceID: try row["workspace_id"].decode(String.self),
                version: try row["version"].decode(Int64.self), sequence: try row["seq"].decode(Int64.self)
            )
        }
        let cursor = entries.map(\.sequence).max() ?? sequence ?? 0
        return (entries, cursor)
    }

    // MARK: - Login throttle

    public func recordLoginFailure(keys: [String], at: Date, forgetBefore: Date) async throws {
        try await transaction { [logger] connection in
            for key in keys {
                try await connection.query(
                    "DELETE FROM login_failures WHERE key = \(key) AND at < \(forgetBefore)", logger: logger)
                try await connection.query(
                    "INSERT INTO login_failures (key, at) VALUES (\(key), \(at))", logger: logger)
            }
        }
    }

    public func clearLoginFailures(keys: [String]) async throws {
        try await query("DELETE FROM login_failures WHERE key = ANY(\(keys))")
    }

    public func loginFailures(keys: [String], since: Date) async throws -> [String: LoginFailures] {
        var counts: [String: LoginFailures] = [:]
        for row in try await query(
            "SELECT key, COUNT(*) AS n, MAX(at) AS last FROM login_failures WHERE key = ANY(\(keys)) AND at >= \(since) GROUP BY key"
        ) {
            let row = row.makeRandomAccess()
            counts[try row["key"].decode(String.self)] = LoginFailures(
                count: try row["n"].decode(Int.self), last: try row["last"].decode(Date.self))
        }
        return counts
    }

    public func appendAudit(_ event: AuditEvent) async throws {
        try await query(
            """
            INSERT INTO audit_events (at, actor, tenant_id, workspace_id, action, target, request_id, origin_workspace_id)
            VALUES (\(event.at), \(event.actor), \(event.tenantID), \(event.workspaceID), \(event.action), \(event.target), \(event.requestID),
                \(event.originWorkspaceID))
            """
        )
    }

    public func auditEvents(_ filter: AuditQuery) async throws -> [AuditEvent] {
        try await query(
            """
            SELECT * FROM audit_events WHERE (\(filter.tenantID)::text IS NULL OR tenant_id = \(filter.tenantID))
            AND (\(filter.workspaceID)::text IS NULL OR workspace_id = \(filter.workspaceID) OR origin_workspace_id = \(filter.workspaceID))
            AND (\(filter.action)::text IS NULL OR action = \(filter.action))
            AND (\(filter.actor)::text IS NULL OR actor = \(filter.actor))
            AND (\(filter.since)::timestamptz IS NULL OR at >= \(filter.since))
            AND (\(filter.until)::timestamptz IS NULL OR at < \(filter.until))
            AND (\(filter.before)::bigint IS NULL OR id < \(filter.before))
            ORDER BY id DESC LIMIT \(filter.limit)
            """
        ).map {
            let row = $0.makeRandomAccess()
            return AuditEvent(
                id: try row["id"].decode(Int64.self), at: try row["at"].decode(Date.self),
                actor: try row["actor"].decode(String.self),
                tenantID: try row["tenant_id"].decode(String.self),
                workspaceID: try row["workspace_id"].decode(String?.self),
                action: try row["action"].decode(String.self), target: try row["target"].decode(String?.self),
                requestID: try row["request_id"].decode(String?.self),
                originWorkspaceID: try row["origin_workspace_id"].decode(String?.self)
            )
        }
    }
}
