import Foundation
import GatewayCore
import Testing

@Suite struct HeapTrimmerTests {
    static func anonymousMegabytes() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? -1) / 1024
    }

    /// Memory freed in the middle of the heap (blocks below the mmap threshold, each between two blocks still in
    /// use) stays resident until trimmed; after ``HeapTrimmer/trim()`` most of it is given back.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"))) func freedMemoryIsGivenBack() {
        let blocks = 2048
        let size = 64 * 1024
        var freed: [UnsafeMutableRawPointer] = []
        var kept: [UnsafeMutableRawPointer] = []
        for _ in 0..<blocks {
            let block = malloc(size)!
            memset(block, 1, size)
            freed.append(block)
            kept.append(malloc(64)!)
        }
        let filled = Self.anonymousMegabytes()
        for block in freed { free(block) }
        let afterFree = Self.anonymousMegabytes()
        HeapTrimmer.trim()
        let afterTrim = Self.anonymousMegabytes()
        for block in kept { free(block) }
        // 128 MiB were freed. Without the trim nearly all of it stays; with it, nearly all of it goes. The margins
        // are wide because other tests run in the same process at the same time.
        #expect(afterFree > filled - 96, "freeing alone gives back little: \(filled) -> \(afterFree) MB")
        #expect(afterTrim < afterFree - 64, "the trim gives back most of it: \(afterFree) -> \(afterTrim) MB")
    }
}
