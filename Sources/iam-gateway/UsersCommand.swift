import ArgumentParser
import Foundation
import GatewayCore
import Logging
import NIOPosix

extension IAMGatewayCommand {
    struct Users: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Act on users offline, in the configured store.",
            subcommands: [ResetPassword.self]
        )

        /// The way back in when the bootstrap admin's password is lost (SPEC 2): sets a new password in the store,
        /// revokes every session of the user (a running gateway drops their tokens within a second) and audits it.
        struct ResetPassword: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "reset-password",
                abstract:
                    "Set a new password for a user (a generated one is printed when none is given) and revoke their sessions."
            )
            @OptionGroup var options: ConfigOptions
            @Option(help: "The user's tenant.") var tenant: String = Tenant.platformID
            @Option(help: "The new password (8 to 1024 bytes); omit it to have one generated and printed.")
            var password: String?
            @Argument(help: "The username.") var username: String

            func run() async throws {
                let configuration = try options.load()
                var logger = Logger(label: "iam-gateway.users")
                logger.logLevel = .warning
                let generated = password == nil
                let newPassword = password ?? SecretToken.random(bytes: 18)
                try await exitOnFailure(2, "--password") { try PasswordHasher.validate(newPassword) }
                let backend = try await StorageBackend.open(configuration, logger: logger)
                let tenant = self.tenant
                let username = self.username
                try await backend.whileRunning {
                    let store = backend.store
                    guard
                        let user = try await exitOnFailure(
                            1, "users reset-password", { try await store.user(tenantID: tenant, username: username) })
                    else {
                        printError("iam-gateway: no user \(username) in tenant \(tenant)")
                        throw ExitCode(1)
                    }
                    let hasher = configuration.passwords.hasher
                    let hash = try await NIOThreadPool.singleton.runIfActive { try hasher.hash(newPassword) }
                    let now = Date()
                    let revoked = try await exitOnFailure(1, "users reset-password") { () -> [String] in
                        guard try await store.updatePassword(tenantID: tenant, userID: user.userID, passwordHash: hash)
                        else {
                            throw GatewayError.notFound("The user was deleted meanwhile.")
                        }
                        return try await store.revokeSessions(
                            tenantID: tenant, principalID: user.userID, except: nil, now: now)
                    }
                    await AuditLog(store: store, clock: SystemClock(), logger: logger).record(
                        actor: "cli", tenantID: tenant, workspaceID: nil, action: "user.password_reset",
                        target: "user:\(user.userID)", requestID: nil
                    )
                    print("reset the password of \(username) in tenant \(tenant); revoked \(revoked.count) session(s)")
                    if generated { print("new password (shown once, store it now): \(newPassword)") }
                }
            }
        }
    }
}
