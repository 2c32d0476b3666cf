import ArgumentParser
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import Hummingbird
import Logging
import NIOCore

@main
struct IAMGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-gateway",
        abstract: "Authentication front door: login, token minting, JWKS, IAM and reverse proxy.",
        version: GatewayVersion.current,
        subcommands: [Serve.self, Keys.self, Users.self, DemoService.self]
    )
}

/// Options shared by every command that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Path of the YAML configuration file.")
    var config: String = "Config/gateway.yaml"

    /// Loads and validates the configuration, printing warnings; exits 2 on a configuration error.
    func load() throws -> GatewayConfiguration {
        do {
            let (configuration, warnings) = try GatewayConfiguration.load(
                path: config, environment: ProcessInfo.processInfo.environment)
            for warning in warnings { printError("warning: \(warning)") }
            return configuration
        } catch {
            printError("iam-gateway: \(error)")
            throw ExitCode(2)
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `body`'s result; when it throws, prints `iam-gateway: [context: ]error` and exits with `code` (2 for a
/// configuration problem, 1 for the rest).
func exitOnFailure<T>(_ code: Int32, _ context: String? = nil, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        printError("iam-gateway: " + (context.map { "\($0): " } ?? "") + "\(error)")
        throw ExitCode(code)
    }
}

/// Bootstraps logging (SPEC 10): `log.level` and `log.format` of the configuration (`LOG_LEVEL` in the environment
/// still overrides the level); access lines on standard output, everything else on standard error.
func makeLogger(_ label: String, configuration: GatewayConfiguration.Log = .init()) -> Logger {
    let level =
        ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        ?? Logger.Level(rawValue: configuration.level) ?? .info
    let format = configuration.format
    LoggingSystem.bootstrap { label in
        GatewayLogHandler.standard(
            label: label, level: label == GatewayLogHandler.accessLabel ? .info : level, format: format)
    }
    return Logger(label: label)
}

extension IAMGatewayCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the gateway.")

        @OptionGroup var options: ConfigOptions
        @Option(help: "Listen on this host instead of the configuration's http.host.") var host: String?
        @Option(help: "Listen on this port instead of the configuration's http.port.") var port: Int?

        func validate() throws {
            if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535.") }
            if let host, host.isEmpty { throw ValidationError("--host must not be empty.") }
        }

        func run() async throws {
            var configuration = try options.load()
            if let host { configuration.http.host = host }
            if let port { configuration.http.port = port }
            let logger = makeLogger("iam-gateway", configuration: configuration.log)
            let backend = try await StorageBackend.open(configuration, logger: logger)
            try await backend.whileRunning {
                try await serve(configuration: configuration, backend: backend, logger: logger)
            }
        }

        func serve(configuration: GatewayConfiguration, backend: StorageBackend, logger: Logger) async throws {
            let store = backend.store
            let keyRing = try await exitOnFailure(1, backend.keyStoreKey) {
                try await KeyRingManager.open(
                    store: backend.keyStore, configuration: configuration, clock: SystemClock(), logger: logger)
            }
            try await exitOnFailure(1, "bootstrap") {
                let hasher = configuration.passwords.hasher
                if let generated = try await Bootstrapper(store: store, hasher: hasher, clock: SystemClock())
                    .run(
                        username: configuration.bootstrap.adminUsername, password: configuration.bootstrap.adminPassword
                    )
                {
                    printError(
                        "iam-gateway: first start: created tenant platform and platform admin \"\(configuration.bootstrap.adminUsername)\""
                    )
                    printError("iam-gateway: generated admin password (shown once, store it now): \(generated)")
                }
            }
            logger.info(
                "starting",
                metadata: [
                    "address": "\(configuration.http.host):\(configuration.http.port)", "store": "\(store.description)",
                    "key_store": "\(backend.keyStore.location)", "active_kid": "\(keyRing.snapshot.active.kid)",
                ])
            let address = "\(configuration.http.host):\(configuration.http.port)"
            do {
                let app = try await buildApplication(
                    configuration: configuration, store: store, keyRing: keyRing, changes: backend.changes,
                    logger: logger)
                // Access lines still buffered are written when the gateway stops.
                defer { LogSink.flush() }
                try await app.runService()
            } catch let error as IOError
                where error.errnoCode == EADDRINUSE || error.errnoCode == EACCES || error.errnoCode == EADDRNOTAVAIL
            {
                // A bind failure names what could not be bound (NIO's message names only the system call).
                let reason =
                    error.errnoCode == EADDRINUSE
                    ? "the address is already in use"
                    : error.errnoCode == EACCES ? "permission denied" : "the address is not available on this machine"
                printError(
                    "iam-gateway: cannot listen on \(address): \(reason) (http.host, http.port, or serve --host/--port)"
                )
                throw ExitCode(1)
            } catch {
                printError("iam-gateway: \(error)")
                // A file the configuration names that turns out unusable (http.tls.*) is a configuration problem.
                throw ExitCode(error is ConfigurationError ? 2 : 1)
            }
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Act on the key store offline; a running gateway picks changes up within seconds.",
            subcommands: [List.self, Rotate.self, Revoke.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List keys: kid, status, created, activated, retire-at.")
            @OptionGroup var options: ConfigOptions

            func run() async throws {
                try await withKeyRing(try options.load()) { manager in
                    let formatter = ISO8601DateFormatter()
                    print("KID                     STATUS    CREATED               ACTIVATED             RETIRE_AT")
                    for record in manager.snapshot.records {
                        let columns = [
                            record.kid.padding(toLength: 24, withPad: " ", startingAt: 0),
                            record.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                            formatter.string(from: record.createdAt).padding(toLength: 22, withPad: " ", startingAt: 0),
                            (record.activatedAt.map(formatter.string(from:)) ?? "-").padding(
                                toLength: 22, withPad: " ", startingAt: 0),
                            record.retireAt.map(formatter.string(from:)) ?? "-",
                        ]
                        print(columns.joined())
                    }
                }
            }
        }

        struct Rotate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Promote next to active, active to retiring, create a new next.")
            @OptionGroup var options: ConfigOptions
            @Flag(help: "Rotate even while the next key is younger than the JWKS max-age (an emergency; audited).")
            var force = false

            func run() async throws {
                try await withKeyRing(try options.load()) { manager in
                    let (active, previous) = try await manager.rotate(
                        by: .init(name: "cli", requestID: nil), force: force)
                    print("active_kid=\(active) previous_kid=\(previous ?? "-")")
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove a key from the JWKS at once (rotating first if it is active).")
            @OptionGroup var options: ConfigOptions
            @Argument(help: "The kid of the key to revoke.") var kid: String

            func run() async throws {
                let kid = self.kid
                try await withKeyRing(try options.load()) { manager in
                    do {
                        try await manager.revoke(kid: kid)
                    } catch let error as KeyRingError {
                        printError("iam-gateway: \(error)")
                        throw ExitCode(1)
                    }
                    print("revoked \(kid); active_kid=\(manager.snapshot.active.kid)")
                }
            }
        }
    }
}

/// Runs `body` with the key ring of the configured key store (files, or the shared PostgreSQL store).
func withKeyRing(_ configuration: GatewayConfiguration, _ body: (KeyRingManager) async throws -> Void) async throws {
    var logger = Logger(label: "iam-gateway.keys")
    logger.logLevel = .warning
    let backend = try await StorageBackend.open(configuration, logger: logger)
    try await backend.whileRunning {
        let manager = try await exitOnFailure(1, backend.keyStoreKey) {
            try await KeyRingManager.open(
                store: backend.keyStore, configuration: configuration, clock: SystemClock(), logger: logger)
        }
        try await body(manager)
    }
}
