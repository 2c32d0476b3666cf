import Foundation
import GatewayCore
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import GatewayHTTP

/// SPEC 10: the metric families appear and move as requests are made (read with a strict text-format parser), their
/// labels stay bounded, access lines carry their fields and never a secret, and readiness names what is not ready.
@Suite struct ObservabilityTests {
    /// A strict reader of the Prometheus text format (0.0.4): every line is a comment (`# HELP`/`# TYPE`) or a
    /// sample `name{label="value",...} number`; a family's TYPE comes before its samples; no series twice.
    struct Exposition {
        struct Sample: Hashable {
            var name: String
            var labels: [String: String]
        }

        var values: [Sample: Double] = [:]
        var types: [String: String] = [:]

        init(_ text: String) throws {
            let sample = #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/#
            let label = #/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)/#
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
                if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
                    else { throw TestFailure("bad TYPE line: \(line)") }
                    types[String(parts[2])] = String(parts[3])
                    continue
                }
                if line.hasPrefix("# HELP ") { continue }
                guard let match = try sample.wholeMatch(in: line),
                    let value = Double(match.4) ?? (match.4 == "+Inf" ? .infinity : nil)
                else {
                    throw TestFailure("not a sample line: \(line)")
                }
                let name = String(match.1)
                let family = types.keys.first {
                    name == $0 || name == $0 + "_bucket" || name == $0 + "_sum" || name == $0 + "_count"
                }
                guard family != nil else { throw TestFailure("sample before its TYPE: \(line)") }
                var labels: [String: String] = [:]
                var rest = match.3.map(Substring.init) ?? ""
                while !rest.isEmpty {
                    guard let pair = try label.prefixMatch(in: rest) else { throw TestFailure("bad labels: \(line)") }
                    guard labels.updateValue(String(pair.2), forKey: String(pair.1)) == nil else {
                        throw TestFailure("label twice: \(line)")
                    }
                    rest = rest[pair.range.upperBound...]
                }
                let key = Sample(name: name, labels: labels)
                guard values.updateValue(value, forKey: key) == nil else { throw TestFailure("series twice: \(line)") }
            }
        }

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            values[Sample(name: name, labels: labels)] ?? 0
        }

        func sum(_ name: String, where match: ([String: String]) -> Bool = { _ in true }) -> Double {
            values.filter { $0.key.name == name && match($0.key.labels) }.map(\.value).reduce(0, +)
        }
    }

    static func scrape(_ wired: Gateway) throws -> Exposition {
        let registry = try #require(wired.metricsRegistry)
        let endpoint = MetricsEndpoint(
            registry: registry, metrics: wired.metrics, keyRing: wired.keyRing, clock: wired.clock)
        return try Exposition(String(buffer: endpoint.exposition()))
    }

    /// Access lines collected in memory, in the format asked for.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }

        func logger(format: GatewayConfiguration.Log.Format) -> Logger {
            Logger(label: GatewayLogHandler.accessLabel) { label in
                GatewayLogHandler(
                    label: label, level: .info, format: format,
                    sink: LogSink { line in self.lines.withLock { $0.append(line) } })
            }
        }
    }

    func withProxy(
        accessLog: Logger? = nil, format: GatewayConfiguration.Log.Format = .text,
        _ body: @Sendable (TestGateway, Gateway, RecordingUpstream, any TestClientProtocol) async throws -> Void
    ) async throws {
        let upstream = RecordingUpstream()
        try await upstream.run {
            let gateway = try await TestGateway.make { configuration in
                configuration.metrics.listen = "127.0.0.1:0"
                configuration.log.format = format
                configuration.routes = [
                    .init(
                        name: "echo", prefix: "/api/echo", upstream: "http://127.0.0.1:\(upstream.port)/echo",
                        audience: "echo")
                ]
            }
            try await gateway.test(.live, accessLog: accessLog) { wired, client in
                try await body(gateway, wired, upstream, client)
            }
        }
    }

    @Test func metricFamiliesAppearAndMoveWithBoundedLabels() async throws {
        try await withProxy { gateway, wired, _, client in
            let before = try Self.scrape(wired)
            for family in [
                "iam_gateway_logins_total", "iam_gateway_tokens_minted_total",
                "iam_gateway_downstream_token_cache_hits_total",
                "iam_gateway_downstream_token_cache_misses_total", "iam_gateway_refresh_reuse_detected_total",
                "iam_gateway_store_errors_total",
                "iam_gateway_signing_key_age_seconds",
            ] {
                #expect(before.types[family] != nil, "\(family) is exposed before any request")
            }
            let login = try await client.login()
            let token = try #require(login.string("access_token"))
            let refresh = try #require(login.string("refresh_token"))
            #expect(
                try await client.send(
                    .post, "/v1/auth/login",
                    json: [
                        "tenant_id": "platform", "workspace_id": "default", "username": "admin",
                        "password": "wrong-password",
                    ]
                ).status == .unauthorized)
            for _ in 0..<3 {
                #expect(try await client.send(.get, "/api/echo/items?q=1", bearer: token).status == .created)
            }
            #expect(try await client.send(.get, "/no/such/path").status == .notFound)
            #expect(try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh]).status == .ok)
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh]).status
                    == .unauthorized)
            gateway.clock.advance(by: 120)
            let after = try Self.scrape(wired)

            func moved(_ name: String, _ labels: [String: String] = [:]) -> Double {
                after.value(name, labels) - before.value(name, labels)
            }
            #expect(moved("iam_gateway_http_requests_total", ["route": "echo", "method": "GET", "status": "201"]) == 3)
            #expect(moved("iam_gateway_http_requests_total", ["route": "none", "method": "GET", "status": "404"]) == 1)
            #expect(moved("iam_gateway_http_requests_total", ["route": "api", "method": "POST", "status": "401"]) >= 2)
            #expect(moved("iam_gateway_http_request_duration_seconds_count", ["route": "echo"]) == 3)
            #expect(moved("iam_gateway_upstream_request_duration_seconds_count", ["route": "echo"]) == 3)
            #expect(moved("iam_gateway_logins_total", ["result": "success"]) == 1)
            #expect(moved("iam_gateway_logins_total", ["result": "invalid_credentials"]) == 1)
            #expect(moved("iam_gateway_tokens_minted_total", ["kind": "access"]) == 2, "login and refresh")
            #expect(moved("iam_gateway_tokens_minted_total", ["kind": "refresh"]) == 2, "login and rotation")
            #expect(moved("iam_gateway_tokens_minted_total", ["kind": "downstream"]) == 1, "one mint, then the cache")
            #expect(moved("iam_gateway_downstream_token_cache_misses_total") == 1)
            #expect(moved("iam_gateway_downstream_token_cache_hits_total") == 2)
            #expect(moved("iam_gateway_refresh_reuse_detected_total") == 1)
            #expect(after.value("iam_gateway_signing_key_age_seconds", ["status": "active"]) >= 120)
            // Histogram buckets: cumulative, ending in +Inf equal to the count.
            let buckets = after.values.filter {
                $0.key.name == "iam_gateway_http_request_duration_seconds_bucket" && $0.key.labels["route"] == "echo"
            }
            .map { (Double($0.key.labels["le"]!) ?? .infinity, $0.value) }.sorted { $0.0 < $1.0 }
            #expect(buckets.count == GatewayMetrics.durationBuckets.count + 1)
            #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.1 <= $1.1 })
            #expect(
                buckets.last?.1 == after.value("iam_gateway_http_request_duration_seconds_count", ["route": "echo"]))
            #expect(buckets.first?.0 == 0.00005, "the first bucket is 50 microseconds")
            // Bounded labels: nothing of a tenant, user, token or path.
            let allowed: [String: Set<String>] = [
                "route": ["echo", "api", "none"],
                "method": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"],
                "kind": ["access", "downstream", "refresh", "id"],
                "result": ["success", "invalid_credentials", "throttled", "denied"],
                "status": Set(["next", "active", "retiring"]).union((100...599).map(String.init)),
            ]
            for sample in after.values.keys {
                for (name, value) in sample.labels where name != "le" {
                    #expect(allowed[name]?.contains(value) == true, "\(sample.name) label \(name)=\(value)")
                }
            }
            let text = String(
                buffer: MetricsEndpoint(
                    registry: try #require(wired.metricsRegistry), metrics: wired.metrics, keyRing: wired.keyRing,
                    clock: wired.clock
                ).exposition())
            #expect(!text.contains(token.prefix(20)) && !text.contains("platform") && !text.contains("admin"))
        }
    }

    @Test func metricsAreOffWithoutAListener() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { wired, client in
            #expect(wired.metricsRegistry == nil)
            #expect(wired.metricsApplication(logger: Logger(label: "test")) == nil)
            let scrape = try await client.send(.get, "/metrics")
            #expect(scrape.status == .notFound, "never on the clients' port")
        }
    }

    @Test(arguments: [GatewayConfiguration.Log.Format.json, .text])
    func accessLinesCarryTheirFieldsAndNoSecret(_ format: GatewayConfiguration.Log.Format) async throws {
        let lines = Lines()
        try await withProxy(accessLog: lines.logger(format: format), format: format) { _, _, _, client in
            let password = "admin-password-1"
            let login = try await client.login(password: password, cookie: true)
            let token = try #require(login.string("access_token"))
            let refresh = try #require(login.string("refresh_token"))
            let cookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
            let key = try await client.send(
                .post, "/v1/api-keys", json: ["name": "ci", "workspace_id": "default"], bearer: token)
            let apiKey = try #require(key.string("api_key"))
            #expect(
                try await client.send(
                    .get, "/v1/me?access_token=query-secret-1", headers: [HTTPField.Name("X-API-Key")!: apiKey]
                ).status == .ok)
            #expect(try await client.send(.get, "/api/echo/x?token=query-secret-2", bearer: token).status == .created)
            #expect(try await client.send(.get, "/api/echo/x", headers: [.cookie: cookie]).status == .created)
            #expect(try await client.send(.post, "/v1/auth/refresh", json: ["refresh_token": refresh]).status == .ok)
            #expect(
                try await client.send(.get, "/v1/me", headers: [.authorization: "Bearer not-a-token-secret-3"]).status
                    == .unauthorized)

            let all = lines.all
            #expect(all.count == 7, "one line per request: \(all.count)")
            for line in all {
                #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false, "one line")
                for secret in [
                    password, token, String(token.suffix(40)), refresh, apiKey, String(apiKey.suffix(20)), cookie,
                    "query-secret", "secret-3", "?",
                ] {
                    #expect(!line.contains(secret), "a secret or a query in: \(line)")
                }
            }
            let records: [[String: String]] = try all.map { line in
                switch format {
                case .json:
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                    #expect(
                        object["status"] is Int && object["duration_ms"] is Double && object["bytes"] is Int,
                        "numbers stay numbers")
                    return object.mapValues { "\($0)" }
                case .text:
                    var fields: [String: String] = [:]
                    for part in line.dropLast().split(separator: " ") where part.contains("=") {
                        let pair = part.split(separator: "=", maxSplits: 1)
                        fields[String(pair[0])] = String(pair[1])
                    }
                    fields["ts"] = String(line.prefix(while: { $0 != " " }))
                    return fields
                }
            }
            for record in records {
                for field in ["ts", "request_id", "method", "route", "path", "status", "duration_ms", "bytes"] {
                    #expect(record[field] != nil, "\(field) missing in \(record)")
                }
            }
            let proxied = records.filter { $0["route"] == "echo" }
            #expect(proxied.count == 2)
            for record in proxied {
                #expect(record["path"] == "/api/echo/x")
                #expect(
                    record["tenant_id"] == "platform" && record["workspace_id"] == "default"
                        && record["principal"] != nil)
                #expect(record["upstream_ms"] != nil)
                #expect(record["status"] == "201")
            }
            #expect(
                records.contains { $0["path"] == "/v1/me" && $0["principal"] == key.string("key_id") },
                "the API key's id, not its secret")
        }
    }

    @Test func readinessNamesTheDependencyThatIsNotReady() async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        try await gateway.application().test(.router) { client in
            let ready = try await client.send(.get, "/v1/ready")
            #expect(ready.status == .ok)
            #expect((ready["checks"] as? [String: String]) == ["store": "ok", "key_ring": "ok"])
            try await gateway.store.close()
            let down = try await client.send(.get, "/v1/ready")
            #expect(down.status == .serviceUnavailable)
            #expect(down.headers[.contentType] == "application/problem+json")
            #expect((down["checks"] as? [String: String]) == ["store": "unavailable", "key_ring": "ok"])
            #expect(down.string("code") == "unavailable")
        }
    }

    @Test(arguments: [
        ("log:\n  format: xml\n", "log.format"), ("log:\n  level: loud\n", "log.level"),
        ("metrics:\n  listen: nowhere\n", "metrics.listen"),
        ("tracing:\n  otlp_endpoint: ftp://x\n", "tracing.otlp_endpoint"), ("log:\n  access: maybe\n", "log.access"),
    ])
    func badObservabilitySettingsStopStartUp(_ yaml: String, _ key: String) {
        #expect { _ = try GatewayConfiguration.parse(yaml: yaml) } throws: { ($0 as? ConfigurationError)?.key == key }
    }

    @Test func observabilitySettingsLoad() throws {
        let (configuration, _) = try GatewayConfiguration.parse(
            yaml:
                "log:\n  level: debug\n  format: json\n  access: false\nmetrics:\n  listen: 127.0.0.1:9464\ntracing:\n  otlp_endpoint: http://127.0.0.1:4318\n"
        )
        #expect(configuration.log.level == "debug" && configuration.log.format == .json && !configuration.log.access)
        #expect(configuration.metrics.address?.host == "127.0.0.1" && configuration.metrics.address?.port == 9464)
        #expect(configuration.tracing.otlpEndpoint == "http://127.0.0.1:4318")
    }

    @Test(arguments: [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false), ("00-xyz", false), ("", false),
    ])
    func traceParentSyntax(_ value: String, _ valid: Bool) {
        #expect(GatewayTracing.isValidTraceParent(value) == valid)
    }

    /// Without tracing, a valid traceparent passes through untouched and a malformed one is dropped, on both paths.
    @Test func malformedTraceContextIsNotForwardedWithoutTracing() async throws {
        try await withProxy { _, wired, upstream, client in
            let token = try await client.token()
            for fastPath in [true, false] {
                wired.proxyFastPath.isEnabled = fastPath
                let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                var reply = try await client.send(
                    .get, "/api/echo/a",
                    headers: [HTTPField.Name("traceparent")!: valid, HTTPField.Name("tracestate")!: "v=1"],
                    bearer: token)
                #expect(reply.status == .created)
                #expect(upstream.last?.header("traceparent") == valid)
                reply = try await client.send(
                    .get, "/api/echo/b",
                    headers: [HTTPField.Name("traceparent")!: "00-not-a-trace", HTTPField.Name("tracestate")!: "v=1"],
                    bearer: token)
                #expect(reply.status == .created)
                #expect(upstream.last?.header("traceparent") == nil, "fast path \(fastPath)")
                #expect(upstream.last?.header("tracestate") == nil)
            }
        }
    }
}
