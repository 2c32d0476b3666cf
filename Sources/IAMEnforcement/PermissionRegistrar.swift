import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Registers the service's permissions with the gateway at start:
/// `POST {gateway}/v1/permissions/register` `{"service", "permissions", "labels"}`.
///
/// While the gateway is unreachable, times out or answers 5xx, 408 or 429, it retries with exponential back-off
/// up to ``Configuration/maximumBackoff``. A 2xx ends it; any other 4xx (a name owned by another service, a
/// malformed name, a key without `permissions.register`) is logged as an error and ends it too. As a `Service`
/// it runs in the background, never delays the service's start, and after finishing waits for graceful
/// shutdown so that it does not end the `ServiceGroup`.
public final class PermissionRegistrar: Service {
    /// What to register, where, and how to retry.
    public struct Configuration: Sendable {
        /// The gateway's base URL, e.g. `https://gateway.example`.
        public var gatewayURL: String
        /// Sent as `Authorization: ApiKey <key>`.
        public var apiKey: String
        /// The service name: the audience its tokens carry.
        public var service: String
        /// Permission names, e.g. `connections.read`.
        public var permissions: [String]
        /// Human-readable labels by permission name.
        public var labels: [String: String]
        /// The first pause after a failed attempt; it doubles on each further failure.
        public var initialBackoff: Duration
        /// The longest pause between attempts.
        public var maximumBackoff: Duration
        /// Each attempt must finish within this time.
        public var timeout: Duration

        public init(
            gatewayURL: String,
            apiKey: String,
            service: String,
            permissions: [String],
            labels: [String: String] = [:],
            initialBackoff: Duration = .milliseconds(500),
            maximumBackoff: Duration = .seconds(30),
            timeout: Duration = .seconds(5)
        ) {
            self.gatewayURL = gatewayURL
            self.apiKey = apiKey
            self.service = service
            self.permissions = permissions
            self.labels = labels
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.timeout = timeout
        }
    }

    /// How registration ended, or how one attempt went.
    public enum Outcome: Sendable, Equatable {
        /// The gateway accepted the permissions (2xx).
        case registered
        /// The gateway refused them with this 4xx status; retrying would not help.
        case rejected(status: Int)
        /// The attempt failed in a way worth retrying.
        case failed(GatewayFetchError)
        /// The task was cancelled or the service shut down before registration ended.
        case cancelled
    }

    struct Body: Encodable {
        var service: String
        var permissions: [String]
        var labels: [String: String]
    }

    public let configuration: Configuration
    private let call: GatewayCall
    private let logger: Logger

    public init(
        configuration: Configuration, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "iam-enforcement.registrar")
    ) {
        self.configuration = configuration
        self.call = GatewayCall(client: httpClient, timeout: configuration.timeout, maximumResponseSize: 64 * 1024)
        self.logger = logger
    }

    /// Registers in the background of the service group, then waits for graceful shutdown.
    public func run() async throws {
        _ = await cancelWhenGracefulShutdown { await self.registerUntilDone() }
        try? await gracefulShutdown()
    }

    /// Attempts until the gateway accepts or rejects the permissions, pausing with back-off in between; returns
    /// `.cancelled` when the task is cancelled first.
    public func registerUntilDone() async -> Outcome {
        var backoff = configuration.initialBackoff
        var attempts = 0
        while !Task.isCancelled {
            attempts += 1
            let outcome = await registerOnce()
            switch outcome {
            case .registered:
                logger.info(
                    "permissions registered",
                    metadata: ["service": "\(configuration.service)", "attempts": "\(attempts)"])
                return outcome
            case .rejected(let status):
                logger.error(
                    "the gateway refused the permission registration",
                    metadata: ["service": "\(configuration.service)", "status": "\(status)"])
                return outcome
            case .cancelled:
                return outcome
            case .failed(let error):
                if attempts == 1 || attempts.isMultiple(of: 10) {
                    logger.warning(
                        "permission registration failed; retrying",
                        metadata: ["reason": "\(error)", "attempts": "\(attempts)"])
                }
            }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                return .cancelled
            }
            backoff = min(backoff * 2, configuration.maximumBackoff)
        }
        return .cancelled
    }

    /// One attempt.
    public func registerOnce() async -> Outcome {
        if Task.isCancelled { return .cancelled }
        var request = HTTPClientRequest(
            url: GatewayCall.url(gateway: configuration.gatewayURL, path: "/v1/permissions/register"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Authorization", value: "ApiKey \(configuration.apiKey)")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = Body(
            service: configuration.service, permissions: configuration.permissions, labels: configuration.labels)
        guard let data = try? encoder.encode(body) else { return .rejected(status: 400) }
        request.body = .bytes(ByteBuffer(bytes: data))
        do throws(GatewayFetchError) {
            let answer = try await call.send(request)
            switch answer.status {
            case 200..<300: return .registered
            case 408, 429: return .failed(.httpStatus(answer.status))
            case 400..<500: return .rejected(status: answer.status)
            default: return .failed(.httpStatus(answer.status))
            }
        } catch {
            return Task.isCancelled ? .cancelled : .failed(error)
        }
    }
}
