import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real upstream on a loopback port that records what reaches it.
///
/// - `/slow...`: held unanswered until the test calls ``releaseSlow()`` (or the upstream stops), so an upstream
///   slower than any timeout is a signal, not a sleep.
/// - `/upload...`: streams the body through SHA-256 and answers `{"sha256": ..., "bytes": N}`.
/// - `/download?bytes=N`: streams N bytes of a fixed pattern.
/// - anything else: answers `{"method", "path", "query"}` and records the request head.
final class RecordingUpstream: Sendable {
    struct Seen: Sendable {
        var method: String
        var path: String
        var query: String?
        var headers: HTTPFields

        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }
        func all(_ name: String) -> [String] { HTTPField.Name(name).map { headers[values: $0] } ?? [] }
    }

    private struct Held {
        var requests: [CheckedContinuation<Void, Never>] = []
        var stopped = false
    }

    private let seen = Mutex<[Seen]>([])
    private let held = Mutex(Held())
    private let portBox = Mutex<Int>(0)
    /// The path of every request as it arrives (before it is answered): tests wait on it instead of sleeping.
    let arrivals: AsyncStream<String>
    private let arrived: AsyncStream<String>.Continuation

    init() {
        (arrivals, arrived) = AsyncStream.makeStream(of: String.self)
    }

    /// Waits until a request for a path starting with `prefix` has arrived.
    func waitForArrival(of prefix: String) async {
        for await path in arrivals where path.hasPrefix(prefix) { return }
    }

    /// Lets every `/slow` request held now answer 200; later ones are held again.
    func releaseSlow() {
        let requests = held.withLock { held in
            defer { held.requests = [] }
            return held.requests
        }
        for request in requests { request.resume() }
    }

    /// Holds a `/slow` request until ``releaseSlow()``, announcing its arrival once it is held (so a release that
    /// follows the arrival always reaches it).
    private func hold(announcing path: String) async {
        await withCheckedContinuation { (request: CheckedContinuation<Void, Never>) in
            let answerNow = held.withLock { held in
                if !held.stopped { held.requests.append(request) }
                return held.stopped
            }
            arrived.yield(path)
            if answerNow { request.resume() }
        }
    }

    /// Releases held requests, now and later, so that the server can stop.
    private func stop() {
        held.withLock { $0.stopped = true }
        releaseSlow()
    }

    var requests: [Seen] { seen.withLock { $0 } }
    var last: Seen? { seen.withLock { $0.last } }
    var port: Int { portBox.withLock { $0 } }
    func setPort(_ port: Int) { portBox.withLock { $0 = port } }

    /// `count` bytes of a fixed pattern in 64 KiB chunks, each made when the reader asks for it: the reader sets
    /// the pace, nothing is buffered ahead.
    struct Pattern: AsyncSequence, Sendable {
        static let chunk = ByteBuffer(
            bytes: (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) })

        struct AsyncIterator: AsyncIteratorProtocol {
            var remaining: Int

            mutating func next() async -> ByteBuffer? {
                guard remaining > 0 else { return nil }
                let size = Swift.min(Pattern.chunk.readableBytes, remaining)
                remaining -= size
                return Pattern.chunk.getSlice(at: 0, length: size) ?? Pattern.chunk
            }
        }

        let count: Int

        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(remaining: count)
        }
    }

    static func pattern(_ count: Int) -> Pattern {
        Pattern(count: count)
    }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let upstream: RecordingUpstream

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            let path = request.uri.path
            if path.hasPrefix("/slow") {
                await upstream.hold(announcing: path)
                return Response(status: .ok)
            }
            upstream.arrived.yield(path)
            if path.hasPrefix("/upload") {
                var hasher = SHA256()
                var bytes = 0
                for try await buffer in request.body {
                    hasher.update(data: buffer.readableBytesView)
                    bytes += buffer.readableBytes
                }
                let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"sha256":"\#(digest)","bytes":\#(bytes)}"#)))
            }
            if path.hasPrefix("/download") {
                let count = request.uri.queryParameters["bytes"].flatMap { Int($0) } ?? 0
                return Response(
                    status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(count)],
                    body: ResponseBody(asyncSequence: RecordingUpstream.pattern(count)))
            }
            upstream.seen.withLock {
                $0.append(
                    Seen(
                        method: request.method.rawValue, path: path, query: request.uri.query, headers: request.headers)
                )
            }
            let body = try JSONSerialization.data(withJSONObject: [
                "method": request.method.rawValue, "path": path, "query": request.uri.query ?? "",
            ])
            var headers: HTTPFields = [.contentType: "application/json", HTTPField.Name("X-Upstream")!: "yes"]
            headers[.connection] = "X-Secret-Hop"
            headers[HTTPField.Name("X-Secret-Hop")!] = "must-not-reach-client"
            return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    /// Runs the upstream for the duration of `body`.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let (running, listening) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: Responder(upstream: self),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                self.setPort(channel.localAddress?.port ?? 0)
                listening.yield(channel.localAddress?.port ?? 0)
            },
            logger: Logger(label: "upstream")
        )
        let serviceGroup = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "upstream")))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serviceGroup.run() }
            for await _ in running { break }
            do {
                let result = try await body()
                stop()
                await serviceGroup.triggerGracefulShutdown()
                try await group.waitForAll()
                return result
            } catch {
                stop()
                await serviceGroup.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}
