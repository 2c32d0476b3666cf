import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Keeps a ``PolicyVersionCache`` current by polling `GET {gateway}/v1/policy-versions?since=CURSOR`.
///
/// The first poll asks for every version, later ones for changes since the cursor the gateway returned. A failed
/// poll is retried with exponential back-off up to ``Configuration/maximumBackoff``, keeping the cursor. Versions
/// only ever rise. Run it in the service's `ServiceGroup`; it stops on graceful shutdown or cancellation.
public final class PolicyVersionPoller: Service {
    /// Where and how often to poll.
    public struct Configuration: Sendable {
        /// The gateway's base URL, e.g. `https://gateway.example`.
        public var gatewayURL: String
        /// Sent as `Authorization: ApiKey <key>`.
        public var apiKey: String
        /// The pause between successful polls.
        public var interval: Duration
        /// The first pause after a failure; it doubles on each further failure.
        public var initialBackoff: Duration
        /// The longest pause after failures.
        public var maximumBackoff: Duration
        /// Each poll must finish within this time.
        public var timeout: Duration
        /// Answers larger than this are refused.
        public var maximumResponseSize: Int

        public init(
            gatewayURL: String,
            apiKey: String,
            interval: Duration = .seconds(5),
            initialBackoff: Duration = .seconds(1),
            maximumBackoff: Duration = .seconds(60),
            timeout: Duration = .seconds(5),
            maximumResponseSize: Int = 4 * 1024 * 1024
        ) {
            self.gatewayURL = gatewayURL
            self.apiKey = apiKey
            self.interval = interval
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.timeout = timeout
            self.maximumResponseSize = maximumResponseSize
        }
    }

    struct Page: Decodable {
        struct Version: Decodable {
            var tenantID: String
            var workspaceID: String
            var policyVersion: Int64

            enum CodingKeys: String, CodingKey {
                case tenantID = "tenant_id"
                case workspaceID = "workspace_id"
                case policyVersion = "policy_version"
            }
        }

        var versions: [Version]
        var cursor: String?
    }

    public let configuration: Configuration
    public let cache: PolicyVersionCache
    private let call: GatewayCall
    private let logger: Logger
    private let cursor = Mutex<String?>(nil)

    public init(
        configuration: Configuration,
        cache: PolicyVersionCache,
        httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "iam-enforcement.policy-versions")
    ) {
        self.configuration = configuration
        self.cache = cache
        self.call = GatewayCall(
            client: httpClient, timeout: configuration.timeout, maximumResponseSize: configuration.maximumResponseSize)
        self.logger = logger
    }

    /// The cursor the next poll sends, `nil` before the first successful poll.
    public var currentCursor: String? {
        cursor.withLock { $0 }
    }

    /// Polls until graceful shutdown or cancellation.
    public func run() async throws {
        var backoff = configuration.initialBackoff
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let pause: Duration
            do throws(GatewayFetchError) {
                try await pollOnce()
                if failures > 0 { logger.info("policy version poll recovered", metadata: ["failures": "\(failures)"]) }
                failures = 0
                backoff = configuration.initialBackoff
                pause = configuration.interval
            } catch {
                failures += 1
                if failures == 1 || failures.isMultiple(of: 10) {
                    logger.warning(
                        "policy version poll failed", metadata: ["reason": "\(error)", "failures": "\(failures)"])
                }
                pause = backoff
                backoff = min(backoff * 2, configuration.maximumBackoff)
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            } catch {
                return
            }
        }
    }

    /// One poll: fetches the versions changed since the cursor, raises them in the cache and keeps the new cursor.
    /// Returns how many versions the gateway sent.
    @discardableResult
    public func pollOnce() async throws(GatewayFetchError) -> Int {
        let since = cursor.withLock { $0 }
        var request = HTTPClientRequest(url: Self.url(gateway: configuration.gatewayURL, since: since))
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Authorization", value: "ApiKey \(configuration.apiKey)")
        let answer = try await call.send(request)
        guard (200..<300).contains(answer.status) else { throw .httpStatus(answer.status) }
        guard let page = try? JSONDecoder().decode(Page.self, from: Data(answer.body.readableBytesView)) else {
            throw .invalidBody
        }
        for version in page.versions {
            cache.update(
                tenantID: version.tenantID, workspaceID: version.workspaceID, policyVersion: version.policyVersion)
        }
        if let next = page.cursor {
            cursor.withLock { $0 = next }
        }
        return page.versions.count
    }

    static func url(gateway: String, since: String?) -> String {
        let base = GatewayCall.url(gateway: gateway, path: "/v1/policy-versions")
        guard let since else { return base }
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return base + "?since=" + (since.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")
    }
}
