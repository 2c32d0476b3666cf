import Foundation
import Yams

extension GatewayConfiguration {
    /// The prefix of environment variables that override config keys.
    public static let environmentPrefix = "IAM_GATEWAY_"

    /// Reads a YAML file, applies `IAM_GATEWAY_*` overrides from `environment` and validates the result.
    /// - Returns: the configuration and warnings to print (none today; an unrecognised `IAM_GATEWAY_*` variable is an
    ///   error).
    public static func load(path: String, environment: [String: String]) throws(ConfigurationError) -> (
        GatewayConfiguration, [String]
    ) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: path, problem: "cannot read the configuration file")
        }
        return try parse(yaml: text, environment: environment, source: path)
    }

    /// Parses YAML text (see ``load(path:environment:)``).
    public static func parse(yaml text: String, environment: [String: String] = [:], source: String = "config")
        throws(ConfigurationError) -> (GatewayConfiguration, [String])
    {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationError(key: source, problem: "not valid YAML (\(Self.yamlErrorSummary(error)))")
        }
        var values: [String: String] = [:]
        var routeNodes: [Any]?
        if let document, !(document is NSNull) {
            guard let root = document as? [String: Any] else {
                throw ConfigurationError(key: source, problem: "the top level must be a mapping of keys")
            }
            try flatten(root, prefix: "", into: &values, routes: &routeNodes)
        }

        let warnings: [String] = []
        let environmentRoutes = environment[environmentPrefix + "ROUTES"]
        for (name, value) in environment where name.hasPrefix(environmentPrefix) {
            if let key = scalarKeyByEnvironmentName[name] {
                values[key] = value
            } else if name != environmentPrefix + "ROUTES", !name.hasPrefix(environmentPrefix + "TEST_") {
                // Like a misspelled YAML key, a misspelled variable stops start-up (SPEC 2): ignoring it would run
                // with a setting the operator believes changed. `IAM_GATEWAY_TEST_*` belong to the test suite.
                let near = scalarKeyByEnvironmentName.keys.min { editDistance($0, name) < editDistance($1, name) }
                let hint = near.map { editDistance($0, name) <= 3 ? "; did you mean \($0)?" : "" } ?? ""
                throw ConfigurationError(
                    key: name, problem: "this environment variable does not name a configuration key\(hint)")
            }
        }
        if let environmentRoutes {
            do {
                let parsed = try Yams.load(yaml: environmentRoutes)
                guard let list = parsed as? [Any] else {
                    throw ConfigurationError(
                        key: "routes", problem: "\(environmentPrefix)ROUTES must hold a list of routes")
                }
                routeNodes = list
            } catch let error as ConfigurationError {
                throw error
            } catch {
                throw ConfigurationError(key: "routes", problem: "\(environmentPrefix)ROUTES is not valid YAML or JSON")
            }
        }

        var configuration = GatewayConfiguration()
        let reader = ValueReader(values: values)
        try reader.read("http.host", into: &configuration.http.host, .nonEmpty)
        try reader.read("http.port", into: &configuration.http.port, range: 0...65535)
        try reader.read("http.idle_timeout", into: &configuration.http.idleTimeout, range: 1...3600)
        try reader.read("issuer", into: &configuration.issuer, .httpURL)
        try reader.read("gateway_audience", into: &configuration.gatewayAudience, .identifier)
        try reader.read("tokens.access_ttl", into: &configuration.tokens.accessTTL, range: 1...86_400)
        try reader.read("tokens.downstream_ttl", into: &configuration.tokens.downstreamTTL, range: 1...86_400)
        try reader.read("tokens.refresh_ttl", into: &configuration.tokens.refreshTTL, range: 1...31_536_000)
        try reader.read("tokens.leeway", into: &configuration.tokens.leeway, range: 0...300)
        try reader.read(
            "tokens.downstream_cache_size", into: &configuration.tokens.downstreamCacheSize, range: 0...10_000_000)
        try reader.read("keys.directory", into: &configuration.keys.directory, .nonEmpty)
        try reader.read("keys.rsa_bits", into: &configuration.keys.rsaBits, range: 0...Int.max)
        try reader.read("keys.rotation_interval", into: &configuration.keys.rotationInterval, range: 0...Int.max)
        try reader.read("keys.encryption_key_file", into: &configuration.keys.encryptionKeyFile, .any)
        try reader.read("keys.encryption_key_env", into: &configuration.keys.encryptionKeyEnv, .any)
        try reader.read("storage.url", into: &configuration.storage.url, .nonEmpty)
        try reader.read("passwords.scrypt_log_n", into: &configuration.passwords.scryptLogN, range: 10...20)
        try reader.read("passwords.scrypt_r", into: &configuration.passwords.scryptR, range: 1...32)
        try reader.read("passwords.scrypt_p", into: &configuration.passwords.scryptP, range: 1...16)
        try reader.read("bootstrap.admin_username", into: &configuration.bootstrap.adminUsername, .nonEmpty)
        try reader.read("bootstrap.admin_password", into: &configuration.bootstrap.adminPassword, .any)
        try reader.read("http.tls.certificate", into: &configuration.http.tlsCertificate, .any)
        try reader.read("http.tls.private_key", into: &configuration.http.tlsPrivateKey, .any)
        if configuration.http.tlsCertificate.isEmpty != configuration.http.tlsPrivateKey.isEmpty {
            throw ConfigurationError(
                key: configuration.http.tlsCertificate.isEmpty ? "http.tls.certificate" : "http.tls.private_key",
                problem: "set both http.tls.certificate and http.tls.private_key, or neither")
        }
        for (key, path) in [
            ("http.tls.certificate", configuration.http.tlsCertificate),
            ("http.tls.private_key", configuration.http.tlsPrivateKey),
        ] where !path.isEmpty {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError(key: key, problem: "\(path) is not a readable file")
            }
        }
        try reader.read("log.level", into: &configuration.log.level, .nonEmpty)
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(configuration.log.level)
        else {
            throw ConfigurationError(
                key: "log.level",
                problem:
                    "must be one of trace, debug, info, notice, warning, error, critical (got \"\(configuration.log.level)\")"
            )
        }
        var format = configuration.log.format.rawValue
        try reader.read("log.format", into: &format, .nonEmpty)
        guard let parsedFormat = GatewayConfiguration.Log.Format(rawValue: format) else {
            throw ConfigurationError(key: "log.format", problem: "must be text or json (got \"\(format)\")")
        }
        configuration.log.format = parsedFormat
        var access = configuration.log.access ? "true" : "false"
        try reader.read("log.access", into: &access, .nonEmpty)
        guard let parsedAccess = Bool(access.lowercased()) else {
            throw ConfigurationError(key: "log.access", problem: "must be true or false (got \"\(access)\")")
        }
        configuration.log.access = parsedAccess
        try reader.read("metrics.listen", into: &configuration.metrics.listen, .any)
        if !configuration.metrics.listen.isEmpty {
            guard let address = configuration.metrics.address, (0...65535).contains(address.port) else {
                throw ConfigurationError(
                    key: "metrics.listen",
                    problem: "must be host:port, like 127.0.0.1:9464 (got \"\(configuration.metrics.listen)\")")
            }
        }
        try reader.read("tracing.otlp_endpoint", into: &configuration.tracing.otlpEndpoint, .any)
        if !configuration.tracing.otlpEndpoint.isEmpty {
            guard let url = URL(string: configuration.tracing.otlpEndpoint),
                ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false
            else {
                throw ConfigurationError(
                    key: "tracing.otlp_endpoint",
                    problem:
                        "must be an http(s) URL like http://127.0.0.1:4318 (got \"\(configuration.tracing.otlpEndpoint)\")"
                )
            }
        }
        var stripHeaders = ""
        try reader.read("proxy.strip_headers", into: &stripHeaders, .any)
        configuration.proxy.stripHeaders = try Self.headerNames(stripHeaders, key: "proxy.strip_headers")
        var allowedOrigins = ""
        try reader.read("http.allowed_origins", into: &allowedOrigins, .any)
        configuration.http.allowedOrigins = try Self.origins(allowedOrigins, key: "http.allowed_origins")
        var trustedProxies = ""
        try reader.read("http.trusted_proxies", into: &trustedProxies, .any)
        do {
            let entries = trustedProxies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            configuration.http.trustedProxies = try TrustedProxies(entries)
        } catch {
            throw ConfigurationError(
                key: "http.trusted_proxies",
                problem: "\(error.entry) is not an IP address or CIDR block like 10.0.0.0/8")
        }

        if configuration.keys.rsaBits < 2048 {
            throw ConfigurationError(
                key: "keys.rsa_bits", problem: "must be at least 2048 (got \(configuration.keys.rsaBits))")
        }
        if ![2048, 3072, 4096].contains(configuration.keys.rsaBits) {
            throw ConfigurationError(
                key: "keys.rsa_bits", problem: "must be 2048, 3072 or 4096 (got \(configuration.keys.rsaBits))")
        }
        if configuration.tokens.refreshTTL < configuration.tokens.accessTTL {
            throw ConfigurationError(key: "tokens.refresh_ttl", problem: "must not be shorter than tokens.access_ttl")
        }
        if case .postgres = try StorageLocation(url: configuration.storage.url) {
            let keys = configuration.keys
            if keys.encryptionKeyFile.isEmpty && keys.encryptionKeyEnv.isEmpty {
                throw ConfigurationError(
                    key: "keys.encryption_key_file",
                    problem:
                        "storage.url is PostgreSQL, whose shared key store keeps private keys encrypted: set keys.encryption_key_file (or keys.encryption_key_env) to a 32-byte base64 key-encryption key"
                )
            }
        }
        if !configuration.keys.encryptionKeyFile.isEmpty && !configuration.keys.encryptionKeyEnv.isEmpty {
            throw ConfigurationError(
                key: "keys.encryption_key_env",
                problem: "set keys.encryption_key_file or keys.encryption_key_env, not both")
        }
        configuration.routes = try parseRoutes(routeNodes ?? [], gatewayAudience: configuration.gatewayAudience)
        return (configuration, warnings.sorted())
    }

    // MARK: - Key table

    enum ValueKind {
        case any, nonEmpty, identifier, httpURL
    }

    static let scalarKeys: [String] = [
        "http.host", "http.port", "http.idle_timeout", "issuer", "gateway_audience",
        "tokens.access_ttl", "tokens.downstream_ttl", "tokens.refresh_ttl", "tokens.leeway",
        "tokens.downstream_cache_size",
        "keys.directory", "keys.rsa_bits", "keys.rotation_interval", "keys.encryption_key_file",
        "keys.encryption_key_env",
        "storage.url", "passwords.scrypt_log_n", "passwords.scrypt_r", "passwords.scrypt_p", "bootstrap.admin_username",
        "bootstrap.admin_password",
        "proxy.strip_headers", "http.allowed_origins", "http.tls.certificate", "http.tls.private_key",
        "http.trusted_proxies",
        "log.level", "log.format", "log.access", "metrics.listen", "tracing.otlp_endpoint",
    ]

    /// Keys whose YAML value may be a list of strings (read as one comma-separated value, as from the environment).
    static let listKeys: Set<String> = ["proxy.strip_headers", "http.allowed_origins", "http.trusted_proxies"]

    /// Comma-separated header names, each a valid field name.
    static func headerNames(_ text: String, key: String) throws(ConfigurationError) -> [String] {
        var names: [String] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { continue }
            guard name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !Array("()<>@,;:\\\"/[]?={}".utf8).contains($0) })
            else {
                throw ConfigurationError(key: key, problem: "\(name) is not a header name")
            }
            names.append(name)
        }
        return names
    }

    /// Comma-separated origins `scheme://host[:port]`.
    static func origins(_ text: String, key: String) throws(ConfigurationError) -> [String] {
        var origins: [String] = []
        for part in text.split(separator: ",") {
            let origin = part.trimmingCharacters(in: .whitespaces)
            guard !origin.isEmpty else { continue }
            guard let url = URL(string: origin), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host != nil, url.path.isEmpty, url.query == nil
            else {
                throw ConfigurationError(key: key, problem: "\(origin) is not an origin like https://app.example.com")
            }
            origins.append(origin.lowercased())
        }
        return origins
    }

    static let scalarKeyByEnvironmentName: [String: String] = Dictionary(
        uniqueKeysWithValues: scalarKeys.map { (environmentName(for: $0), $0) }
    )

    /// `http.port` -> `IAM_GATEWAY_HTTP_PORT`.
    public static func environmentName(for key: String) -> String {
        environmentPrefix + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    static let routeKeys: Set<String> = [
        "name", "prefix", "upstream", "audience", "strip_prefix", "permission", "timeout",
    ]

    static func flatten(_ map: [String: Any], prefix: String, into values: inout [String: String], routes: inout [Any]?)
        throws(ConfigurationError)
    {
        for (name, value) in map {
            let key = prefix.isEmpty ? name : "\(prefix).\(name)"
            if key == "routes" {
                if value is NSNull {
                    routes = []
                    continue
                }
                guard let list = value as? [Any] else {
                    throw ConfigurationError(key: key, problem: "must be a list of routes")
                }
                routes = list
            } else if let nested = value as? [String: Any] {
                guard scalarKeys.contains(where: { $0.hasPrefix(key + ".") }) else {
                    throw ConfigurationError(key: key, problem: "unknown key")
                }
                try flatten(nested, prefix: key, into: &values, routes: &routes)
            } else if listKeys.contains(key), let list = value as? [Any] {
                let items = list.compactMap(scalarText)
                guard items.count == list.count else {
                    throw ConfigurationError(key: key, problem: "must be a list of strings")
                }
                values[key] = items.joined(separator: ",")
            } else {
                guard scalarKeys.contains(key) else {
                    throw ConfigurationError(key: key, problem: "unknown key")
                }
                guard let scalar = scalarText(value) else {
                    throw ConfigurationError(key: key, problem: "must be a single value, not a list or mapping")
                }
                values[key] = scalar
            }
        }
    }

    static func scalarText(_ value: Any) -> String? {
        switch value {
        case is NSNull: return ""
        case let text as String: return text
        case let bool as Bool: return bool ? "true" : "false"
        case let int as Int: return String(int)
        case let double as Double: return String(double)
        default: return nil
        }
    }

    struct ValueReader {
        var values: [String: String]

        func read(_ key: String, into target: inout String, _ kind: ValueKind) throws(ConfigurationError) {
            guard let text = values[key] else { return }
            switch kind {
            case .any:
                break
            case .nonEmpty:
                guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ConfigurationError(key: key, problem: "must not be empty")
                }
            case .identifier:
                guard !text.isEmpty, !text.contains(where: { $0.isWhitespace }) else {
                    throw ConfigurationError(key: key, problem: "must be a non-empty string without spaces")
                }
            case .httpURL:
                guard GatewayConfiguration.isHTTPURL(text, allowPath: true) else {
                    throw ConfigurationError(
                        key: key,
                        problem:
                            "must be an absolute http:// or https:// URL without query or fragment (got \"\(text)\")")
                }
            }
            target = text
        }

        func read(_ key: String, into target: inout Int, range: ClosedRange<Int>) throws(ConfigurationError) {
            guard let text = values[key] else { return }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ConfigurationError(key: key, problem: "must be an integer (got \"\(text)\")")
            }
            guard range.contains(value) else {
                let upper = range.upperBound == Int.max ? "" : " and \(range.upperBound)"
                throw ConfigurationError(
                    key: key,
                    problem:
                        "must be \(upper.isEmpty ? "at least \(range.lowerBound)" : "between \(range.lowerBound)\(upper)") (got \(value))"
                )
            }
            target = value
        }
    }

    static func isHTTPURL(_ text: String, allowPath: Bool) -> Bool {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil, components.password == nil
        else { return false }
        if !allowPath, !(components.path.isEmpty || components.path == "/") { return false }
        return true
    }

    static func yamlErrorSummary(_ error: any Error) -> String {
        if let yamlError = error as? YamlError {
            switch yamlError {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                .composer(_, let problem, let mark, _):
                return "\(problem) at line \(mark.line), column \(mark.column)"
            default:
                return "syntax error"
            }
        }
        return "syntax error"
    }

    // MARK: - Routes

    static func parseRoutes(_ nodes: [Any], gatewayAudience: String) throws(ConfigurationError) -> [Route] {
        var routes: [Route] = []
        var prefixes: [String: Int] = [:]
        var names: Set<String> = []
        for (index, node) in nodes.enumerated() {
            let base = "routes[\(index)]"
            guard let map = node as? [String: Any] else {
                throw ConfigurationError(
                    key: base, problem: "must be a mapping with name, prefix, upstream and audience")
            }
            for key in map.keys where !routeKeys.contains(key) {
                throw ConfigurationError(key: "\(base).\(key)", problem: "unknown key")
            }
            func text(_ key: String, required: Bool) throws(ConfigurationError) -> String? {
                guard let value = map[key], !(value is NSNull) else {
                    if required { throw ConfigurationError(key: "\(base).\(key)", problem: "is required") }
                    return nil
                }
                guard let scalar = scalarText(value) else {
                    throw ConfigurationError(key: "\(base).\(key)", problem: "must be a single value")
                }
                return scalar
            }
            let name = try text("name", required: true) ?? ""
            guard Identifier.isValid(name) else {
                throw ConfigurationError(
                    key: "\(base).name", problem: "must match ^[a-z0-9][a-z0-9_-]{0,62}$ (got \"\(name)\")")
            }
            guard names.insert(name).inserted else {
                throw ConfigurationError(key: "\(base).name", problem: "duplicate route name \"\(name)\"")
            }
            let prefix = try text("prefix", required: true) ?? ""
            guard RoutePath.isValidPrefix(prefix) else {
                throw ConfigurationError(
                    key: "\(base).prefix",
                    problem:
                        "must start with / and have no empty, . or .. segments and no trailing / (got \"\(prefix)\")")
            }
            guard !RoutePath.reservedPrefixes.contains(where: { RoutePath.prefix(prefix, overlaps: $0) }) else {
                throw ConfigurationError(
                    key: "\(base).prefix",
                    problem: "overlaps the gateway's own endpoints (/v1, /.well-known, /oauth, /console)")
            }
            if let other = prefixes[prefix] {
                throw ConfigurationError(
                    key: "\(base).prefix", problem: "duplicate route prefix \"\(prefix)\" (also routes[\(other)])")
            }
            prefixes[prefix] = index
            let upstream = try text("upstream", required: true) ?? ""
            guard isHTTPURL(upstream, allowPath: true) else {
                throw ConfigurationError(
                    key: "\(base).upstream",
                    problem:
                        "must be an absolute http:// or https:// URL without query or fragment (got \"\(upstream)\")")
            }
            let audience = try text("audience", required: true) ?? ""
            guard !audience.isEmpty, !audience.contains(where: { $0.isWhitespace }) else {
                throw ConfigurationError(key: "\(base).audience", problem: "must be a non-empty string without spaces")
            }
            guard audience != gatewayAudience else {
                throw ConfigurationError(
                    key: "\(base).audience",
                    problem: "must differ from gateway_audience, or downstream tokens would be accepted by the gateway")
            }
            var route = Route(name: name, prefix: prefix, upstream: upstream, audience: audience)
            if let strip = try text("strip_prefix", required: false) {
                guard let value = Bool(strip.lowercased()) else {
                    throw ConfigurationError(key: "\(base).strip_prefix", problem: "must be true or false")
                }
                route.stripPrefix = value
            }
            if let permission = try text("permission", required: false), !permission.isEmpty {
                guard PermissionName.isValid(permission) else {
                    throw ConfigurationError(
                        key: "\(base).permission",
                        problem: "must be a dotted lower-case permission name (got \"\(permission)\")")
                }
                route.permission = permission
            }
            if let timeout = try text("timeout", required: false) {
                guard let seconds = Int(timeout), (1...3600).contains(seconds) else {
                    throw ConfigurationError(key: "\(base).timeout", problem: "must be an integer between 1 and 3600")
                }
                route.timeout = seconds
            }
            routes.append(route)
        }
        return routes
    }
}

/// Where the store lives, parsed from `storage.url`.
public enum StorageLocation: Sendable, Equatable {
    /// `sqlite://relative/path` or `sqlite:///absolute/path`.
    case sqlite(path: String)
    /// `postgres://` or `postgresql://` URL.
    case postgres(url: String)

    public init(url: String) throws(ConfigurationError) {
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty, !path.hasSuffix("/") else {
                throw ConfigurationError(
                    key: "storage.url", problem: "sqlite:// needs a file path, e.g. sqlite://data/gateway.sqlite")
            }
            self = .sqlite(path: path)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
                throw ConfigurationError(key: "storage.url", problem: "not a valid postgres:// URL")
            }
            self = .postgres(url: url)
        } else {
            throw ConfigurationError(key: "storage.url", problem: "must start with sqlite:// or postgres://")
        }
    }
}

extension GatewayConfiguration {
    /// Levenshtein distance, for the "did you mean" of a misspelled variable (names are short).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
