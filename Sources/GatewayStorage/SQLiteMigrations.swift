/// The SQLite schema as numbered migrations; applied in order at open, never edited once released.
enum SQLiteMigrations {
    struct Migration {
        var version: Int
        var name: String
        var statements: [String]
    }

    static let all: [Migration] = [
        Migration(version: 1, name: "gateway metadata", statements: [
            "CREATE TABLE gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ]),
    ]
}
