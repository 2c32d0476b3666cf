import AsyncHTTPClient
import Foundation
import GatewayCore
import GatewayHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// A throwaway CA and a server certificate for 127.0.0.1 it signed, made with the openssl command line.
struct TestPKI {
    let directory: String

    init() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("iam-gateway-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/ext.cnf", atomically: true, encoding: .utf8)
    }

    func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("openssl \(arguments.first ?? "") failed") }
    }

    /// Makes CA `name` and a leaf it signed: `name-ca.pem`, `name-leaf.pem`, `name-leaf.key`.
    func issue(_ name: String) throws {
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name)-ca.key", "-out", "\(name)-ca.pem",
            "-days", "1", "-subj", "/CN=Test CA \(name)",
        ])
        try openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name)-leaf.key", "-out", "\(name)-leaf.csr", "-subj",
            "/CN=localhost",
        ])
        try openssl([
            "x509", "-req", "-in", "\(name)-leaf.csr", "-CA", "\(name)-ca.pem", "-CAkey", "\(name)-ca.key",
            "-CAcreateserial", "-out", "\(name)-leaf.pem",
            "-days", "1", "-extfile", "ext.cnf",
        ])
    }

    func path(_ file: String) -> String { directory + "/" + file }

    func copy(_ file: String, to target: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(file)))
        try data.write(to: URL(fileURLWithPath: target), options: .atomic)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// SPEC 7 `http.tls`: HTTPS on the listener (TLS 1.2+), the certificate re-read on change without a restart, and
/// `X-Forwarded-Proto: https` upstream.
@Suite struct TLSTests {
    /// GET `url` with a client that trusts only `caFile`; the status, or nil when the TLS handshake fails.
    static func status(_ url: String, trusting caFile: String, maximumVersion: TLSVersion? = nil) async throws
        -> HTTPResponseStatus?
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        if let maximumVersion { tls.maximumTLSVersion = maximumVersion }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(5))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { _ = client.shutdown() }
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            return response.status
        } catch {
            return nil
        }
    }

    @Test func httpsServesAndTheCertificateIsReloadedWithoutARestart() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("one")
        try pki.issue("two")
        let certificate = pki.path("server.pem")
        let key = pki.path("server.key")
        try pki.copy("one-leaf.pem", to: certificate)
        try pki.copy("one-leaf.key", to: key)
        let upstream = RecordingUpstream()
        try await upstream.run {
            let gateway = try await TestGateway.make { configuration in
                configuration.http.tlsCertificate = certificate
                configuration.http.tlsPrivateKey = key
                configuration.routes = [
                    .init(
                        name: "echo", prefix: "/api/echo", upstream: "http://127.0.0.1:\(upstream.port)/echo",
                        audience: "echo")
                ]
            }
            try await gateway.test(.live) { wired, client in
                let port = try #require(client.port)
                let base = "https://127.0.0.1:\(port)"
                let tls = try #require(wired.tls)
                #expect(try await Self.status(base + "/v1/health", trusting: pki.path("one-ca.pem")) == .ok)
                #expect(
                    try await Self.status(base + "/v1/health", trusting: pki.path("two-ca.pem")) == nil,
                    "signed by the other CA")
                #expect(
                    try await Self.status(
                        base + "/v1/health", trusting: pki.path("one-ca.pem"), maximumVersion: .tlsv11) == nil,
                    "TLS 1.1 refused")

                // X-Forwarded-Proto is https on the TLS listener.
                var trust = TLSConfiguration.makeClientConfiguration()
                trust.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(pki.path("one-ca.pem")))
                let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: trust))
                do {
                    var login = HTTPClientRequest(url: base + "/v1/auth/login")
                    login.method = .POST
                    login.headers.add(name: "Content-Type", value: "application/json")
                    login.body = .bytes(
                        ByteBuffer(
                            string:
                                #"{"tenant_id":"platform","workspace_id":"default","username":"admin","password":"\#(TestGateway.adminPassword)"}"#
                        ))
                    let answer = try await http.execute(login, timeout: .seconds(10))
                    let body = try await answer.body.collect(upTo: 1 << 20)
                    let token = try #require(
                        (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?[
                            "access_token"] as? String)
                    var proxied = HTTPClientRequest(url: base + "/api/echo/x")
                    proxied.headers.add(name: "Authorization", value: "Bearer \(token)")
                    _ = try await http.execute(proxied, timeout: .seconds(10)).body.collect(upTo: 1 << 20)
                    #expect(upstream.last?.header("X-Forwarded-Proto") == "https")
                } catch {
                    try? await http.shutdown()
                    throw error
                }
                try await http.shutdown()

                // Replace the files: new connections get the new certificate, no restart.
                try pki.copy("two-leaf.pem", to: certificate)
                try pki.copy("two-leaf.key", to: key)
                #expect(tls.reloadIfChanged())
                #expect(try await Self.status(base + "/v1/health", trusting: pki.path("two-ca.pem")) == .ok)
                #expect(try await Self.status(base + "/v1/health", trusting: pki.path("one-ca.pem")) == nil)
                // A broken file keeps the current certificate in force.
                try "not a key".write(toFile: key, atomically: true, encoding: .utf8)
                #expect(!tls.reloadIfChanged())
                #expect(try await Self.status(base + "/v1/health", trusting: pki.path("two-ca.pem")) == .ok)
            }
        }
    }

    @Test func badTLSFilesStopStartUpNamingTheKey() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("one")
        try pki.issue("two")
        #expect(throws: ConfigurationError.self) {
            _ = try TLSReloader(
                certificate: pki.path("one-leaf.pem"), privateKey: pki.path("two-leaf.key"),
                logger: .init(label: "test"))
        }
        do {
            _ = try TLSReloader(
                certificate: pki.path("one-leaf.key"), privateKey: pki.path("one-leaf.key"),
                logger: .init(label: "test"))
            Issue.record("a key file accepted as a certificate")
        } catch let error as ConfigurationError {
            #expect(error.key == "http.tls.certificate")
        }
        #expect(throws: ConfigurationError.self) {
            _ = try GatewayConfiguration.parse(yaml: "http: { tls: { certificate: \(pki.path("one-leaf.pem")) } }")
        }
        #expect(throws: ConfigurationError.self) {
            _ = try GatewayConfiguration.parse(
                yaml: "http: { tls: { certificate: /nonexistent.pem, private_key: /nonexistent.key } }")
        }
        // The whole gateway, as `serve` builds it: a file that is no certificate stops it with the key named (it
        // crashed here once: the upstream HTTP client was made before the TLS files were read, and dropped unclosed).
        try "garbage".write(toFile: pki.path("garbage.pem"), atomically: true, encoding: .utf8)
        let gateway = try await TestGateway.make {
            $0.http.tlsCertificate = pki.path("garbage.pem")
            $0.http.tlsPrivateKey = pki.path("garbage.pem")
        }
        do {
            _ = try await gateway.wiredApplication()
            Issue.record("a gateway started on a garbage certificate")
        } catch let error as ConfigurationError {
            #expect(error.key == "http.tls.certificate")
        }
        await gateway.cleanUp()
        let (parsed, _) = try GatewayConfiguration.parse(
            yaml:
                "http: { tls: { certificate: \(pki.path("one-leaf.pem")), private_key: \(pki.path("one-leaf.key")) } }")
        #expect(parsed.http.servesTLS)
    }
}
