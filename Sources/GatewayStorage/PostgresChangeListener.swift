import GatewayCore
import Logging
import NIOCore
import PostgresNIO

/// `LISTEN`s on the store's notification channel over a dedicated connection (outside the pool) and reports each
/// change; reconnects with back-off (0.25 s doubling to 5 s) when the connection is lost.
///
/// After every (re)connection it reports every kind of change once: changes made while it was not listening were
/// not announced to it.
public struct PostgresChangeListener: ChangeNotifier {
    let configuration: PostgresStoreConfiguration
    let logger: Logger

    public init(configuration: PostgresStoreConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func listen(_ handler: @escaping @Sendable (StoreChange) async -> Void) async throws {
        let channel = configuration.notificationChannel
        var backoff = Duration.milliseconds(250)
        var wasConnected = true
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    on: PostgresConnection.defaultEventLoopGroup.any(),
                    configuration: try configuration.connectionConfiguration(), id: 1, logger: logger
                )
                backoff = .milliseconds(250)
                if !wasConnected {
                    logger.info(
                        "change notifications: listening again", metadata: ["store": "\(configuration.description)"])
                }
                wasConnected = true
                do {
                    try await connection.listen(on: channel) { notifications in
                        for change in StoreChange.allCases { await handler(change) }
                        for try await notification in notifications {
                            if let change = StoreChange(rawValue: notification.payload) {
                                await handler(change)
                            }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                if wasConnected {
                    logger.warning(
                        "change notifications: connection lost; polling covers the gap",
                        metadata: [
                            "store": "\(configuration.description)", "reason": "\(PostgresErrors.describe(error))",
                        ])
                }
                wasConnected = false
            }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                return
            }
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
