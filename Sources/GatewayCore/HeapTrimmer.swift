import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Hands the allocator's free memory back to the system every `interval`.
///
/// The caches empty or shed entries in bulk (the verified-token cache when full, the downstream token cache's
/// eviction, the resolution cache on a registry change); glibc keeps what they freed in its free lists, counted in
/// the process's RSS, unless it happens to sit at the top of the heap. `malloc_trim(0)` releases the free pages
/// wherever they are. It takes a few milliseconds for a heap of a hundred megabytes; elsewhere than glibc it does
/// nothing.
public struct HeapTrimmer: Service {
    let interval: Duration
    let logger: Logger

    public init(interval: Duration = .seconds(30), logger: Logger = Logger(label: "iam-gateway.memory")) {
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                let started = ContinuousClock.now
                let released = Self.trim()
                logger.trace(
                    "heap trimmed",
                    metadata: ["released": "\(released)", "duration": "\(ContinuousClock.now - started)"])
            }
        }
    }

    /// Releases the allocator's free pages now; `true` when some memory was given back.
    @discardableResult
    public static func trim() -> Bool {
        guard let mallocTrim else { return false }
        return mallocTrim(0) == 1
    }

    /// glibc's `malloc_trim`, looked up at run time: Swift's Glibc module does not declare it (`<malloc.h>`).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
            return nil
        #endif
    }()
}
