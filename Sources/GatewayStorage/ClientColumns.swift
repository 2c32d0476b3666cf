import Foundation
import GatewayCore

/// How both stores keep a client's URI and grant lists: one JSON array of strings per column.
enum ClientColumns {
    static func encode(_ list: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(list), as: UTF8.self)) ?? "[]"
    }

    /// A column that is not a JSON array of strings is a damaged row: an error, never an empty list.
    static func decode(_ text: String, column: String) throws -> [String] {
        guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
            throw StoreError.corrupt("oauth_clients.\(column) is not a JSON list of strings")
        }
        return list
    }

    static func type(_ text: String) throws -> OAuthClientRecord.ClientType {
        guard let type = OAuthClientRecord.ClientType(rawValue: text) else {
            throw StoreError.corrupt("oauth_clients.type is \(text)")
        }
        return type
    }
}
