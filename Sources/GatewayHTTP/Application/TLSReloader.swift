import Foundation
import GatewayCore
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The listener's TLS context, built from `http.tls.certificate` and `http.tls.private_key` (PEM; TLS 1.2 and up)
/// and rebuilt when either file changes (checked every `pollInterval`): new connections get the new certificate,
/// open ones keep theirs, and no restart is needed. A file that does not parse keeps the current context in force,
/// with a warning; at start it stops start-up with a message naming the file.
public final class TLSReloader: Service, Sendable {
    struct Fingerprint: Equatable {
        var certificate: Data
        var privateKey: Data
    }

    let certificatePath: String
    let privateKeyPath: String
    let pollInterval: Duration
    let logger: Logger
    private let state: Mutex<(context: NIOSSLContext, fingerprint: Fingerprint)>

    public init(certificate: String, privateKey: String, pollInterval: Duration = .seconds(1), logger: Logger) throws {
        self.certificatePath = certificate
        self.privateKeyPath = privateKey
        self.pollInterval = pollInterval
        self.logger = logger
        let fingerprint = try Self.read(certificate: certificate, privateKey: privateKey)
        state = Mutex((try Self.context(fingerprint, certificate: certificate, privateKey: privateKey), fingerprint))
    }

    /// The context new connections use.
    public var context: NIOSSLContext { state.withLock { $0.context } }

    static func read(certificate: String, privateKey: String) throws -> Fingerprint {
        func contents(_ path: String, _ key: String) throws -> Data {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(key: key, problem: "\(path) cannot be read")
            }
            return data
        }
        return Fingerprint(
            certificate: try contents(certificate, "http.tls.certificate"),
            privateKey: try contents(privateKey, "http.tls.private_key"))
    }

    static func context(_ files: Fingerprint, certificate: String, privateKey: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(files.certificate))
        } catch {
            throw ConfigurationError(key: "http.tls.certificate", problem: "\(certificate) holds no PEM certificate")
        }
        guard !chain.isEmpty else {
            throw ConfigurationError(key: "http.tls.certificate", problem: "\(certificate) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(files.privateKey), format: .pem)
        } catch {
            throw ConfigurationError(key: "http.tls.private_key", problem: "\(privateKey) holds no PEM private key")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError(
                key: "http.tls.private_key", problem: "\(privateKey) does not match the certificate in \(certificate)")
        }
    }

    /// Re-reads the files; rebuilds the context when they changed. Returns true when a new context is in force.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let current = state.withLock { $0.fingerprint }
        do {
            let files = try Self.read(certificate: certificatePath, privateKey: privateKeyPath)
            guard files != current else { return false }
            let context = try Self.context(files, certificate: certificatePath, privateKey: privateKeyPath)
            state.withLock { $0 = (context, files) }
            logger.info("TLS certificate reloaded", metadata: ["certificate": "\(certificatePath)"])
            return true
        } catch {
            // Half-written files (certificate replaced, key not yet) are read again at the next poll.
            logger.warning(
                "TLS files changed but could not be loaded; keeping the current certificate",
                metadata: ["problem": "\(error)"])
            return false
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: self.pollInterval)
                } catch {
                    return
                }
                self.reloadIfChanged()
            }
        }
    }
}

/// A server child channel with TLS in front of `inner`, using the reloader's context at the time of accept.
struct ReloadingTLSChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let tls: TLSReloader

    /// The inner pipeline first, then TLS at its very front: handlers that watch the connection's first bytes and
    /// writes (the first-request deadline) see plaintext, not the handshake.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = tls.context
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
