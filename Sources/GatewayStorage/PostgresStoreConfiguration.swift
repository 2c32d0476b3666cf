import Foundation
import GatewayCore
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// Where and how to reach PostgreSQL, parsed from `storage.url`
/// (`postgres://user:password@host:5432/database?sslmode=prefer`).
///
/// `sslmode` is `disable`, `prefer` (the default: TLS when the server offers it) or `require` (TLS or no connection).
/// With TLS the server's certificate is always verified and must name the host: against the system trust store, or
/// against the CA certificates (PEM) of the file `sslrootcert` names (a private CA, a cloud provider's bundle).
/// ``description`` never holds the password.
public struct PostgresStoreConfiguration: Sendable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    /// A PEM file of the CA certificates that verify the server's (`sslrootcert`); `nil` = the system trust store.
    public var trustRootsFile: String?
    /// A schema to keep the gateway's tables in (`search_path`), created when missing; `nil` = the default (`public`).
    public var schema: String?
    /// The most connections the pool opens.
    public var maximumConnections: Int = 10
    /// How long one store operation may wait (for a connection, mostly) before it fails as unavailable.
    public var operationTimeout: Duration = .seconds(5)
    /// How long opening one connection may take.
    public var connectTimeout: Duration = .seconds(5)

    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String,
        tlsMode: TLSMode = .prefer, schema: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.schema = schema
    }

    /// Parses a `postgres://` or `postgresql://` URL; percent-encoded user and password are decoded.
    public init(url: String) throws(ConfigurationError) {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"),
            let components = URLComponents(string: url), let host = components.host, !host.isEmpty
        else {
            throw ConfigurationError(
                key: "storage.url", problem: "not a valid postgres://user:password@host:5432/database URL")
        }
        guard let username = components.user, !username.isEmpty else {
            throw ConfigurationError(
                key: "storage.url",
                problem: "the postgres:// URL needs a user name (postgres://user:password@host/database)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw ConfigurationError(
                key: "storage.url",
                problem: "the postgres:// URL needs a database name as its path (postgres://user@host/database)")
        }
        var tlsMode = TLSMode.prefer
        var schema: String?
        var trustRootsFile: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw ConfigurationError(key: "storage.url", problem: "sslmode must be disable, prefer or require")
                }
                tlsMode = value
            case "sslrootcert":
                guard let path = item.value, !path.isEmpty else {
                    throw ConfigurationError(key: "storage.url", problem: "sslrootcert needs the path of a PEM file")
                }
                guard (try? NIOSSLCertificate.fromPEMFile(path))?.isEmpty == false else {
                    throw ConfigurationError(
                        key: "storage.url", problem: "sslrootcert: \(path) is not a readable PEM file of certificates")
                }
                trustRootsFile = path
            case "schema":
                guard let value = item.value, Self.isValidSchemaName(value) else {
                    throw ConfigurationError(key: "storage.url", problem: "schema must match ^[a-z_][a-z0-9_]{0,62}$")
                }
                schema = value
            default:
                throw ConfigurationError(
                    key: "storage.url",
                    problem: "unknown URL parameter \(item.name) (known: sslmode, sslrootcert, schema)")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432, username: username, password: components.password,
            database: database, tlsMode: tlsMode, schema: schema)
        self.trustRootsFile = trustRootsFile
    }

    /// The TLS client configuration: full verification, against `trustRootsFile` when set.
    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let trustRootsFile { configuration.trustRoots = .file(trustRootsFile) }
        return configuration
    }

    /// `postgres://user@host:port/database`, for logs: never the password.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }

    /// The channel of change notifications (one per schema, so two gateways in one database stay apart).
    var notificationChannel: String { "iam_gateway_changes" + (schema.map { "_\($0)" } ?? "") }

    static func isValidSchemaName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63, first == 0x5F || (first >= 0x61 && first <= 0x7A)
        else { return false }
        return name.utf8.allSatisfy { $0 == 0x5F || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    var startupParameters: [(String, String)] {
        var parameters = [("application_name", "iam-gateway")]
        if let schema { parameters.append(("search_path", schema)) }
        return parameters
    }

    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            case .require: .require(tlsConfiguration)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// A single connection's configuration (migrations at open, the notification listener).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require: .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .nanoseconds(connectTimeout.nanoseconds)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
