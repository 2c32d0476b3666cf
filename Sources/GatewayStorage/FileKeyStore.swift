import Crypto
import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The key ring as files under `keys.directory`: one PKCS#8 PEM per key (`<kid>.pem`, mode 0600) and
/// `keyring.json` with the metadata.
///
/// Every write is atomic (temp file, fsync, rename, fsync of the directory) and ordered so that a crash at any
/// point leaves a valid ring: new key files are written before the metadata that names them, and old key files are
/// removed only after the metadata no longer names them. Writers, the server and the `keys` CLI alike, take an
/// exclusive `flock` on `.lock`; the server notices another writer's change by the metadata revision.
public struct FileKeyStore: KeyStore {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public var location: String { directory }
    var metadataPath: String { path("keyring.json") }
    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    struct Metadata: Codable {
        var version: Int
        var keys: [KeyRecord]
    }

    public func load() async throws -> StoredKeyRing? {
        try prepareDirectory()
        return try read()
    }

    public func update(_ transform: (KeyRingState?) throws -> KeyRingState?) async throws -> StoredKeyRing {
        try prepareDirectory()
        let lock = try FileLock(path: path(".lock"))
        defer { lock.release() }
        let current = try read()
        guard let updated = try transform(current?.state) else {
            guard let current else { throw KeyRingError.inconsistent("the key store at \(directory) is empty") }
            return current
        }
        try KeyRingPolicy.validate(updated)
        let existing = Set(current?.state.records.map(\.kid) ?? [])
        for record in updated.records where !existing.contains(record.kid) {
            guard let key = updated.keys[record.kid] else { throw KeyRingError.missingKey(record.kid) }
            try writeAtomically(Array(key.pem.utf8), to: try keyPath(record.kid))
        }
        let bytes = try encode(Metadata(version: 1, keys: updated.records))
        try writeAtomically(bytes, to: metadataPath)
        let kept = Set(updated.records.map(\.kid))
        for kid in existing where !kept.contains(kid) {
            unlink(try keyPath(kid))
        }
        return StoredKeyRing(state: updated, revision: Self.revision(of: bytes))
    }

    public func revision() async throws -> String {
        guard let bytes = FileManager.default.contents(atPath: metadataPath) else { return "empty" }
        return Self.revision(of: Array(bytes))
    }

    // MARK: - Reading

    func read() throws -> StoredKeyRing? {
        guard let data = FileManager.default.contents(atPath: metadataPath) else {
            let strays =
                (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".pem") } ?? []
            if !strays.isEmpty {
                throw KeyRingError.storage(
                    file: metadataPath,
                    problem:
                        "is missing but key files are present (\(strays.sorted().joined(separator: ", "))); refusing to start a new key ring. Restore keyring.json or move the key files away"
                )
            }
            return nil
        }
        let metadata: Metadata
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            metadata = try decoder.decode(Metadata.self, from: data)
        } catch {
            throw KeyRingError.storage(
                file: metadataPath, problem: "is not valid key ring metadata (corrupt or truncated JSON)")
        }
        guard metadata.version == 1 else {
            throw KeyRingError.storage(file: metadataPath, problem: "has unsupported version \(metadata.version)")
        }
        var keys: [String: SigningKey] = [:]
        for record in metadata.keys {
            let file = try keyPath(record.kid)
            var info = stat()
            guard stat(file, &info) == 0 else {
                throw KeyRingError.storage(
                    file: file,
                    problem:
                        "is named by keyring.json (kid \(record.kid), \(record.status.rawValue)) but does not exist")
            }
            let mode = info.st_mode & 0o777
            guard mode & 0o077 == 0 else {
                throw KeyRingError.storage(
                    file: file, problem: "has mode \(String(mode, radix: 8)); private keys must be 0600 (chmod 600 it)")
            }
            guard let pem = FileManager.default.contents(atPath: file).flatMap({ String(data: $0, encoding: .utf8) })
            else {
                throw KeyRingError.storage(file: file, problem: "cannot be read")
            }
            do {
                keys[record.kid] = try SigningKey(kid: record.kid, pem: pem)
            } catch {
                throw KeyRingError.storage(
                    file: file, problem: "is not a valid RSA private key PEM (corrupt or truncated)")
            }
        }
        let state = KeyRingState(records: metadata.keys, keys: keys)
        do {
            try KeyRingPolicy.validate(state)
        } catch {
            throw KeyRingError.storage(file: metadataPath, problem: error.description)
        }
        return StoredKeyRing(state: state, revision: Self.revision(of: Array(data)))
    }

    func keyPath(_ kid: String) throws -> String {
        guard !kid.isEmpty, kid.utf8.count <= 128,
            kid.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x5F
            })
        else {
            throw KeyRingError.storage(file: metadataPath, problem: "names a key with an invalid kid")
        }
        return path("\(kid).pem")
    }

    func encode(_ metadata: Metadata) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(metadata)) + [0x0A]
    }

    static func revision(of bytes: [UInt8]) -> String {
        SecretToken.hex(SHA256.hash(data: bytes))
    }

    // MARK: - Directory and atomic writes

    /// Creates the directory (mode 0700) when missing; refuses one that others can write or we cannot.
    func prepareDirectory() throws {
        var info = stat()
        if stat(directory, &info) != 0 {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw KeyRingError.storage(file: directory, problem: "keys.directory cannot be created")
            }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw KeyRingError.storage(file: directory, problem: "keys.directory is not a directory")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o022 == 0 else {
            throw KeyRingError.storage(
                file: directory,
                problem:
                    "keys.directory has mode \(String(mode, radix: 8)) and is writable by group or others; chmod 700 it"
            )
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw KeyRingError.storage(file: directory, problem: "keys.directory is not writable")
        }
    }

    func writeAtomically(_ bytes: [UInt8], to target: String) throws {
        let temporary = target + ".tmp-\(UInt32.random(in: .min ... .max))"
        let fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KeyRingError.storage(file: temporary, problem: "cannot be created (errno \(errno))")
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                close(fd)
                unlink(temporary)
                throw KeyRingError.storage(file: temporary, problem: "write failed (errno \(errno))")
            }
            written += result
        }
        guard fsync(fd) == 0 else {
            close(fd)
            unlink(temporary)
            throw KeyRingError.storage(file: temporary, problem: "fsync failed (errno \(errno))")
        }
        close(fd)
        guard rename(temporary, target) == 0 else {
            unlink(temporary)
            throw KeyRingError.storage(file: target, problem: "rename failed (errno \(errno))")
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}

/// An exclusive advisory lock on a file, held until ``release()``.
struct FileLock {
    let fd: Int32

    init(path: String) throws {
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KeyRingError.storage(file: path, problem: "cannot open the lock file (errno \(errno))")
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            close(fd)
            throw KeyRingError.storage(file: path, problem: "cannot take the lock (errno \(errno))")
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
