import Foundation
import GatewayCore
import PostgresNIO

extension PostgresStore {
    public func createClient(_ client: OAuthClientRecord) async throws {
        try await conflicting("A principal or client with this id exists or existed.") {
            try await transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO principal_ids (tenant_id, principal_id, kind) VALUES (\(client.tenantID), \(client.clientID), 'client')", logger: logger
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
        try await query("SELECT * FROM oauth_clients WHERE tenant_id = \(tenantID) ORDER BY created_at, client_id COLLATE \"C\"").map(Self.client)
    }

    static func client(_ row: PostgresRow) throws -> OAuthClientRecord {
        let row = row.makeRandomAccess()
        return OAuthClientRecord(
            tenantID: try row["tenant_id"].decode(String.self), clientID: try row["client_id"].decode(String.self), name: try row["name"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self), type: try ClientColumns.type(try row["type"].decode(String.self)),
            secretHash: try row["secret_hash"].decode(String?.self),
            redirectURIs: try ClientColumns.decode(try row["redirect_uris"].decode(String.self), column: "redirect_uris"),
            postLogoutRedirectURIs: try ClientColumns.decode(try row["post_logout_redirect_uris"].decode(String.self), column: "post_logout_redirect_uris"),
            grantTypes: try ClientColumns.decode(try row["grant_types"].decode(String.self), column: "grant_types"),
            createdAt: try row["created_at"].decode(Date.self)
        )
    }

    public func deleteClient(tenantID: String, clientID: String, now: Date) async throws -> DeletedPrincipal? {
        try await transaction { [logger] connection in
            let deleted = try await connection.query(
                "DELETE FROM oauth_clients WHERE tenant_id = \(tenantID) AND client_id = \(clientID) RETURNING client_id", logger: logger
            ).collect()
            guard !deleted.isEmpty else { return nil }
            return try await self.removePrincipal(connection, tenantID: tenantID, principalID: clientID, now: now)
        }
    }
}
