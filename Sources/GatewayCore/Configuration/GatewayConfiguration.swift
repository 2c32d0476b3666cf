import Foundation

/// The gateway's configuration (SPEC section 2). Durations are integer seconds.
///
/// Keys, as written in `Config/gateway.yaml` and overridable by `IAM_GATEWAY_<KEY_PATH>` environment variables:
/// - `http.host`, `http.port`: where the server listens.
/// - `issuer`: the `iss` claim; discovery and JWKS URLs derive from it.
/// - `gateway_audience`: `aud` of client access tokens.
/// - `tokens.access_ttl`, `tokens.downstream_ttl`, `tokens.refresh_ttl`, `tokens.leeway`,
///   `tokens.downstream_cache_size`.
/// - `keys.directory`, `keys.rsa_bits`, `keys.rotation_interval` (0 = no automatic rotation).
/// - `keys.encryption_key_file` or `keys.encryption_key_env`: the key-encryption key (32 bytes, base64) of the
///   shared key store, from a file or from the environment variable so named; one is required with PostgreSQL.
/// - `storage.url`: `sqlite://PATH` (embedded default) or `postgres://user:pass@host:5432/db`.
/// - `passwords.scrypt_log_n`, `passwords.scrypt_r`, `passwords.scrypt_p`: password hashing cost.
/// - `bootstrap.admin_username`, `bootstrap.admin_password` (secret; empty = generate one on first start).
/// - `http.tls.certificate`, `http.tls.private_key`: PEM files; both set = HTTPS on the listener.
/// - `http.allowed_origins`: origins allowed to open a cookie-authenticated WebSocket (list, or comma-separated).
/// - `http.trusted_proxies`: load balancers (IPs or CIDR blocks) whose `X-Forwarded-*` headers are believed.
/// - `proxy.strip_headers`: more request headers never forwarded upstream (list, or comma-separated).
/// - `routes`: a list of ``Route``; from the environment, `IAM_GATEWAY_ROUTES` holds the whole list as JSON/YAML.
public struct GatewayConfiguration: Sendable, Equatable {
    public struct HTTP: Sendable, Equatable {
        public var host: String = "127.0.0.1"
        public var port: Int = 8080
        /// Seconds a client connection may stay idle (no request in progress) before it is closed.
        public var idleTimeout: Int = 30
        /// Origins (`https://app.example.com`) whose pages may open a WebSocket authenticated by the session cookie
        /// (cross-site WebSocket hijacking); lower-cased.
        public var allowedOrigins: [String] = []
        /// PEM certificate chain and private key: when both are set the listener serves HTTPS (TLS 1.2+) on the same
        /// port, re-reading the files when they change.
        public var tlsCertificate: String = ""
        public var tlsPrivateKey: String = ""
        /// Load balancers in front whose `X-Forwarded-For`/`-Proto`/`-Host` are believed; from others they are dropped.
        public var trustedProxies: TrustedProxies = .none
        public init() {}

        public var servesTLS: Bool { !tlsCertificate.isEmpty }
    }

    public struct Proxy: Sendable, Equatable {
        /// More request headers never forwarded upstream (besides the identity headers SPEC 7 names).
        public var stripHeaders: [String] = []
        public init() {}
    }

    public struct Tokens: Sendable, Equatable {
        public var accessTTL: Int = 300
        public var downstreamTTL: Int = 120
        public var refreshTTL: Int = 2_592_000
        public var leeway: Int = 30
        /// Downstream tokens kept for reuse by the proxy; 0 turns the cache off (every request mints).
        public var downstreamCacheSize: Int = 100_000
        public init() {}

        /// How long a key keeps being published after it stopped signing: the longest token lifetime plus leeway.
        public var keyRetention: Int { max(accessTTL, downstreamTTL) + leeway }
    }

    public struct Keys: Sendable, Equatable {
        public var directory: String = "Keys"
        public var rsaBits: Int = 2048
        public var rotationInterval: Int = 2_592_000
        /// File holding the base64 key-encryption key of a shared (PostgreSQL) key store; mode 0600.
        public var encryptionKeyFile: String = ""
        /// Name of the environment variable holding that key instead.
        public var encryptionKeyEnv: String = ""
        public init() {}
    }

    public struct Storage: Sendable, Equatable {
        public var url: String = "sqlite://data/gateway.sqlite"
        public init() {}
    }

    /// Password hashing (scrypt) parameters; stored hashes carry their own, so changes apply to new hashes.
    public struct Passwords: Sendable, Equatable {
        /// log2 of scrypt's N (CPU/memory cost): 15 = 32 MiB and tens of milliseconds per hash.
        public var scryptLogN: Int = 15
        public var scryptR: Int = 8
        public var scryptP: Int = 1
        public init() {}

        public var hasher: PasswordHasher { PasswordHasher(logN: scryptLogN, blockSize: scryptR, parallelism: scryptP) }
    }

    /// Logging (SPEC 10): the level of every log line and the format of all lines, access lines included.
    public struct Log: Sendable, Equatable {
        public enum Format: String, Sendable, Equatable { case text, json }
        public var level: String = "info"
        public var format: Format = .text
        /// One access line per request on standard output.
        public var access: Bool = true

        public init() {}
    }

    /// Prometheus metrics (SPEC 10) on a listener of their own; empty = off.
    public struct Metrics: Sendable, Equatable {
        public var listen: String = ""
        /// `listen` split into host and port (validated at load).
        public var address: (host: String, port: Int)? {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                return nil
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return (host.isEmpty ? "0.0.0.0" : host, port)
        }
    }

    /// Tracing (SPEC 10): spans exported over OTLP/HTTP to this endpoint; empty = no exporter.
    public struct Tracing: Sendable, Equatable {
        public var otlpEndpoint: String = ""
    }

    public struct Bootstrap: Sendable, Equatable {
        public var adminUsername: String = "admin"
        public var adminPassword: String = ""
        public init() {}
    }

    /// One proxied route (SPEC section 7).
    public struct Route: Sendable, Equatable {
        public var name: String
        /// Matched on whole path segments; the longest prefix wins.
        public var prefix: String
        public var upstream: String
        /// `aud` and `service` of the token minted for this upstream.
        public var audience: String
        public var stripPrefix: Bool
        /// Checked at the edge when set.
        public var permission: String?
        /// Seconds to wait for the upstream's answer.
        public var timeout: Int

        public init(
            name: String, prefix: String, upstream: String, audience: String, stripPrefix: Bool = true,
            permission: String? = nil, timeout: Int = 30
        ) {
            self.name = name
            self.prefix = prefix
            self.upstream = upstream
            self.audience = audience
            self.stripPrefix = stripPrefix
            self.permission = permission
            self.timeout = timeout
        }
    }

    public var http = HTTP()
    public var issuer: String = "http://127.0.0.1:8080"
    public var gatewayAudience: String = "iam-gateway"
    public var tokens = Tokens()
    public var keys = Keys()
    public var storage = Storage()
    public var passwords = Passwords()
    public var bootstrap = Bootstrap()
    public var routes: [Route] = []
    public var proxy = Proxy()
    public var log = Log()
    public var metrics = Metrics()
    public var tracing = Tracing()

    public init() {}

    /// `issuer` without a trailing slash, the base of discovery URLs.
    public var issuerBase: String {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Seconds a JWKS response may be cached: well below the time a `next` key waits before it signs.
    public var jwksMaxAge: Int {
        guard keys.rotationInterval > 0 else { return 300 }
        return max(1, min(300, keys.rotationInterval / 10))
    }
}
