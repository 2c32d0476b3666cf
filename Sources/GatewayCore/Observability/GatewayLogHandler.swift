import Foundation
import Logging
import Synchronization

/// Where log lines go: a file descriptor (standard output or error), or a closure (tests).
public struct LogSink: Sendable {
    let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void) {
        self.write = write
    }

    /// One `write(2)` per line under a lock, so lines of concurrent requests never interleave.
    public static func fileDescriptor(_ descriptor: Int32) -> LogSink {
        let lock = Mutex(())
        return LogSink { line in
            var line = line
            lock.withLock { _ in line.withUTF8 { writeAll(descriptor, UnsafeRawBufferPointer($0)) } }
        }
    }

    /// Writes all of `bytes` (again after a partial write or an interrupt); gives up on an error, as a log does.
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.write(descriptor, base + offset, bytes.count - offset)
            if written <= 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    /// Lines gathered in memory and written in blocks: when 64 KiB are waiting, or every 100 ms by a writer thread.
    /// Access lines take this path: one `write(2)` per request would cost the relay a tenth of its throughput.
    public static func buffered(_ descriptor: Int32) -> LogSink {
        let writer = BufferedWriter(descriptor: descriptor)
        return LogSink { writer.append($0) }
    }

    public static let standardOutput = buffered(1)
    public static let standardError = fileDescriptor(2)

    /// Writes what the buffered sinks hold (at shutdown).
    public static func flush() { BufferedWriter.flushAll() }
}

/// The buffer behind ``LogSink/buffered(_:)``.
final class BufferedWriter: Sendable {
    let descriptor: Int32
    private let pending = Mutex<[UInt8]>([])
    static let limit = 64 * 1024
    private static let all = Mutex<[BufferedWriter]>([])

    init(descriptor: Int32) {
        self.descriptor = descriptor
        pending.withLock { $0.reserveCapacity(Self.limit) }
        Self.all.withLock { $0.append(self) }
        let thread = Thread { [weak self] in
            while let writer = self {
                writer.flush()
                usleep(100_000)
            }
        }
        thread.name = "log-writer"
        thread.start()
    }

    func append(_ line: String) {
        var full: [UInt8]?
        pending.withLock { buffer in
            buffer.append(contentsOf: line.utf8)
            if buffer.count >= Self.limit {
                full = buffer
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if let full { write(full) }
    }

    func flush() {
        let taken = pending.withLock { buffer -> [UInt8] in
            let taken = buffer
            buffer.removeAll(keepingCapacity: true)
            return taken
        }
        if !taken.isEmpty { write(taken) }
    }

    static func flushAll() {
        for writer in all.withLock({ $0 }) { writer.flush() }
    }

    private func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { LogSink.writeAll(descriptor, $0) }
    }
}

/// The gateway's log lines (SPEC 10): `text` (`<ts> <level> <label>: <message> key=value ...`) or `json` (one
/// object per line with `ts`, `level`, `logger`, `msg` and the metadata as fields; numbers stay numbers).
/// Access lines (label ``accessLabel``) go to standard output, everything else to standard error.
public struct GatewayLogHandler: LogHandler {
    public static let accessLabel = "access"

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: GatewayConfiguration.Log.Format
    let sink: LogSink

    public init(label: String, level: Logger.Level, format: GatewayConfiguration.Log.Format, sink: LogSink) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
    }

    /// The handler for `label` on the process's standard streams.
    public static func standard(label: String, level: Logger.Level, format: GatewayConfiguration.Log.Format)
        -> GatewayLogHandler
    {
        GatewayLogHandler(
            label: label, level: level, format: format, sink: label == accessLabel ? .standardOutput : .standardError)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Access fields first, in the order SPEC 10 lists them; other keys sorted.
    static let fieldOrder = [
        "request_id", "method", "route", "path", "status", "duration_ms", "upstream_ms", "bytes", "tenant_id",
        "workspace_id", "principal",
    ]

    public func log(event: LogEvent) {
        // An access line arrives rendered whole (GatewayHTTP's RequestObserver), in this handler's format.
        if label == Self.accessLabel, event.metadata?.isEmpty ?? true, metadata.isEmpty {
            sink.write(event.message.description + "\n")
            return
        }
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        let keys =
            Self.fieldOrder.filter { fields[$0] != nil } + fields.keys.filter { !Self.fieldOrder.contains($0) }.sorted()
        let ts = Self.timestamp(Date())
        var line: String
        switch format {
        case .text:
            line = "\(ts) \(event.level) \(label): \(event.message)"
            for key in keys { line += " \(key)=\(Self.text(fields[key]!))" }
        case .json:
            line =
                "{\"ts\":\(Self.quoted(ts)),\"level\":\"\(event.level)\",\"logger\":\(Self.quoted(label)),\"msg\":\(Self.quoted(event.message.description))"
            for key in keys { line += ",\(Self.quoted(key)):\(Self.json(fields[key]!))" }
            line += "}"
        }
        sink.write(line + "\n")
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        let rendered = value.description
        return needsQuotes(rendered) ? quoted(rendered) : rendered
    }

    /// A text value that would not read back as one `key=value` token.
    public static func needsQuotes(_ text: String) -> Bool {
        text.isEmpty || text.utf8.contains { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x5C || $0 == 0x7F }
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: return String(number)
            case let number as Int64: return String(number)
            case let number as Double where number.isFinite: return String(number)
            case let flag as Bool: return flag ? "true" : "false"
            default: return quoted(convertible.description)
            }
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.keys.sorted().map { quoted($0) + ":" + json(values[$0]!) }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal (also used for quoted text values).
    public static func quoted(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F }) {
            return "\"" + text + "\""
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// RFC 3339 UTC with milliseconds, digits written by hand (Foundation's `String(format:)` costs microseconds).
    public static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let millis = Int((interval - interval.rounded(.down)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int, at offset: Int, digits: Int) {
            var value = value
            for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                bytes[index] = UInt8(0x30 + value % 10)
                value /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, at: 0, digits: 4)
        bytes[4] = 0x2D
        put(Int(parts.tm_mon) + 1, at: 5, digits: 2)
        bytes[7] = 0x2D
        put(Int(parts.tm_mday), at: 8, digits: 2)
        bytes[10] = 0x54
        put(Int(parts.tm_hour), at: 11, digits: 2)
        bytes[13] = 0x3A
        put(Int(parts.tm_min), at: 14, digits: 2)
        bytes[16] = 0x3A
        put(Int(parts.tm_sec), at: 17, digits: 2)
        bytes[19] = 0x2E
        put(millis, at: 20, digits: 3)
        bytes[23] = 0x5A
        return String(decoding: bytes, as: UTF8.self)
    }
}
