/// The SQLite schema as numbered migrations; applied in order at open, never edited once released.
enum SQLiteMigrations {
    struct Migration {
        var version: Int
        var name: String
        var statements: [String]
    }

    static let all: [Migration] = [
        Migration(
            version: 1, name: "gateway metadata",
            statements: [
                "CREATE TABLE gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            ]),
        Migration(
            version: 2, name: "identity and IAM",
            statements: [
                "CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
                "INSERT INTO sequences (name, value) VALUES ('policy', 0)",
                "CREATE TABLE tenants (tenant_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL)",
                """
                CREATE TABLE workspaces (tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id), workspace_id TEXT NOT NULL,
                    name TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (tenant_id, workspace_id))
                """,
                """
                CREATE TABLE policy_versions (tenant_id TEXT NOT NULL, workspace_id TEXT NOT NULL, version INTEGER NOT NULL,
                    seq INTEGER NOT NULL, PRIMARY KEY (tenant_id, workspace_id),
                    FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces(tenant_id, workspace_id))
                """,
                "CREATE INDEX policy_versions_seq ON policy_versions (seq)",
                """
                CREATE TABLE users (tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id), user_id TEXT NOT NULL,
                    username TEXT NOT NULL, password_hash TEXT NOT NULL, created_at REAL NOT NULL,
                    PRIMARY KEY (tenant_id, user_id), UNIQUE (tenant_id, username))
                """,
                """
                CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
                    name TEXT NOT NULL, workspace_id TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at REAL NOT NULL,
                    expires_at REAL)
                """,
                "CREATE INDEX api_keys_tenant ON api_keys (tenant_id)",
                """
                CREATE TABLE sessions (session_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, workspace_id TEXT NOT NULL,
                    principal_id TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, revoked_at REAL)
                """,
                "CREATE INDEX sessions_principal ON sessions (tenant_id, principal_id)",
                "CREATE INDEX sessions_revoked ON sessions (revoked_at)",
                """
                CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(session_id),
                    created_at REAL NOT NULL, spent_at REAL)
                """,
                "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
                """
                CREATE TABLE roles (tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id), role_id TEXT NOT NULL,
                    name TEXT NOT NULL, description TEXT, workspace_id TEXT, permissions TEXT NOT NULL,
                    created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (tenant_id, role_id), UNIQUE (tenant_id, name))
                """,
                """
                CREATE TABLE assignments (assignment_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, workspace_id TEXT NOT NULL,
                    principal_id TEXT NOT NULL, role_id TEXT NOT NULL, created_at REAL NOT NULL,
                    UNIQUE (tenant_id, workspace_id, principal_id, role_id),
                    FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces(tenant_id, workspace_id))
                """,
                "CREATE INDEX assignments_principal ON assignments (tenant_id, principal_id)",
                "CREATE TABLE permissions (name TEXT PRIMARY KEY, service TEXT NOT NULL, label TEXT NOT NULL)",
                """
                CREATE TABLE audit_events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
                    tenant_id TEXT NOT NULL, workspace_id TEXT, action TEXT NOT NULL, target TEXT, request_id TEXT)
                """,
                "CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id)",
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
                "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            ]),
        Migration(
            version: 3, name: "tenant-wide assignments, service-bound keys, audit origin",
            statements: [
                // Tenant-wide assignments use workspace id `*`: the workspace foreign key goes (the table is rebuilt).
                """
                CREATE TABLE assignments_v3 (assignment_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
                    workspace_id TEXT NOT NULL, principal_id TEXT NOT NULL, role_id TEXT NOT NULL, created_at REAL NOT NULL,
                    UNIQUE (tenant_id, workspace_id, principal_id, role_id))
                """,
                "INSERT INTO assignments_v3 SELECT assignment_id, tenant_id, workspace_id, principal_id, role_id, created_at FROM assignments",
                "DROP TABLE assignments",
                "ALTER TABLE assignments_v3 RENAME TO assignments",
                "CREATE INDEX assignments_principal ON assignments (tenant_id, principal_id)",
                "CREATE INDEX assignments_role ON assignments (tenant_id, role_id)",
                "ALTER TABLE api_keys ADD COLUMN service TEXT",
                "ALTER TABLE audit_events ADD COLUMN origin_workspace_id TEXT",
                "CREATE INDEX audit_events_workspace ON audit_events (tenant_id, workspace_id, id)",
                // Failed password checks per throttle key (a digest, never a username or address), shared by replicas.
                "CREATE TABLE login_failures (key TEXT NOT NULL, at REAL NOT NULL)",
                "CREATE INDEX login_failures_key ON login_failures (key, at)",
                // Every principal id used in a tenant (users, API keys, clients): unique across kinds, never reused.
                "CREATE TABLE principal_ids (tenant_id TEXT NOT NULL, principal_id TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (tenant_id, principal_id))",
                "INSERT OR IGNORE INTO principal_ids SELECT tenant_id, user_id, 'user' FROM users",
                "INSERT OR IGNORE INTO principal_ids SELECT tenant_id, key_id, 'api_key' FROM api_keys",
            ]),
        Migration(
            version: 4, name: "OAuth clients",
            statements: [
                // Lists are JSON arrays of strings; client ids are unique across tenants.
                """
                CREATE TABLE oauth_clients (client_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id), name TEXT NOT NULL,
                    workspace_id TEXT NOT NULL, type TEXT NOT NULL, secret_hash TEXT, redirect_uris TEXT NOT NULL,
                    post_logout_redirect_uris TEXT NOT NULL, grant_types TEXT NOT NULL, created_at REAL NOT NULL)
                """,
                "CREATE INDEX oauth_clients_tenant ON oauth_clients (tenant_id)",
            ]),
        Migration(
            version: 5, name: "authorization codes, client-bound sessions",
            statements: [
                "ALTER TABLE sessions ADD COLUMN client_id TEXT",
                "ALTER TABLE sessions ADD COLUMN scope TEXT",
                """
                CREATE TABLE authorization_codes (code_hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, workspace_id TEXT NOT NULL,
                    principal_id TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL, code_challenge TEXT, scope TEXT NOT NULL,
                    nonce TEXT, auth_time REAL NOT NULL, expires_at REAL NOT NULL, used_at REAL, session_id TEXT)
                """,
                "CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at)",
            ]),
    ]
}
