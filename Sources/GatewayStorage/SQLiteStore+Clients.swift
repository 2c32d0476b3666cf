import Foundation
import GatewayCore
import SQLiteNIO

extension SQLiteStore {
    public func createClient(_ client: OAuthClientRecord) async throws {
        do {
            try await transaction { tx in
                try await Self.claimPrincipalID(
                    tx, tenantID: client.tenantID, principalID: client.clientID, kind: "client")
                try await tx.query(
                    """
                    INSERT INTO oauth_clients (client_id, tenant_id, name, workspace_id, type, secret_hash, redirect_uris, post_logout_redirect_uris,
                        grant_types, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(client.clientID), .text(client.tenantID), .text(client.name), .text(client.workspaceID),
                        .text(client.type.rawValue),
                        .init(client.secretHash), .text(ClientColumns.encode(client.redirectURIs)),
                        .text(ClientColumns.encode(client.postLogoutRedirectURIs)),
                        .text(ClientColumns.encode(client.grantTypes)), .init(client.createdAt),
                    ]
                )
            }
        } catch  where Self.isUniqueViolation(error) {
            throw GatewayError.conflict("A client with this id exists.")
        }
    }

    public func client(clientID: String) async throws -> OAuthClientRecord? {
        try await query("SELECT * FROM oauth_clients WHERE client_id = ?", [.text(clientID)]).first.map(Self.client)
    }

    public func clients(tenantID: String) async throws -> [OAuthClientRecord] {
        try await query(
            "SELECT * FROM oauth_clients WHERE tenant_id = ? ORDER BY created_at, client_id", [.text(tenantID)]
        ).map(Self.client)
    }

    static func client(_ row: SQLiteRow) throws -> OAuthClientRecord {
        try OAuthClientRecord(
            tenantID: row.text("tenant_id"), clientID: row.text("client_id"), name: row.text("name"),
            workspaceID: row.text("workspace_id"),
            type: try ClientColumns.type(row.text("type")), secretHash: row.optionalText("secret_hash"),
            redirectURIs: try ClientColumns.decode(row.text("redirect_uris"), column: "redirect_uris"),
            postLogoutRedirectURIs: try ClientColumns.decode(
                row.text("post_logout_redirect_uris"), column: "post_logout_redirect_uris"),
            grantTypes: try ClientColumns.decode(row.text("grant_types"), column: "grant_types"),
            createdAt: row.date("created_at")
        )
    }

    public func deleteClient(tenantID: String, clientID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { tx in
            let deleted = try await tx.query(
                "DELETE FROM oauth_clients WHERE tenant_id = ? AND client_id = ? RETURNING client_id",
                [.text(tenantID), .text(clientID)])
            guard !deleted.isEmpty else { return nil }
            return try await Self.removePrincipal(tx, tenantID: tenantID, principalID: clientID, now: now)
        }
    }
}

extension SQLiteStore {
    public func session(refreshTokenHash: String) async throws -> SessionRecord? {
        try await query(
            "SELECT s.* FROM refresh_tokens r JOIN sessions s ON s.session_id = r.session_id WHERE r.token_hash = ?",
            [.text(refreshTokenHash)]
        ).first.map(Self.session)
    }

    public func createAuthorizationCode(_ code: AuthorizationCodeRecord) async throws {
        try await transaction { tx in
            // Spent and expired codes are kept a day (a reuse within it still revokes), then purged here.
            try await tx.query(
                "DELETE FROM authorization_codes WHERE expires_at < ?",
                [.init(code.authTime.addingTimeInterval(-86400))])
            try await tx.query(
                """
                INSERT INTO authorization_codes (code_hash, tenant_id, workspace_id, principal_id, client_id, redirect_uri, code_challenge, scope, nonce,
                    auth_time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(code.codeHash), .text(code.tenantID), .text(code.workspaceID), .text(code.principalID),
                    .text(code.clientID), .text(code.redirectURI),
                    .init(code.codeChallenge), .text(code.scope), .init(code.nonce), .init(code.authTime),
                    .init(code.expiresAt),
                ]
            )
        }
    }

    public func redeemAuthorizationCode(
        hash: String, now: Date, sessionID: String, sessionExpiresAt: Date, refreshTokenHash: String
    ) async throws -> CodeRedemption {
        try await transaction { tx in
            guard
                let row = try await tx.query("SELECT * FROM authorization_codes WHERE code_hash = ?", [.text(hash)])
                    .first
            else { return .invalid }
            var record = try Self.authorizationCode(row)
            if try row.optionalDate("used_at") != nil { return .reused(record) }
            guard record.expiresAt > now else { return .invalid }
            try await tx.query(
                "UPDATE authorization_codes SET used_at = ?, session_id = ? WHERE code_hash = ?",
                [.init(now), .text(sessionID), .text(hash)])
            record.sessionID = sessionID
            let session = SessionRecord(
                sessionID: sessionID, tenantID: record.tenantID, workspaceID: record.workspaceID,
                principalID: record.principalID, createdAt: now,
                expiresAt: sessionExpiresAt, clientID: record.clientID, scope: record.scope
            )
            try await Self.insertSession(tx, session, refreshTokenHash: refreshTokenHash)
            return .redeemed(record, session)
        }
    }

    static func authorizationCode(_ row: SQLiteRow) throws -> AuthorizationCodeRecord {
        try AuthorizationCodeRecord(
            codeHash: row.text("code_hash"), tenantID: row.text("tenant_id"), workspaceID: row.text("workspace_id"),
            principalID: row.text("principal_id"),
            clientID: row.text("client_id"), redirectURI: row.text("redirect_uri"),
            codeChallenge: row.optionalText("code_challenge"), scope: row.text("scope"),
            nonce: row.optionalText("nonce"), authTime: row.date("auth_time"), expiresAt: row.date("expires_at"),
            sessionID: row.optionalText("session_id")
        )
    }
}
