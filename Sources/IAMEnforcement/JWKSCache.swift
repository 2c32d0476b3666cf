import AsyncHTTPClient
import CryptoExtras
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The issuer's public keys, fetched from its JWKS URL and cached.
///
/// - A lookup of a known `kid` never waits: when the set is older than the answer's `Cache-Control: max-age`,
///   a refresh starts in the background and the cached key is returned.
/// - A lookup of an unknown `kid` refetches the set and waits for it, but at most one fetch starts per
///   ``Configuration/minimumRefetchInterval``, however many unknown ids arrive; concurrent misses share the
///   fetch in flight. Made-up ids therefore cost the gateway nothing.
/// - A failed fetch (gateway unreachable, timeout, non-2xx, oversized, not a JWKS, no usable key) keeps the
///   last good set.
/// - Keys come only from the configured URL, never from a token.
public final class JWKSCache: VerificationKeySource {
    /// How the cache fetches and when it refetches.
    public struct Configuration: Sendable {
        /// The JWKS URL, e.g. `https://gateway.example/.well-known/jwks.json`.
        public var url: String
        /// The whole exchange (connect, head, body) must finish within this time.
        public var timeout: Duration
        /// Answers larger than this are refused.
        public var maximumResponseSize: Int
        /// At most one fetch starts per interval, whatever triggers it.
        public var minimumRefetchInterval: Duration
        /// How long a set stays fresh when the answer has no `max-age`.
        public var defaultMaxAge: Duration
        /// Caps a `max-age` the answer gives.
        public var maximumMaxAge: Duration

        public init(
            url: String,
            timeout: Duration = .seconds(5),
            maximumResponseSize: Int = 256 * 1024,
            minimumRefetchInterval: Duration = .seconds(10),
            defaultMaxAge: Duration = .seconds(300),
            maximumMaxAge: Duration = .seconds(86_400)
        ) {
            self.url = url
            self.timeout = timeout
            self.maximumResponseSize = maximumResponseSize
            self.minimumRefetchInterval = minimumRefetchInterval
            self.defaultMaxAge = defaultMaxAge
            self.maximumMaxAge = maximumMaxAge
        }
    }

    private typealias Fetch = Task<Result<Void, GatewayFetchError>, Never>

    private struct State {
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        var freshUntil: Date?
        var lastAttempt: Date?
        var lastSuccess: Date?
        var inFlight: Fetch?
    }

    public let configuration: Configuration
    private let call: GatewayCall
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private let state = Mutex(State())

    /// - Parameters:
    ///   - configuration: URL, timeout, size cap and refetch intervals.
    ///   - httpClient: the client to fetch with; the process-wide shared client by default.
    ///   - clock: the current time, injectable so tests move it instead of sleeping.
    ///   - logger: failed fetches are logged at `warning` with their reason.
    public init(
        configuration: Configuration,
        httpClient: HTTPClient = .shared,
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "iam-enforcement.jwks")
    ) {
        self.configuration = configuration
        self.call = GatewayCall(
            client: httpClient, timeout: configuration.timeout, maximumResponseSize: configuration.maximumResponseSize)
        self.clock = clock
        self.logger = logger
    }

    /// The published key with this id, or `nil`; see the type's documentation for when this fetches.
    public func key(for kid: String) async -> _RSA.Signing.PublicKey? {
        enum Step {
            case found(_RSA.Signing.PublicKey)
            case wait(Fetch)
            case missing
        }
        let now = clock()
        let step: Step = state.withLock { state in
            if let key = state.keys[kid] {
                if state.inFlight == nil, isStale(state, now: now), mayFetch(state, now: now) {
                    _ = startFetch(&state, now: now)
                }
                return .found(key)
            }
            if let fetch = state.inFlight { return .wait(fetch) }
            if mayFetch(state, now: now) { return .wait(startFetch(&state, now: now)) }
            return .missing
        }
        switch step {
        case .found(let key):
            return key
        case .missing:
            return nil
        case .wait(let fetch):
            _ = await fetch.value
            return state.withLock { $0.keys[kid] }
        }
    }

    /// Fetches the set now, whatever the rate limit, or joins the fetch in flight. Use it at start-up to warm the
    /// cache; a failure keeps the last good set.
    public func refresh() async throws(GatewayFetchError) {
        let now = clock()
        let fetch = state.withLock { state in state.inFlight ?? startFetch(&state, now: now) }
        try await fetch.value.get()
    }

    /// Waits for the fetch in flight, if any (a background refresh, say).
    public func waitForPendingFetch() async {
        if let fetch = state.withLock({ $0.inFlight }) {
            _ = await fetch.value
        }
    }

    /// The ids of the cached keys, sorted.
    public var keyIDs: [String] {
        state.withLock { $0.keys.keys.sorted() }
    }

    /// When the cached set was last fetched successfully.
    public var lastRefreshed: Date? {
        state.withLock { $0.lastSuccess }
    }

    private func isStale(_ state: State, now: Date) -> Bool {
        guard let freshUntil = state.freshUntil else { return true }
        return now >= freshUntil
    }

    private func mayFetch(_ state: State, now: Date) -> Bool {
        guard let lastAttempt = state.lastAttempt else { return true }
        let elapsed = now.timeIntervalSince(lastAttempt)
        // A clock that went backwards must not stop refetching until it catches up.
        return elapsed >= configuration.minimumRefetchInterval.seconds || elapsed < 0
    }

    private func startFetch(_ state: inout State, now: Date) -> Fetch {
        state.lastAttempt = now
        let fetch = Fetch { await self.fetchAndStore() }
        state.inFlight = fetch
        return fetch
    }

    private func fetchAndStore() async -> Result<Void, GatewayFetchError> {
        let result: Result<(keys: [String: _RSA.Signing.PublicKey], maxAge: Duration), GatewayFetchError>
        do throws(GatewayFetchError) {
            result = .success(try await fetch())
        } catch {
            result = .failure(error)
        }
        let now = clock()
        state.withLock { state in
            state.inFlight = nil
            if case .success(let fetched) = result {
                state.keys = fetched.keys
                state.lastSuccess = now
                state.freshUntil = now.addingTimeInterval(fetched.maxAge.seconds)
            }
        }
        switch result {
        case .success(let fetched):
            logger.debug(
                "JWKS fetched", metadata: ["kids": "\(fetched.keys.keys.sorted())", "max_age": "\(fetched.maxAge)"])
            return .success(())
        case .failure(let error):
            logger.warning(
                "JWKS fetch failed; keeping the last good key set",
                metadata: ["reason": "\(error)", "url": "\(configuration.url)"])
            return .failure(error)
        }
    }

    private func fetch() async throws(GatewayFetchError) -> (keys: [String: _RSA.Signing.PublicKey], maxAge: Duration) {
        var request = HTTPClientRequest(url: configuration.url)
        request.headers.add(name: "Accept", value: "application/json")
        let answer = try await call.send(request)
        guard (200..<300).contains(answer.status) else { throw .httpStatus(answer.status) }
        guard let set = try? JSONDecoder().decode(JSONWebKeySet.self, from: Data(answer.body.readableBytesView)) else {
            throw .invalidBody
        }
        let keys = set.rs256KeysByID()
        guard !keys.isEmpty else { throw .emptyKeySet }
        let maxAge =
            Self.maxAge(cacheControl: answer.headers["cache-control"].joined(separator: ","))
            .map { min($0, configuration.maximumMaxAge) } ?? configuration.defaultMaxAge
        return (keys, maxAge)
    }

    /// The `max-age` of a `Cache-Control` value; `no-cache` and `no-store` count as zero.
    static func maxAge(cacheControl: String) -> Duration? {
        var result: Duration?
        for directive in cacheControl.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1)
            let name = parts.first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            switch name {
            case "no-cache", "no-store":
                return .zero
            case "max-age":
                guard parts.count == 2 else { continue }
                let value = parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
                if let seconds = Int64(value), seconds >= 0 { result = .seconds(seconds) }
            default:
                continue
            }
        }
        return result
    }
}
