import Foundation
import GatewayCore
import SQLiteNIO

extension SQLiteStore {
    public func createClient(_ client: OAuthClientRecord) async throws {
        do {
            try await transaction { tx in
                try await Self.claimPrincipalID(tx, tenantID: client.tenantID, principalID: client.clientID, kind: "client")
                try await tx.query(
                    """
                    INSERT INTO oauth_clients (client_id, tenant_id, name, workspace_id, type, secret_hash, redirect_uris, post_logout_redirect_uris,
                        grant_types, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(client.clientID), .text(client.tenantID), .text(client.name), .text(client.workspaceID), .text(client.type.rawValue),
                        .init(client.secretHash), .text(ClientColumns.encode(client.redirectURIs)), .text(ClientColumns.encode(client.postLogoutRedirectURIs)),
                        .text(ClientColumns.encode(client.grantTypes)), .init(client.createdAt),
                    ]
                )
            }
        } catch where Self.isUniqueViolation(error) {
            throw GatewayError.conflict("A client with this id exists.")
        }
    }

    public func client(clientID: String) async throws -> OAuthClientRecord? {
        try await query("SELECT * FROM oauth_clients WHERE client_id = ?", [.text(clientID)]).first.map(Self.client)
    }

    public func clients(tenantID: String) async throws -> [OAuthClientRecord] {
        try await query("SELECT * FROM oauth_clients WHERE tenant_id = ? ORDER BY created_at, client_id", [.text(tenantID)]).map(Self.client)
    }

    static func client(_ row: SQLiteRow) throws -> OAuthClientRecord {
        OAuthClientRecord(
            tenantID: row.text("tenant_id"), clientID: row.text("client_id"), name: row.text("name"), workspaceID: row.text("workspace_id"),
            type: try ClientColumns.type(row.text("type")), secretHash: row.optionalText("secret_hash"),
            redirectURIs: try ClientColumns.decode(row.text("redirect_uris"), column: "redirect_uris"),
            postLogoutRedirectURIs: try ClientColumns.decode(row.text("post_logout_redirect_uris"), column: "post_logout_redirect_uris"),
            grantTypes: try ClientColumns.decode(row.text("grant_types"), column: "grant_types"), createdAt: row.date("created_at")
        )
    }

    public func deleteClient(tenantID: String, clientID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { tx in
            let deleted = try await tx.query("DELETE FROM oauth_clients WHERE tenant_id = ? AND client_id = ? RETURNING client_id", [.text(tenantID), .text(clientID)])
            guard !deleted.isEmpty else { return nil }
            return try await Self.removePrincipal(tx, tenantID: tenantID, principalID: clientID, now: now)
        }
    }
}
