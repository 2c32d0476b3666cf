import Foundation
import GatewayCore
import PostgresNIO

extension PostgresStore {
    public func createClient(_ client: OAuthClientRecord) async throws {
        try await conflicting("A principal or client with this id exists or existed.") {
            try await transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO principal_ids (tenant_id, principal_id, kind) VALUES (\(client.tenantID), \(client.clientID), 'client')",
                    logger: logger
                )
                let redirects = ClientColumns.encode(client.redirectURIs)
                let logoutRedirects = ClientColumns.encode(client.postLogoutRedirectURIs)
                let grants = ClientColumns.encode(client.grantTypes)
                try await connection.query(
                    """
                    INSERT INTO oauth_clients (client_id, tenant_id, name, workspace_id, type, secret_hash, redirect_uris, post_logout_redirect_uris,
                        grant_types, created_at)
                    VALUES (\(client.clientID), \(client.tenantID), \(client.name), \(client.workspaceID), \(client.type.rawValue), \(client.secretHash),
                        \(redirects), \(logoutRedirects), \(grants), \(client.createdAt))
                    """,
                    logger: logger
                )
            }
        }
    }

    public func client(clientID: String) async throws -> OAuthClientRecord? {
        try await query("SELECT * FROM oauth_clients WHERE client_id = \(clientID)").first.map(Self.client)
    }

    public func clients(tenantID: String) async throws -> [OAuthClientRecord] {
        try await query(
            "SELECT * FROM oauth_clients WHERE tenant_id = \(tenantID) ORDER BY created_at, client_id COLLATE \"C\""
        ).map(Self.client)
    }

    static func client(_ row: PostgresRow) throws -> OAuthClientRecord {
        let row = row.makeRandomAccess()
        return OAuthClientRecord(
            tenantID: try row["tenant_id"].decode(String.self), clientID: try row["client_id"].decode(String.self),
            name: try row["name"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            type: try ClientColumns.type(try row["type"].decode(String.self)),
            secretHash: try row["secret_hash"].decode(String?.self),
            redirectURIs: try ClientColumns.decode(
                try row["redirect_uris"].decode(String.self), column: "redirect_uris"),
            postLogoutRedirectURIs: try ClientColumns.decode(
                try row["post_logout_redirect_uris"].decode(String.self), column: "post_logout_redirect_uris"),
            grantTypes: try ClientColumns.decode(try row["grant_types"].decode(String.self), column: "grant_types"),
            createdAt: try row["created_at"].decode(Date.self)
        )
    }

    public func deleteClient(tenantID: String, clientID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { [logger] connection in
            let deleted = try await connection.query(
                "DELETE FROM oauth_clients WHERE tenant_id = \(tenantID) AND client_id = \(clientID) RETURNING client_id",
                logger: logger
            ).collect()
            guard !deleted.isEmpty else { return nil }
            return try await self.removePrincipal(connection, tenantID: tenantID, principalID: clientID, now: now)
        }
    }
}

extension PostgresStore {
    public func session(refreshTokenHash: String) async throws -> SessionRecord? {
        try await query(
            "SELECT s.* FROM refresh_tokens r JOIN sessions s ON s.session_id = r.session_id WHERE r.token_hash = \(refreshTokenHash)"
        ).first.map(Self.session)
    }

    public func createAuthorizationCode(_ code: AuthorizationCodeRecord) async throws {
        try await transaction { [logger] connection in
            // Spent and expired codes are kept a day (a reuse within it still revokes), then purged here.
            let horizon = code.authTime.addingTimeInterval(-86400)
            try await connection.query("DELETE FROM authorization_codes WHERE expires_at < \(horizon)", logger: logger)
            try await connection.query(
                """
                INSERT INTO authorization_codes (code_hash, tenant_id, workspace_id, principal_id, client_id, redirect_uri, code_challenge, scope, nonce,
                    auth_time, expires_at)
                VALUES (\(code.codeHash), \(code.tenantID), \(code.workspaceID), \(code.principalID), \(code.clientID), \(code.redirectURI),
                    \(code.codeChallenge), \(code.scope), \(code.nonce), \(code.authTime), \(code.expiresAt))
                """,
                logger: logger
            )
        }
    }

    public func redeemAuthorizationCode(
        hash: String, now: Date, sessionID: String, sessionExpiresAt: Date, refreshTokenHash: String
    ) async throws -> CodeRedemption {
        try await transaction { [logger] connection in
            let rows = try await connection.query(
                "SELECT * FROM authorization_codes WHERE code_hash = \(hash) FOR UPDATE", logger: logger
            ).collect()
            guard let row = rows.first else { return .invalid }
            var record = try Self.authorizationCode(row)
            if try row.makeRandomAccess()["used_at"].decode(Date?.self) != nil { return .reused(record) }
            guard record.expiresAt > now else { return .invalid }
            try await connection.query(
                "UPDATE authorization_codes SET used_at = \(now), session_id = \(sessionID) WHERE code_hash = \(hash)",
                logger: logger)
            record.sessionID = sessionID
            let session = SessionRecord(
                sessionID: sessionID, tenantID: record.tenantID, workspaceID: record.workspaceID,
                principalID: record.principalID, createdAt: now,
                expiresAt: sessionExpiresAt, clientID: record.clientID, scope: record.scope
            )
            try await self.insertSession(connection, session, refreshTokenHash: refreshTokenHash)
            return .redeemed(record, session)
        }
    }

    static func authorizationCode(_ row: PostgresRow) throws -> AuthorizationCodeRecord {
        let row = row.makeRandomAccess()
        return AuthorizationCodeRecord(
            codeHash: try row["code_hash"].decode(String.self), tenantID: try row["tenant_id"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            principalID: try row["principal_id"].decode(String.self),
            clientID: try row["client_id"].decode(String.self),
            redirectURI: try row["redirect_uri"].decode(String.self),
            codeChallenge: try row["code_challenge"].decode(String?.self), scope: try row["scope"].decode(String.self),
            nonce: try row["nonce"].decode(String?.self), authTime: try row["auth_time"].decode(Date.self),
            expiresAt: try row["expires_at"].decode(Date.self), sessionID: try row["session_id"].decode(String?.self)
        )
    }
}
