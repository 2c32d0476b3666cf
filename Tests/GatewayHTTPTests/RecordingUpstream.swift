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
/// - `/slow...`: answers after 3 seconds.
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

    private let seen = Mutex<[Seen]>([])
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

    var requests: [Seen] { seen.withLock { $0 } }
    var last: Seen? { seen.withLock { $0.last } }
    var port: Int { portBox.withLock { $0 } }
    func setPort(_ port: Int) { portBox.withLock { $0 = port } }

    static func pattern(_ count: Int) -> some AsyncSequence<ByteBuffer, Never> & Sendable {
        let chunk = ByteBuffer(bytes: (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) })
        return AsyncStream<ByteBuffer>(bufferingPolicy: .bufferingOldest(4)) { continuation in
            let task = Task {
                var remaining = count
                while remaining > 0, !Task.isCancelled {
                    let size = min(chunk.readableBytes, remaining)
                    if case .enqueued = continuation.yield(chunk.getSlice(at: 0, length: size) ?? chunk) {
                        remaining -= size
                    } else {
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let upstream: RecordingUpstream

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            let path = request.uri.path
            upstream.arrived.yield(path)
            if path.hasPrefix("/slow") {
                try await Task.sleep(for: .seconds(3))
                return Response(status: .ok)
            }
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
                await serviceGroup.triggerGracefulShutdown()
                try await group.waitForAll()
                return result
            } catch {
                await serviceGroup.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}
