import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IAMEnforcement
import IAMEnforcementTesting
import Logging
import NIOCore
import Synchronization
import Testing

/// A stand-in for the gateway's JWKS, policy-version and registration endpoints, served over loopback on port 0.
/// Tests change what it answers, read what it received and wait for requests to arrive (``waitForRequests(_:)``)
/// instead of sleeping.
final class FakeGateway: Sendable {
    enum JWKSMode: Sendable {
        case normal
        case garbage
        case emptySet
        case serverError
        case oversized
        case hang
    }

    struct ReceivedRequest: Sendable {
        var path: String
        var query: String
        var authorization: String?
        var body: String
    }

    struct PolicyPage: Sendable {
        var versions: [(tenant: String, workspace: String, version: Int64)]
        var cursor: String
    }

    private struct State {
        var jwks = JSONWebKeySet(keys: [])
        var jwksMode = JWKSMode.normal
        var maxAge = 60
        var jwksRequests = 0
        var released = false
        /// JWKS requests held by ``JWKSMode/hang`` until ``release()``.
        var held: [CheckedContinuation<Void, Never>] = []
        var policyPages: [String: PolicyPage] = [:]
        var policyStatus = 200
        var registerStatuses: [Int] = []
        var requests: [ReceivedRequest] = []
    }

    private let state = Mutex(State())
    /// One element per recorded request, yielded after it is recorded.
    private let recorded: AsyncStream<Void>
    private let recordedContinuation: AsyncStream<Void>.Continuation

    init() {
        (recorded, recordedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    var jwksRequests: Int { state.withLock { $0.jwksRequests } }
    var requests: [ReceivedRequest] { state.withLock { $0.requests } }

    func publish(_ keys: [TestSigningKey]) throws {
        let set = JSONWebKeySet(keys: try keys.map { try $0.jwk })
        state.withLock { $0.jwks = set }
    }

    func setJWKSMode(_ mode: JWKSMode) {
        state.withLock { $0.jwksMode = mode }
    }

    func setMaxAge(_ seconds: Int) {
        state.withLock { $0.maxAge = seconds }
    }

    /// Ends hanging JWKS requests, those held now and any later one.
    func release() {
        let held = state.withLock { state in
            state.released = true
            defer { state.held = [] }
            return state.held
        }
        for request in held { request.resume() }
    }

    /// Waits until the requests recorded so far (policy-version polls and registrations, each recorded once its
    /// answer is decided) satisfy `condition`; returns early only if the task is cancelled.
    func waitForRequests(_ condition: ([ReceivedRequest]) -> Bool) async {
        if condition(requests) { return }
        for await _ in recorded where condition(requests) { return }
    }

    /// The page answered for `since` (the empty string: no `since`).
    func setPolicyPage(since: String, _ page: PolicyPage) {
        state.withLock { $0.policyPages[since] = page }
    }

    func setPolicyStatus(_ status: Int) {
        state.withLock { $0.policyStatus = status }
    }

    /// Statuses answered to registration attempts in turn; 200 once they run out.
    func setRegisterStatuses(_ statuses: [Int]) {
        state.withLock { $0.registerStatuses = statuses }
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.get("/.well-known/jwks.json") { _, _ in try await self.jwks() }
        router.get("/v1/policy-versions") { request, _ in
            let response = self.policyVersions(since: request.uri.queryParameters["since"].map(String.init))
            self.record(request, body: "")
            return response
        }
        router.post("/v1/permissions/register") { request, _ in
            let body = try await request.body.collect(upTo: 64 * 1024)
            let status = self.state.withLock { state in
                state.registerStatuses.isEmpty ? 200 : state.registerStatuses.removeFirst()
            }
            self.record(request, body: String(buffer: body))
            return Response(
                status: .init(code: status), headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        var logger = Logger(label: "fake-gateway")
        logger.logLevel = .warning
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
    }

    private func record(_ request: Request, body: String) {
        let received = ReceivedRequest(
            path: request.uri.path, query: request.uri.query ?? "", authorization: request.headers[.authorization],
            body: body
        )
        state.withLock { $0.requests.append(received) }
        recordedContinuation.yield()
    }

    private func jwks() async throws -> Response {
        let (mode, set, maxAge) = state.withLock { state in
            state.jwksRequests += 1
            return (state.jwksMode, state.jwks, state.maxAge)
        }
        switch mode {
        case .normal:
            let body = try JSONEncoder().encode(set)
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=\(maxAge)"],
                body: .init(byteBuffer: ByteBuffer(bytes: body))
            )
        case .garbage:
            return Response(
                status: .ok, headers: [.contentType: "text/html"],
                body: .init(byteBuffer: ByteBuffer(string: "<html>not a key set</html>")))
        case .emptySet:
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"keys":[]}"#)))
        case .serverError:
            return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "oops")))
        case .oversized:
            let padding = String(repeating: "a", count: 300 * 1024)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"keys":[],"x":""# + padding + #""}"#)))
        case .hang:
            await withCheckedContinuation { (request: CheckedContinuation<Void, Never>) in
                let answerNow = state.withLock { state in
                    if !state.released { state.held.append(request) }
                    return state.released
                }
                if answerNow { request.resume() }
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "late")))
        }
    }

    private func policyVersions(since: String?) -> Response {
        let (status, page) = state.withLock { state in (state.policyStatus, state.policyPages[since ?? ""]) }
        guard status == 200 else { return Response(status: .init(code: status)) }
        let answered = page ?? PolicyPage(versions: [], cursor: since ?? "")
        let versions = answered.versions.map {
            ["tenant_id": $0.tenant, "workspace_id": $0.workspace, "policy_version": $0.version] as [String: Any]
        }
        let body =
            (try? JSONSerialization.data(withJSONObject: ["versions": versions, "cursor": answered.cursor])) ?? Data()
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension FakeGateway {
    /// Runs the fake gateway live for the duration of `body`, passing its base URL; hanging requests are released
    /// when `body` ends, so that the server can stop.
    func run<Value: Sendable>(_ body: @escaping @Sendable (_ baseURL: String) async throws -> Value) async throws
        -> Value
    {
        try await application().test(.live) { client in
            defer { release() }
            let port = try #require(client.port)
            return try await body("http://127.0.0.1:\(port)")
        }
    }
}
