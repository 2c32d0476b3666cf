import ArgumentParser
import AsyncHTTPClient
import CryptoExtras
import Foundation
import GatewayCore
import GatewayStorage
import IAMEnforcement
import NIOCore
import NIOHTTP1
import Synchronization

/// Benchmarks driven by `Benchmarks/run.sh`; each prints one JSON object on standard output.
@main
struct GatewayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-bench",
        abstract: "Micro and HTTP benchmarks of the gateway.",
        subcommands: [
            CryptoRates.self, EnforcementRates.self, AuthRates.self, CacheMemory.self, GatewayPrincipals.self,
        ]
    )
}

/// Resident memory in MB of process `process` ("self" or a pid), from /proc; -1 when it cannot be read.
/// A resident-memory line of `/proc/<process>/status` in megabytes: `VmRSS` (all), `RssAnon` (heap and stacks) or
/// `RssFile` (mapped executable and libraries, shared and reclaimable).
func residentMegabytes(of process: String = "self", field: String = "VmRSS") -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return -1 }
    return kilobytes / 1024
}

func emit(_ values: [String: Double]) {
    let body = values.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(String(format: "%.1f", $0.value))" }.joined(
        separator: ",")
    print("{\(body)}")
}

/// Runs `operation` on this thread for `seconds` and returns operations per second.
func rate(seconds: Double, _ operation: () throws -> Void) rethrows -> Double {
    let start = Date()
    var count = 0
    while true {
        for _ in 0..<16 { try operation() }
        count += 16
        let elapsed = Date().timeIntervalSince(start)
        if elapsed >= seconds { return Double(count) / elapsed }
    }
}

/// RSA-2048 sign/verify, raw and through the gateway's JWS signer and the library's verifier, on one core.
struct CryptoRates: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crypto")
    @Option var seconds: Double = 3

    func run() throws {
        let key = try SigningKey.generate(bits: 2048)
        let message = Array("header.payload".utf8)
        let rawSign = try rate(seconds: seconds) {
            _ = try key.privateKey.signature(for: message, padding: .insecurePKCS1v1_5)
        }
        let claims = AccessTokenClaims(
            iss: "http://127.0.0.1:8080", sub: "u-1", aud: "connections", exp: Date().unixSeconds + 300,
            iat: Date().unixSeconds,
            nbf: Date().unixSeconds, jti: "jti", tenantID: "acme", workspaceID: "default", roles: ["viewer"],
            policyVersion: 3,
            permissions: ["connections.read", "integrations.read"], sid: nil
        )
        let mint = try rate(seconds: seconds) { _ = try TokenMinter.sign(claims, with: key) }
        let signature = try key.privateKey.signature(for: message, padding: .insecurePKCS1v1_5)
        let publicKey = key.privateKey.publicKey
        let rawVerify = rate(seconds: seconds) {
            _ = publicKey.isValidSignature(signature, for: message, padding: .insecurePKCS1v1_5)
        }
        let token = try TokenMinter.sign(claims, with: key)
        let verifier = TokenVerifier(issuer: "http://127.0.0.1:8080", audience: "connections", leeway: 30)
        let now = Date()
        let verify = try rate(seconds: seconds) { _ = try verifier.verify(token, now: now, key: { _ in publicKey }) }
        let payloadSegment = token.split(separator: ".")[1]
        let payload = Data(Base64URL.decode(payloadSegment) ?? Data())
        let base64 = rate(seconds: seconds / 3) { _ = Base64URL.decode(payloadSegment) }
        let claimsDecode = try rate(seconds: seconds / 3) {
            _ = try JSONDecoder().decode(AccessTokenClaims.self, from: payload)
        }
        emit([
            "raw_sign_per_s": rawSign, "mint_per_s": mint, "raw_verify_per_s": rawVerify, "verify_per_s": verify,
            "base64_payload_per_s": base64, "claims_decode_per_s": claimsDecode,
        ])
    }
}

/// IAMEnforcement's full verification of one fresh gateway token (parse, header checks, `kid` lookup, RS256 verify,
/// claims checks; no cache) against a raw RSA-2048 PKCS#1 v1.5 SHA-256 verify of the same token's signing input and
/// signature, on one core; then the steps of the full path alone, and a verified-claims cache hit.
struct EnforcementRates: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enforcement")
    @Option var seconds: Double = 3
    @Option(help: "Alternate raw and full this many times; the medians are printed.") var rounds: Int = 3
    @Flag(help: "Run only the full verification for --seconds (to profile it with perf), print its rate.")
    var fullOnly = false

    func run() throws {
        let key = try SigningKey.generate(bits: 2048)
        let now = Date()
        let claims = AccessTokenClaims(
            iss: "http://127.0.0.1:8080", sub: "user_2b1f0c9e6d3a4f58", aud: "connections", exp: now.unixSeconds + 300,
            iat: now.unixSeconds, nbf: now.unixSeconds, jti: UUID().uuidString, tenantID: "acme",
            workspaceID: "default",
            roles: ["role_viewer", "role_editor"], policyVersion: 3,
            permissions: ["connections.read", "connections.create", "integrations.read"], sid: "sess_9f2c41d7",
            clientID: "first-party"
        )
        let token = try TokenMinter.sign(claims, with: key)
        let parts = token.split(separator: ".")
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        let signature = _RSA.Signing.RSASignature(rawRepresentation: Base64URL.decode(parts[2]) ?? Data())
        let keys = [key.kid: key.privateKey.publicKey]
        let verifier = TokenVerifier(issuer: "http://127.0.0.1:8080", audience: "connections", leeway: 30)
        guard try verifier.verify(token, now: now, key: { keys[$0] }) == claims,
            keys[key.kid]?.isValidSignature(signature, for: signingInput, padding: .insecurePKCS1v1_5) == true
        else { throw ValidationError("the token does not verify") }

        guard try Self.legacyVerify(token, verifier: verifier, now: now, key: { keys[$0] }) == claims else {
            throw ValidationError("the legacy path does not verify")
        }

        if fullOnly {
            emit([
                "full_verify_per_s": try rate(seconds: seconds) {
                    _ = try verifier.verify(token, now: now, key: { keys[$0] })
                }
            ])
            return
        }
        var raw: [Double] = []
        var full: [Double] = []
        var legacy: [Double] = []
        for _ in 0..<rounds {
            raw.append(
                rate(seconds: seconds) {
                    _ = keys[key.kid]!.isValidSignature(signature, for: signingInput, padding: .insecurePKCS1v1_5)
                })
            full.append(try rate(seconds: seconds) { _ = try verifier.verify(token, now: now, key: { keys[$0] }) })
            legacy.append(
                try rate(seconds: seconds) {
                    _ = try Self.legacyVerify(token, verifier: verifier, now: now, key: { keys[$0] })
                })
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        let payload = Data(Base64URL.decode(parts[1]) ?? Data())
        let header = Data(Base64URL.decode(parts[0]) ?? Data())
        let base64 = rate(seconds: seconds / 3) {
            _ = Base64URL.decode(parts[0])
            _ = Base64URL.decode(parts[1])
            _ = Base64URL.decode(parts[2])
        }
        let headerDecode = rate(seconds: seconds / 3) { _ = JWSHeader.decode(header) }
        let claimsDecode = rate(seconds: seconds / 3) { _ = AccessTokenClaims.decode(payload) }
        let headerJSONDecoder = rate(seconds: seconds / 3) {
            _ = try? JSONDecoder().decode(JWSHeader.self, from: header)
        }
        let claimsJSONDecoder = rate(seconds: seconds / 3) {
            _ = try? JSONDecoder().decode(AccessTokenClaims.self, from: payload)
        }
        let cache = VerifiedClaimsCache()
        cache.store(claims, kid: key.kid, for: token, now: now.unixSeconds)
        let cacheHit = rate(seconds: seconds / 3) { _ = cache.entry(for: token, now: now.unixSeconds, leeway: 30) }
        emit([
            "raw_verify_same_input_per_s": median(raw), "full_verify_per_s": median(full),
            "ratio_x100": 100 * median(full) / median(raw),
            "token_bytes": Double(token.utf8.count), "base64_three_parts_per_s": base64,
            "header_decode_per_s": headerDecode,
            "claims_decode_per_s": claimsDecode, "cache_hit_lookup_per_s": cacheHit,
            "legacy_full_verify_per_s": median(legacy), "legacy_ratio_x100": 100 * median(legacy) / median(raw),
            "header_jsondecoder_per_s": headerJSONDecoder, "claims_jsondecoder_per_s": claimsJSONDecoder,
        ])
    }

    /// The verifier's path before issue 17 (Foundation's JSONDecoder for header and claims), step for step with the
    /// same checks, from public API: the "before" figure.
    static func legacyVerify(
        _ token: String, verifier: TokenVerifier, now: Date, key lookup: (String) -> _RSA.Signing.PublicKey?
    ) throws -> AccessTokenClaims {
        guard token.utf8.count <= TokenVerifier.maximumTokenLength else { throw VerificationError.tooLarge }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw VerificationError.malformed
        }
        guard let headerData = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(JWSHeader.self, from: headerData)
        else {
            throw VerificationError.malformed
        }
        guard header.alg == "RS256" else { throw VerificationError.unsupportedAlgorithm }
        guard header.crit == nil else { throw VerificationError.unsupportedCritical }
        guard let typ = header.typ, ["at+jwt", "application/at+jwt"].contains(typ.lowercased()) else {
            throw VerificationError.invalidType
        }
        guard let payload = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2]) else {
            throw VerificationError.malformed
        }
        let text = Substring(token)
        let end = text.utf8.index(text.utf8.startIndex, offsetBy: parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard let kid = header.kid, !kid.isEmpty else { throw VerificationError.missingKeyID }
        guard let key = lookup(kid) else { throw VerificationError.unknownKey }
        guard
            key.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature),
                for: Array(text.utf8[text.utf8.startIndex..<end]), padding: .insecurePKCS1v1_5)
        else {
            throw VerificationError.badSignature
        }
        guard let claims = try? JSONDecoder().decode(AccessTokenClaims.self, from: payload) else {
            throw VerificationError.malformed
        }
        let dates = TokenVerifier.numericDateRange
        guard dates.contains(claims.exp), dates.contains(claims.iat), dates.contains(claims.nbf) else {
            throw VerificationError.invalidDate
        }
        guard claims.iss == verifier.issuer else { throw VerificationError.issuerMismatch }
        guard claims.aud.contains(verifier.audience) else { throw VerificationError.audienceMismatch }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard claims.exp + verifier.leeway > seconds else { throw VerificationError.expired }
        guard claims.nbf - verifier.leeway <= seconds else { throw VerificationError.notYetValid }
        return claims
    }
}

/// Login, refresh and token exchange per second against a running gateway, with `concurrency` parallel chains.
struct AuthRates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "auth")
    @Option var gateway: String = "http://127.0.0.1:8080"
    @Option var tenant: String = "platform"
    @Option var username: String
    @Option var password: String
    @Option var audience: String
    @Option var seconds: Double = 5
    @Option var concurrency: Int = 8
    @Option(help: "The gateway's process id: each rate is also given per CPU-second the gateway used.") var pid: Int32?

    func post(_ client: HTTPClient, _ path: String, _ body: [String: Any], bearer: String? = nil) async throws
        -> [String: Any]
    {
        var request = HTTPClientRequest(url: gateway + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await client.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw ValidationError("\(path): HTTP \(response.status.code)") }
        return (try JSONSerialization.jsonObject(with: Data(data.readableBytesView)) as? [String: Any]) ?? [:]
    }

    func login(_ client: HTTPClient) async throws -> [String: Any] {
        try await post(
            client, "/v1/auth/login",
            ["tenant_id": tenant, "workspace_id": "default", "username": username, "password": password])
    }

    /// CPU seconds (user + system) the process `pid` has used.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based), in clock ticks.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Runs `concurrency` loops of `step` for `seconds`; returns completed steps per second, and per CPU-second of
    /// the gateway when its pid is known.
    func measure(chains: Int? = nil, _ step: @escaping @Sendable (Int) async throws -> Void) async throws -> (
        wall: Double, perGatewayCPU: Double
    ) {
        let cpuBefore = pid.map(Self.cpuSeconds) ?? 0
        let deadline = Date().addingTimeInterval(seconds)
        let start = Date()
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for chain in 0..<(chains ?? concurrency) {
                group.addTask {
                    var count = 0
                    while Date() < deadline {
                        try await step(chain)
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let cpu = (pid.map(Self.cpuSeconds) ?? 0) - cpuBefore
        return (Double(total) / Date().timeIntervalSince(start), cpu > 0 ? Double(total) / cpu : 0)
    }

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let first = try await login(client)
            let access = first["access_token"] as? String ?? ""
            var refreshTokens: [String] = []
            for _ in 0..<concurrency {
                refreshTokens.append((try await login(client))["refresh_token"] as? String ?? "")
            }
            let chains = Chains(refreshTokens)
            let refresh = try await measure { chain in
                let reply = try await post(client, "/v1/auth/refresh", ["refresh_token": chains.get(chain)])
                chains.set(chain, reply["refresh_token"] as? String ?? "")
            }
            let exchange = try await measure { _ in
                _ = try await post(client, "/v1/auth/token", ["audience": audience], bearer: access)
            }
            // One account: the login throttle admits at most 5 password checks in flight per account (more get 429).
            let logins = try await measure(chains: min(concurrency, 4)) { _ in _ = try await login(client) }
            emit([
                "refresh_per_s": refresh.wall, "exchange_per_s": exchange.wall, "login_per_s": logins.wall,
                "refresh_per_gateway_cpu_s": refresh.perGatewayCPU,
                "exchange_per_gateway_cpu_s": exchange.perGatewayCPU,
                "login_per_gateway_cpu_s": logins.perGatewayCPU,
            ])
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

/// One refresh token per chain, replaced by each rotation.
final class Chains: Sendable {
    private let tokens: Mutex<[String]>
    init(_ tokens: [String]) { self.tokens = .init(tokens) }
    func get(_ index: Int) -> String { tokens.withLock { $0[index] } }
    func set(_ index: Int, _ value: String) { tokens.withLock { $0[index] = value } }
}

/// Resident memory of the downstream token cache filled with `entries` distinct principals' tokens.
struct CacheMemory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache-memory")
    @Option var entries: Int = 100_000

    func run() throws {
        let key = try SigningKey.generate(bits: 2048)
        let before = residentMegabytes()
        let cache = DownstreamTokenCache(capacity: entries)
        let now = Date().unixSeconds
        for index in 0..<entries {
            // Identifiers shaped like the gateway's own (`u-` and 20 hex digits), so they take the space real ones do.
            let subject = "u-" + String(format: "%020x", index)
            let session = "s-" + String(format: "%020x", index)
            let claims = AccessTokenClaims(
                iss: "http://127.0.0.1:8080", sub: subject, aud: "connections", exp: now + 120, iat: now, nbf: now,
                jti: SecretToken.identifier(prefix: ""),
                tenantID: "acme", workspaceID: "default", roles: ["viewer"], policyVersion: 3,
                permissions: ["connections.read", "integrations.read"], sid: session
            )
            // A real token shape: header.payload.signature, a 256-byte signature (signing each would only cost time).
            let payload = Base64URL.encode(try JSONEncoder().encode(claims))
            let token = "\(key.jwsHeaderSegment).\(payload).\(Base64URL.encode(SecretToken.randomBytes(256)))"
            cache.store(
                token,
                for: .init(
                    subject: subject, tenantID: "acme", workspaceID: "default", sessionID: session,
                    audience: "connections", policyVersion: 3, kid: key.kid), issuedAt: now, expiresAt: now + 120)
        }
        let after = residentMegabytes()
        emit([
            "entries": Double(cache.count), "rss_before_mb": before, "rss_after_mb": after,
            "rss_delta_mb": after - before,
        ])
    }
}

/// The running gateway's own RSS after `count` distinct principals went through a proxy route once each: every one
/// leaves a verified token, a resolution and a downstream token in the gateway's caches. The bearer tokens are
/// signed here with the gateway's active key, read from its key directory (the principals need not exist in the
/// store: they resolve to no roles, which an open route accepts).
struct GatewayPrincipals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "principals")
    @Option var gateway: String = "http://127.0.0.1:8080"
    @Option var keys: String
    @Option var path: String = "/bench/"
    @Option var pid: Int32
    @Option var count: Int = 100_000
    @Option var concurrency: Int = 16
    @Option var issuer: String = "http://127.0.0.1:8080"
    @Option var audience: String = "iam-gateway"
    @Option(help: "seconds to wait before the settled RSS reading") var settle: Int = 35

    func run() async throws {
        guard let ring = try await FileKeyStore(directory: keys).load(), let active = ring.state.active,
            let key = ring.state.keys[active.kid]
        else {
            throw ValidationError("no active key in \(keys)")
        }
        let before = residentMegabytes(of: "\(pid)")
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let start = Date()
        let next = Counter()
        let failures = Counter()
        let count = self.count
        let gateway = self.gateway
        let path = self.path
        let issuer = self.issuer
        let audience = self.audience
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = next.increment() - 1
                        guard index < count else { return }
                        let now = Date().unixSeconds
                        let claims = AccessTokenClaims(
                            iss: issuer, sub: "u-" + String(format: "%020x", index), aud: audience, exp: now + 3600,
                            iat: now, nbf: now,
                            jti: SecretToken.identifier(prefix: ""), tenantID: "platform", workspaceID: "default",
                            roles: [], policyVersion: 0,
                            permissions: [], sid: "s-" + String(format: "%020x", index)
                        )
                        var request = HTTPClientRequest(url: gateway + path)
                        request.headers.add(
                            name: "Authorization", value: "Bearer \(try TokenMinter.sign(claims, with: key))")
                        let response = try await client.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        if response.status != .ok { _ = failures.increment() }
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Date().timeIntervalSince(start)
        try await client.shutdown()
        try await Task.sleep(for: .seconds(1))
        let after = residentMegabytes(of: "\(pid)")
        // Again once the gateway's heap trimmer (every 30 s) has run: the steady state an operator's graphs show.
        try await Task.sleep(for: .seconds(settle))
        emit([
            "principals": Double(count), "failures": Double(failures.value), "seconds": seconds,
            "rss_before_mb": before, "rss_after_mb": after, "rss_settled_mb": residentMegabytes(of: "\(pid)"),
            "rss_anon_settled_mb": residentMegabytes(of: "\(pid)", field: "RssAnon"),
            "rss_file_settled_mb": residentMegabytes(of: "\(pid)", field: "RssFile"),
        ])
    }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    /// The value after adding one.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}
