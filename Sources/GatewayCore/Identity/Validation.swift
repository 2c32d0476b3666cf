import Foundation

/// Input rules shared by the domain services: each failure is 400 `invalid_request` naming the field.
public enum Validation {
    /// A display name or description: 1 to 200 printable characters, trimmed.
    public static func name(_ text: String, field: String) throws -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200,
            !trimmed.contains(where: { $0.isNewline || $0.asciiValue.map { $0 < 0x20 } == true })
        else {
            throw GatewayError.invalidRequest("\(field) must be 1 to 200 printable characters.")
        }
        return trimmed
    }

    /// An id: `^[a-z0-9][a-z0-9_-]{0,62}$`.
    public static func id(_ text: String, field: String) throws -> String {
        guard Identifier.isValid(text) else {
            throw GatewayError.invalidRequest("\(field) must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
        }
        return text
    }

    /// A workspace id or `*` (tenant-wide).
    public static func workspaceScope(_ text: String, field: String = "workspace_id") throws -> WorkspaceScope {
        if text == WorkspaceScope.tenantWideID { return .tenantWide }
        return .workspace(try id(text, field: field))
    }
}
