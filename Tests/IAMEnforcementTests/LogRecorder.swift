import Logging
import Synchronization

/// A logger whose messages tests wait for: a component's log line is the signal that it reached that point, so a
/// test need not sleep to give it time.
final class LogRecorder: Sendable {
    private let messages = Mutex<[String]>([])
    private let logged: AsyncStream<Void>
    private let loggedContinuation: AsyncStream<Void>.Continuation

    init() {
        (logged, loggedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// Every message logged so far, in order.
    var all: [String] { messages.withLock { $0 } }

    /// A logger recording here every message at `level` or above.
    func logger(level: Logger.Level = .debug) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(recorder: self) }
        logger.logLevel = level
        return logger
    }

    /// Waits until `message` has been logged; returns early only if the task is cancelled.
    func waitFor(_ message: String) async {
        if all.contains(message) { return }
        for await _ in logged where all.contains(message) { return }
    }

    private func record(_ message: String) {
        messages.withLock { $0.append(message) }
        loggedContinuation.yield()
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.record(event.message.description)
        }
    }
}
