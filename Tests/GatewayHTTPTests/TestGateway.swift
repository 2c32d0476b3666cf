import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import Hummingbird
import Logging

/// A gateway on real parts in a temp directory: SQLite file, file key store, real RSA keys.
struct TestGateway {
    let directory: String
    let configuration: GatewayConfiguration
    let store: SQLiteStore
    let keyRing: KeyRingManager
    let clock: ManualClock

    static func make(configure: (inout GatewayConfiguration) -> Void = { _ in }) async throws -> TestGateway {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("iam-gateway-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var configuration = GatewayConfiguration()
        configuration.keys.directory = directory + "/Keys"
        configuration.storage.url = "sqlite://\(directory)/gateway.sqlite"
        configuration.http.port = 0
        configure(&configuration)
        let logger = Logger(label: "test")
        let clock = ManualClock(Date())
        let store = try await SQLiteStore.open(path: directory + "/gateway.sqlite", logger: logger)
        let keyRing = try await KeyRingManager.open(store: FileKeyStore(directory: configuration.keys.directory), configuration: configuration, clock: clock, logger: logger)
        return TestGateway(directory: directory, configuration: configuration, store: store, keyRing: keyRing, clock: clock)
    }

    func application() async throws -> some ApplicationProtocol {
        try await buildApplication(configuration: configuration, store: store, keyRing: keyRing, clock: clock, logger: Logger(label: "test"))
    }

    func cleanUp() async {
        try? await store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
