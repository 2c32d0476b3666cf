import Foundation
import GatewayCore
import Testing

@Suite struct ConfigurationTests {
    static let sample = """
        http: { host: 0.0.0.0, port: 9090 }
        issuer: https://auth.example.com/
        gateway_audience: gw
        tokens: { access_ttl: 600, downstream_ttl: 60, refresh_ttl: 86400, leeway: 5 }
        keys: { directory: /tmp/keys, rsa_bits: 3072, rotation_interval: 0 }
        storage: { url: "sqlite:///var/lib/gw.sqlite" }
        bootstrap: { admin_username: root, admin_password: "s3cret-pass" }
        routes:
          - name: integrations
            prefix: /api/integrations
            upstream: http://127.0.0.1:9001
            audience: integrations
            strip_prefix: false
            permission: integrations.read
            timeout: 12
          - name: billing
            prefix: /api/billing
            upstream: https://billing.internal:8443/base
            audience: billing
        """

    @Test func parsesEveryKey() throws {
        let (configuration, warnings) = try GatewayConfiguration.parse(yaml: Self.sample)
        #expect(warnings.isEmpty)
        #expect(configuration.http.host == "0.0.0.0")
        #expect(configuration.http.port == 9090)
        #expect(configuration.issuer == "https://auth.example.com/")
        #expect(configuration.issuerBase == "https://auth.example.com")
        #expect(configuration.gatewayAudience == "gw")
        #expect(configuration.tokens.accessTTL == 600)
        #expect(configuration.tokens.downstreamTTL == 60)
        #expect(configuration.tokens.refreshTTL == 86400)
        #expect(configuration.tokens.leeway == 5)
        #expect(configuration.tokens.keyRetention == 605)
        #expect(configuration.keys.directory == "/tmp/keys")
        #expect(configuration.keys.rsaBits == 3072)
        #expect(configuration.keys.rotationInterval == 0)
        #expect(try StorageLocation(url: configuration.storage.url) == .sqlite(path: "/var/lib/gw.sqlite"))
        #expect(configuration.bootstrap.adminUsername == "root")
        #expect(configuration.bootstrap.adminPassword == "s3cret-pass")
        #expect(configuration.routes.count == 2)
        #expect(
            configuration.routes[0]
                == .init(
                    name: "integrations", prefix: "/api/integrations", upstream: "http://127.0.0.1:9001",
                    audience: "integrations", stripPrefix: false, permission: "integrations.read", timeout: 12))
        #expect(configuration.routes[1].stripPrefix == true)
        #expect(configuration.routes[1].timeout == 30)
        #expect(configuration.routes[1].permission == nil)
    }

    @Test func shippedConfigFileIsValidAndMatchesDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Config/gateway.yaml").path
        let (configuration, warnings) = try GatewayConfiguration.load(path: path, environment: [:])
        #expect(warnings.isEmpty)
        var withoutRoutes = configuration
        withoutRoutes.routes = []
        var expected = GatewayConfiguration()
        // The one difference, by design (SPEC 10): metrics are off in code (replicas on one host never collide) and
        // on in the shipped file.
        expected.metrics.listen = "127.0.0.1:9464"
        #expect(withoutRoutes == expected, "every other scalar key of the shipped file is the built-in default")
        #expect(
            configuration.routes == [
                .init(name: "demo", prefix: "/demo", upstream: "http://127.0.0.1:9001", audience: "connections")
            ])
    }

    @Test func environmentOverridesKeys() throws {
        let environment = [
            "IAM_GATEWAY_HTTP_PORT": "7000",
            "IAM_GATEWAY_HTTP_IDLE_TIMEOUT": "45",
            "IAM_GATEWAY_TOKENS_ACCESS_TTL": "900",
            "IAM_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD": "from-env-123",
            "IAM_GATEWAY_ROUTES": #"[{"name":"a","prefix":"/a","upstream":"http://127.0.0.1:1","audience":"svc-a"}]"#,
            "IAM_GATEWAY_TEST_POSTGRES_URL": "postgres://x@localhost/db",
            "HOME": "/root",
        ]
        let (configuration, warnings) = try GatewayConfiguration.parse(yaml: Self.sample, environment: environment)
        #expect(configuration.http.port == 7000)
        #expect(configuration.http.idleTimeout == 45)
        #expect(configuration.http.host == "0.0.0.0")
        #expect(configuration.tokens.accessTTL == 900)
        #expect(configuration.bootstrap.adminPassword == "from-env-123")
        #expect(configuration.routes.map(\.name) == ["a"])
        #expect(warnings.isEmpty)
        #expect(
            GatewayConfiguration.environmentName(for: "keys.rotation_interval") == "IAM_GATEWAY_KEYS_ROTATION_INTERVAL")
    }

    @Test func headerAndOriginListsFromYAMLOrTheEnvironment() throws {
        let yaml =
            "proxy: { strip_headers: [X-Debug, X_Internal] }\nhttp: { allowed_origins: ['https://App.example', 'http://localhost:3000'] }"
        let (parsed, _) = try GatewayConfiguration.parse(yaml: yaml)
        #expect(parsed.proxy.stripHeaders == ["X-Debug", "X_Internal"])
        #expect(parsed.http.allowedOrigins == ["https://app.example", "http://localhost:3000"])
        let (fromEnvironment, warnings) = try GatewayConfiguration.parse(
            yaml: "", environment: ["IAM_GATEWAY_PROXY_STRIP_HEADERS": "X-A, X-B"])
        #expect(fromEnvironment.proxy.stripHeaders == ["X-A", "X-B"] && warnings.isEmpty)
    }

    /// `http.trusted_proxies`: IPv4 and IPv6 addresses and CIDR blocks; the client is the nearest untrusted hop.
    @Test func trustedProxiesMatchAddressesAndBlocks() throws {
        let (parsed, _) = try GatewayConfiguration.parse(
            yaml: "http: { trusted_proxies: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '172.16.0.0/12'] }")
        let trusted = parsed.http.trustedProxies
        for address in ["10.0.0.1", "10.255.255.255", "192.0.2.7", "2001:db8::1", "2001:0db8:ffff::9", "172.31.0.1"] {
            #expect(trusted.contains(address), "\(address)")
        }
        for address in [
            "11.0.0.1", "192.0.2.8", "2001:db9::1", "172.32.0.1", "::ffff:10.0.0.1x", "", "lb.internal", "10.0.0.1/8",
        ] {
            #expect(!trusted.contains(address), "\(address)")
        }
        #expect(!TrustedProxies.none.contains("127.0.0.1"), "nothing is trusted by default")
        // From an untrusted peer the header is ignored whatever it says.
        #expect(trusted.clientAddress(peer: "198.51.100.1", forwardedFor: ["10.0.0.1"]) == "198.51.100.1")
        // From a trusted one: read from the right, skipping trusted hops, stopping at the first untrusted one.
        #expect(
            trusted.clientAddress(peer: "10.0.0.5", forwardedFor: ["6.6.6.6, 203.0.113.9", "10.0.0.2"]) == "203.0.113.9"
        )
        #expect(trusted.clientAddress(peer: "10.0.0.5", forwardedFor: []) == "10.0.0.5")
        #expect(
            trusted.clientAddress(peer: "10.0.0.5", forwardedFor: ["203.0.113.9, not-an-ip, 10.0.0.3"]) == "10.0.0.3",
            "the walk stops at garbage")
        #expect(
            trusted.clientAddress(peer: "10.0.0.5", forwardedFor: ["10.0.0.9"]) == "10.0.0.9",
            "only trusted hops: the farthest")
        let (fromEnvironment, _) = try GatewayConfiguration.parse(
            yaml: "", environment: ["IAM_GATEWAY_HTTP_TRUSTED_PROXIES": "127.0.0.1, ::1"])
        #expect(fromEnvironment.http.trustedProxies.contains("::1"))
    }

    @Test func emptyDocumentGivesDefaults() throws {
        #expect(try GatewayConfiguration.parse(yaml: "").0 == GatewayConfiguration())
        #expect(try GatewayConfiguration.parse(yaml: "# only a comment\n").0 == GatewayConfiguration())
    }

    static let invalid: [(yaml: String, environment: [String: String], key: String, fragment: String)] = [
        ("htp: { port: 1 }", [:], "htp", "unknown key"),
        ("http: { port: 1, prot: 2 }", [:], "http.prot", "unknown key"),
        ("http: { port: eighty }", [:], "http.port", "must be an integer"),
        ("http: { port: 70000 }", [:], "http.port", "between 0 and 65535"),
        ("", ["IAM_GATEWAY_HTTP_PORT": "x"], "http.port", "must be an integer"),
        ("http: { idle_timeout: 0 }", [:], "http.idle_timeout", "between 1 and 3600"),
        ("issuer: ftp://example.com", [:], "issuer", "http:// or https://"),
        ("issuer: not a url", [:], "issuer", "http:// or https://"),
        ("issuer: http://example.com/?q=1", [:], "issuer", "without query"),
        ("keys: { rsa_bits: 1024 }", [:], "keys.rsa_bits", "at least 2048"),
        ("keys: { rsa_bits: 2500 }", [:], "keys.rsa_bits", "2048, 3072 or 4096"),
        ("keys: { rotation_interval: -1 }", [:], "keys.rotation_interval", "at least 0"),
        ("keys: { directory: '' }", [:], "keys.directory", "must not be empty"),
        ("storage: { url: 'mysql://x' }", [:], "storage.url", "sqlite:// or postgres://"),
        ("storage: { url: 'postgres://' }", [:], "storage.url", "postgres://"),
        ("storage: { url: 'postgres://u:p@db/iam' }", [:], "keys.encryption_key_file", "key-encryption key"),
        ("keys: { encryption_key_file: /k, encryption_key_env: K }", [:], "keys.encryption_key_env", "not both"),
        ("keys: { encryption_key: abc }", [:], "keys.encryption_key", "unknown key"),
        ("tokens: { access_ttl: 0 }", [:], "tokens.access_ttl", "between 1"),
        ("tokens: { access_ttl: 600, refresh_ttl: 60 }", [:], "tokens.refresh_ttl", "shorter"),
        ("http: [1, 2]", [:], "http", "unknown key"),
        ("http: { port: [1, 2] }", [:], "http.port", "single value"),
        ("routes: { name: a }", [:], "routes", "list of routes"),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: x }, { name: b, prefix: /a, upstream: 'http://h', audience: y } ]",
            [:], "routes[1].prefix", "duplicate route prefix"
        ),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: x }, { name: a, prefix: /b, upstream: 'http://h', audience: y } ]",
            [:], "routes[1].name", "duplicate route name"
        ),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'not-a-url', audience: x } ]", [:], "routes[0].upstream",
            "http:// or https://"
        ),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: x, colour: red } ]", [:],
            "routes[0].colour", "unknown key"
        ),
        (
            "routes: [ { name: a, prefix: a, upstream: 'http://h', audience: x } ]", [:], "routes[0].prefix",
            "must start with /"
        ),
        (
            "routes: [ { name: a, prefix: /a/../b, upstream: 'http://h', audience: x } ]", [:], "routes[0].prefix",
            "must start with /"
        ),
        (
            "routes: [ { name: a, prefix: /v1/things, upstream: 'http://h', audience: x } ]", [:], "routes[0].prefix",
            "overlaps"
        ),
        ("routes: [ { name: a, prefix: /a, upstream: 'http://h' } ]", [:], "routes[0].audience", "is required"),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: iam-gateway } ]", [:],
            "routes[0].audience", "must differ"
        ),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: x, permission: 'Bad Name' } ]", [:],
            "routes[0].permission", "permission name"
        ),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: x, timeout: 0 } ]", [:],
            "routes[0].timeout", "between 1 and 3600"
        ),
        (
            "routes: [ { name: a, prefix: /a, upstream: 'http://h', audience: x, strip_prefix: maybe } ]", [:],
            "routes[0].strip_prefix", "true or false"
        ),
        ("", ["IAM_GATEWAY_ROUTES": "{ not: a list }"], "routes", "must hold a list"),
        ("http: { port: 1\n  host: [", [:], "config", "not valid YAML"),
        ("proxy: { strip_headers: ['X Bad'] }", [:], "proxy.strip_headers", "not a header name"),
        ("proxy: { strip_headers: [{ a: b }] }", [:], "proxy.strip_headers", "list of strings"),
        ("http: { allowed_origins: ['https://app.example/path'] }", [:], "http.allowed_origins", "not an origin"),
        ("", ["IAM_GATEWAY_HTTP_ALLOWED_ORIGINS": "ftp://x"], "http.allowed_origins", "not an origin"),
        (
            "http: { trusted_proxies: ['10.0.0.0/33'] }", [:], "http.trusted_proxies",
            "10.0.0.0/33 is not an IP address or CIDR"
        ),
        ("", ["IAM_GATEWAY_HTTP_PROT": "1"], "IAM_GATEWAY_HTTP_PROT", "did you mean IAM_GATEWAY_HTTP_PORT?"),
        (
            "", ["IAM_GATEWAY_COMPLETELY_UNKNOWN": "1"], "IAM_GATEWAY_COMPLETELY_UNKNOWN",
            "does not name a configuration key"
        ),
        (
            "", ["IAM_GATEWAY_HTTP_TRUSTED_PROXIES": "10.0.0.1, lb.internal"], "http.trusted_proxies",
            "lb.internal is not"
        ),
        ("- just\n- a list\n", [:], "config", "top level"),
    ]

    @Test(arguments: 0..<invalid.count)
    func rejectsInvalidConfiguration(_ index: Int) {
        let case_ = Self.invalid[index]
        do {
            _ = try GatewayConfiguration.parse(yaml: case_.yaml, environment: case_.environment)
            Issue.record("accepted invalid configuration #\(index): \(case_.yaml)")
        } catch {
            #expect(error.key == case_.key, "case #\(index)")
            #expect(error.problem.contains(case_.fragment), "case #\(index): \(error.problem)")
        }
    }

    @Test func postgresWithAKeyEncryptionKeyIsAccepted() throws {
        let (fromFile, _) = try GatewayConfiguration.parse(
            yaml: "storage: { url: 'postgres://u:p@db/iam' }\nkeys: { encryption_key_file: /etc/iam-gateway/kek }")
        #expect(fromFile.keys.encryptionKeyFile == "/etc/iam-gateway/kek")
        let (fromEnvironment, warnings) = try GatewayConfiguration.parse(
            yaml: "",
            environment: [
                "IAM_GATEWAY_STORAGE_URL": "postgres://u:p@db/iam",
                "IAM_GATEWAY_KEYS_ENCRYPTION_KEY_ENV": "GATEWAY_KEK",
            ]
        )
        #expect(fromEnvironment.keys.encryptionKeyEnv == "GATEWAY_KEK")
        #expect(warnings.isEmpty)
    }

    @Test func missingFileNamesThePath() {
        #expect(
            throws: ConfigurationError(key: "/nonexistent/gateway.yaml", problem: "cannot read the configuration file")
        ) {
            _ = try GatewayConfiguration.load(path: "/nonexistent/gateway.yaml", environment: [:])
        }
    }

    @Test func postgresPasswordIsNotEchoedInErrors() {
        do {
            _ = try GatewayConfiguration.parse(yaml: "storage: { url: 'postgres://user:hunter2@/db' }")
            Issue.record("accepted a postgres URL without host")
        } catch {
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test func jwksMaxAgeStaysWellBelowRotation() {
        var configuration = GatewayConfiguration()
        #expect(configuration.jwksMaxAge == 300)
        configuration.keys.rotationInterval = 600
        #expect(configuration.jwksMaxAge == 60)
        configuration.keys.rotationInterval = 0
        #expect(configuration.jwksMaxAge == 300)
    }

    @Test func identifiersAndPermissionNames() {
        #expect(Identifier.isValid("default"))
        #expect(Identifier.isValid("a"))
        #expect(Identifier.isValid("tenant_1-x"))
        #expect(!Identifier.isValid(""))
        #expect(!Identifier.isValid("-a"))
        #expect(!Identifier.isValid("Upper"))
        #expect(!Identifier.isValid(String(repeating: "a", count: 64)))
        #expect(Identifier.isValid(String(repeating: "a", count: 63)))
        #expect(PermissionName.isValid("connections.create"))
        #expect(PermissionName.isValid("discovery.history.read"))
        #expect(!PermissionName.isValid("connections"))
        #expect(!PermissionName.isValid("Connections.create"))
        #expect(!PermissionName.isValid("connections..create"))
        #expect(!PermissionName.isValid("connections.create."))
        #expect(RoutePath.isSegmentPrefix("/api", of: "/api/x"))
        #expect(RoutePath.isSegmentPrefix("/api", of: "/api"))
        #expect(!RoutePath.isSegmentPrefix("/api", of: "/apix"))
    }
}
