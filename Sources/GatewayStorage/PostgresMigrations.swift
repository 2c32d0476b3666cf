/// The PostgreSQL schema as numbered migrations, the same tables as ``SQLiteMigrations`` in PostgreSQL types;
/// applied in order at open under an advisory lock, never edited once released.
///
/// Times are `timestamptz` (microseconds), permission lists `text[]`, ids and names `text`. Migration 3 adds the
/// shared key ring (``PostgresKeyStore``), whose private keys are stored sealed with the key-encryption key.
enum PostgresMigrations {
    struct Migration {
        var version: Int
        var name: String
        var statements: [String]
    }

    static let all: [Migration] = [
        Migration(
            version: 1, name: "gateway metadata",
            statements: [
                "CREATE TABLE gateway_meta (key text PRIMARY KEY, value text NOT NULL)"
            ]),
        Migration(
            version: 2, name: "identity and IAM",
            statements: [
                "CREATE TABLE sequences (name text PRIMARY KEY, value bigint NOT NULL)",
                "INSERT INTO sequences (name, value) VALUES ('policy', 0)",
                "CREATE TABLE tenants (tenant_id text PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL)",
                """
                CREATE TABLE workspaces (tenant_id text NOT NULL REFERENCES tenants(tenant_id), workspace_id text NOT NULL,
                    name text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, workspace_id))
                """,
                """
                CREATE TABLE policy_versions (tenant_id text NOT NULL, workspace_id text NOT NULL, version bigint NOT NULL,
                    seq bigint NOT NULL, PRIMARY KEY (tenant_id, workspace_id),
                    FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces(tenant_id, workspace_id))
                """,
                "CREATE INDEX policy_versions_seq ON policy_versions (seq)",
                """
                CREATE TABLE users (tenant_id text NOT NULL REFERENCES tenants(tenant_id), user_id text NOT NULL,
                    username text NOT NULL, password_hash text NOT NULL, created_at timestamptz NOT NULL,
                    PRIMARY KEY (tenant_id, user_id), UNIQUE (tenant_id, username))
                """,
                """
                CREATE TABLE api_keys (key_id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(tenant_id),
                    name text NOT NULL, workspace_id text NOT NULL, secret_hash text NOT NULL, created_at timestamptz NOT NULL,
                    expires_at timestamptz)
                """,
                "CREATE INDEX api_keys_tenant ON api_keys (tenant_id)",
                """
                CREATE TABLE sessions (session_id text PRIMARY KEY, tenant_id text NOT NULL, workspace_id text NOT NULL,
                    principal_id text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, revoked_at timestamptz)
                """,
                "CREATE INDEX sessions_principal ON sessions (tenant_id, principal_id)",
                "CREATE INDEX sessions_revoked ON sessions (revoked_at)",
                """
                CREATE TABLE refresh_tokens (token_hash text PRIMARY KEY, session_id text NOT NULL REFERENCES sessions(session_id),
                    created_at timestamptz NOT NULL, spent_at timestamptz)
                """,
                "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
                """
                CREATE TABLE roles (tenant_id text NOT NULL REFERENCES tenants(tenant_id), role_id text NOT NULL,
                    name text NOT NULL, description text, workspace_id text, permissions text[] NOT NULL,
                    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, role_id), UNIQUE (tenant_id, name))
                """,
                """
                CREATE TABLE assignments (assignment_id text PRIMARY KEY, tenant_id text NOT NULL, workspace_id text NOT NULL,
                    principal_id text NOT NULL, role_id text NOT NULL, created_at timestamptz NOT NULL,
                    UNIQUE (tenant_id, workspace_id, principal_id, role_id),
                    FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces(tenant_id, workspace_id))
                """,
                "CREATE INDEX assignments_principal ON assignments (tenant_id, principal_id)",
                "CREATE INDEX assignments_role ON assignments (tenant_id, role_id)",
                "CREATE TABLE permissions (name text PRIMARY KEY, service text NOT NULL, label text NOT NULL)",
                """
                CREATE TABLE audit_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, actor text NOT NULL,
                    tenant_id text NOT NULL, workspace_id text, action text NOT NULL, target text, request_id text)
                """,
                "CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id)",
                """
                CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit log is append-only';
                END
                $$
                """,
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
                "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
            ]),
        Migration(
            version: 3, name: "shared key ring",
            statements: [
                // One row; each change of the ring bumps its revision. `SELECT ... FOR UPDATE` on it orders writers.
                "CREATE TABLE key_ring (id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL, updated_at timestamptz NOT NULL)",
                "INSERT INTO key_ring (id, revision, updated_at) VALUES (1, 0, now())",
                """
                CREATE TABLE signing_keys (kid text PRIMARY KEY, status text NOT NULL CHECK (status IN ('next', 'active', 'retiring')),
                    alg text NOT NULL, created_at timestamptz NOT NULL, activated_at timestamptz, retire_at timestamptz,
                    sealed_private_key bytea NOT NULL, kek_id text NOT NULL)
                """,
                // At most one active and one next key, enforced by the database as well.
                "CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status IN ('active', 'next')",
            ]),
        Migration(
            version: 4, name: "tenant-wide assignments, service-bound keys, audit origin",
            statements: [
                // Tenant-wide assignments use workspace id `*`.
                "ALTER TABLE assignments DROP CONSTRAINT IF EXISTS assignments_tenant_id_workspace_id_fkey",
                "ALTER TABLE assignments ADD FOREIGN KEY (tenant_id) REFERENCES tenants(tenant_id)",
                "ALTER TABLE api_keys ADD COLUMN service text",
                "ALTER TABLE audit_events ADD COLUMN origin_workspace_id text",
                "CREATE INDEX audit_events_workspace ON audit_events (tenant_id, workspace_id, id)",
                // Failed password checks per throttle key (a digest, never a username or address), shared by replicas.
                "CREATE TABLE login_failures (key text NOT NULL, at timestamptz NOT NULL)",
                "CREATE INDEX login_failures_key ON login_failures (key, at)",
                // Every principal id used in a tenant (users, API keys, clients): unique across kinds, never reused.
                "CREATE TABLE principal_ids (tenant_id text NOT NULL, principal_id text NOT NULL, kind text NOT NULL, PRIMARY KEY (tenant_id, principal_id))",
                "INSERT INTO principal_ids SELECT tenant_id, user_id, 'user' FROM users ON CONFLICT DO NOTHING",
                "INSERT INTO principal_ids SELECT tenant_id, key_id, 'api_key' FROM api_keys ON CONFLICT DO NOTHING",
            ]),
        Migration(
            version: 5, name: "OAuth clients",
            statements: [
                // Lists are JSON arrays of strings; client ids are unique across tenants.
                """
                CREATE TABLE oauth_clients (client_id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(tenant_id), name text NOT NULL,
                    workspace_id text NOT NULL, type text NOT NULL, secret_hash text, redirect_uris text NOT NULL,
                    post_logout_redirect_uris text NOT NULL, grant_types text NOT NULL, created_at timestamptz NOT NULL)
                """,
                "CREATE INDEX oauth_clients_tenant ON oauth_clients (tenant_id)",
            ]),
        Migration(
            version: 6, name: "authorization codes, client-bound sessions",
            statements: [
                "ALTER TABLE sessions ADD COLUMN client_id text",
                "ALTER TABLE sessions ADD COLUMN scope text",
                """
                CREATE TABLE authorization_codes (code_hash text PRIMARY KEY, tenant_id text NOT NULL, workspace_id text NOT NULL,
                    principal_id text NOT NULL, client_id text NOT NULL, redirect_uri text NOT NULL, code_challenge text, scope text NOT NULL,
                    nonce text, auth_time timestamptz NOT NULL, expires_at timestamptz NOT NULL, used_at timestamptz, session_id text)
                """,
                "CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at)",
            ]),
    ]
}
