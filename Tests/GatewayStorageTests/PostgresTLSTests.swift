import Foundation
import GatewayCore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import GatewayStorage

/// TLS to PostgreSQL (SPEC 2: friendly messages for TLS connection failures): the server's certificate is verified
/// against the system trust store or `sslrootcert`, and each way it can fail is named in words. The cases against a
/// real server need `IAM_GATEWAY_TEST_POSTGRES_CA`: the CA that signed the certificate of the server in
/// `IAM_GATEWAY_TEST_POSTGRES_URL`, which then has ssl on (`.ci/run` sets both up).
@Suite struct PostgresTLSTests {
    static let caFile: String? = ProcessInfo.processInfo.environment["IAM_GATEWAY_TEST_POSTGRES_CA"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static let tlsServer = TestPostgres.url != nil && caFile != nil

    /// A self-signed CA certificate that signed nothing the test server presents (public part only).
    static let unrelatedCA = """
        -----BEGIN CERTIFICATE-----
        MIIDGTCCAgGgAwIBAgIUK+D9SCOzUE3Lc819eYtx/YrxOeUwDQYJKoZIhvcNAQEL
        BQAwHDEaMBgGA1UEAwwRdW5yZWxhdGVkLXRlc3QtY2EwHhcNMjYxMjA2MDg0NzMx
        WhcNMzYxMjAzMDg0NzMxWjAcMRowGAYDVQQDDBF1bnJlbGF0ZWQtdGVzdC1jYTCC
        ASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAL7arWM9nTwwCaBf5aqGwtR0
        ndjOL7ZTX5Pifjr+wMmpZRIFFjP0bTT0oKm/Ztt7313KDa6deQVvKoaALnU44iYJ
        HcR1WBCjFeJ8tnK8vXV82m0B5715hq7jKxKVufl/KGdM41Ky3hssDpl3U3qp6dHS
        ncL8o1PK/kbP+pUD1jydAxTGSefEUq4Xtnlzvvrbib3FEJI2ZpUGA/jPRu4vj4RB
        3BIzqKNbwfrUXTggZUxeJKumvHk9xi78RcOATqFLVsNF889vUhaA6ipY98nPee5z
        4wuIsBdGVueHnE87pppe23S726r/sj0bYpfYkuA9XU/bSmFTJ5XqINdkdKxQxmsC
        AwEAAaNTMFEwHQYDVR0OBBYEFC59hcAoNM//zO6VYZEBO027Q7ugMB8GA1UdIwQY
        MBaAFC59hcAoNM//zO6VYZEBO027Q7ugMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZI
        hvcNAQELBQADggEBAL0uWTJrN/73HP4B4BQ0zkum4IjFOzu/nzgU501RSJF3WmIV
        QJq9qS8CT3e8ZEtl7kkEFk+kQP6HT8PKV3vx0m9UP11H0FuJT1zNwTEY2QUG1iVh
        bkUoBjx2flDs9vnkkN0gsGQyeGyLB56CPavp2vWhQ5f1mAL/8uqCZMEDGt6pmoN3
        2lpQqdRThT2JnNKWaxD9k2o3sp0ccqrMOY98R2ZiUbvrtgsLDhk3n2cQFlItLvFl
        6JuK74dSN9WzMxs/yd4AIlbikUnm5BiHLdlsilr+do5wVwrzKg+TqgWUgCb0hnqi
        ycFb8j1uv3S0JuWa+xTtWXKjh+0bHXlLVB8Wcn4=
        -----END CERTIFICATE-----
        """

    static func writeUnrelatedCA() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "unrelated-ca-\(UUID().uuidString).pem"
        )
        .path
        try Self.unrelatedCA.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// What opening a store with this configuration fails with (nil when it opens).
    static func openingFailure(_ configuration: PostgresStoreConfiguration) async -> String? {
        do {
            let store = try await PostgresStore.open(configuration: configuration, logger: TestPostgres.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                defer { group.cancelAll() }
                _ = try await store.schemaVersion()
            }
            return nil
        } catch let error as StoreError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func sslrootcertIsParsedAndAMissingFileIsAConfigurationError() throws {
        let path = try Self.writeUnrelatedCA()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try PostgresStoreConfiguration(
            url: "postgres://u:pw@db.example/iam?sslmode=require&sslrootcert=\(path)")
        #expect(configuration.trustRootsFile == path && configuration.tlsMode == .require)
        for bad in ["sslrootcert=", "sslrootcert=/no/such/file.pem", "sslrootcert=/etc/hostname"] {
            do {
                _ = try PostgresStoreConfiguration(url: "postgres://u:pw@db.example/iam?\(bad)")
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.key == "storage.url" && error.problem.contains("sslrootcert"), "\(error.problem)")
            }
        }
    }

    /// A server that answers the client's SSLRequest with 'N' (no TLS), as PostgreSQL does with ssl off.
    @Test func aServerWithoutTLSIsNamedWhenTLSIsRequired() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in channel.pipeline.addHandler(RefuseTLS()) }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let configuration = PostgresStoreConfiguration(
            host: "127.0.0.1", port: port, username: "gateway", password: "hunter2", database: "iam", tlsMode: .require)
        let failure = try #require(await Self.openingFailure(configuration))
        #expect(failure.contains("the server does not offer TLS and sslmode=require asks for it"), "\(failure)")
        #expect(!failure.contains("hunter2"))
    }

    final class RefuseTLS: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "N")), promise: nil)
        }
    }

    @Test(.enabled(if: tlsServer, "needs IAM_GATEWAY_TEST_POSTGRES_URL and IAM_GATEWAY_TEST_POSTGRES_CA"))
    func theServersCAInSslrootcertConnects() async throws {
        var configuration = try TestPostgres.configuration()
        configuration.tlsMode = .require
        configuration.trustRootsFile = Self.caFile
        let failure = await Self.openingFailure(configuration)
        await TestPostgres.drop(configuration)
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test(.enabled(if: tlsServer, "needs IAM_GATEWAY_TEST_POSTGRES_URL and IAM_GATEWAY_TEST_POSTGRES_CA"))
    func anUntrustedCertificateIsNamedInWords() async throws {
        let unrelated = try Self.writeUnrelatedCA()
        defer { try? FileManager.default.removeItem(atPath: unrelated) }
        // The system trust store does not know the test CA; nor does an unrelated CA file; prefer verifies too.
        for (mode, roots) in [
            (PostgresStoreConfiguration.TLSMode.require, nil), (.require, unrelated), (.prefer, nil),
        ] as [(PostgresStoreConfiguration.TLSMode, String?)] {
            var configuration = try TestPostgres.configuration()
            configuration.tlsMode = mode
            configuration.trustRootsFile = roots
            let failure = try #require(await Self.openingFailure(configuration), "\(mode) \(roots ?? "system")")
            #expect(failure.contains("TLS: the database server's certificate is not trusted"), "\(failure)")
            #expect(failure.contains("sslrootcert"), "it says what to do: \(failure)")
            #expect(!failure.contains("BoringSSL") && !failure.contains("handshake.cc"), "no error stack: \(failure)")
        }
    }
}
