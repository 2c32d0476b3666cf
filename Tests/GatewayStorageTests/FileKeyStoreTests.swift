import CryptoExtras
import Foundation
import GatewayCore
import GatewayStorage
import IAMEnforcement
import Logging
import Testing

/// The file key store under real files: atomic layout, permissions, restart, corruption, and a second writer.
@Suite struct FileKeyStoreTests {
    static func configuration(_ directory: String) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.keys.directory = directory
        configuration.keys.rotationInterval = 0
        return configuration
    }

    static func open(_ directory: String, clock: any GatewayClock = ManualClock()) async throws -> KeyRingManager {
        try await KeyRingManager.open(
            store: FileKeyStore(directory: directory), configuration: configuration(directory), clock: clock,
            logger: Logger(label: "test"))
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func expectStartupError(
        _ directory: String, naming file: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            _ = try await Self.open(directory)
            Issue.record("opened a broken key store", sourceLocation: sourceLocation)
        } catch let error as KeyRingError {
            guard case .storage(let named, let problem) = error else {
                Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(named == file, sourceLocation: sourceLocation)
            #expect(problem.contains(fragment), "\(problem)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func emptyDirectoryGetsActiveAndNextWithPrivateFiles() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let keys = temp.appending("Keys")
        let manager = try await Self.open(keys)
        #expect(try mode(keys) == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: keys).filter { !$0.hasPrefix(".") }.sorted()
        let kids = manager.snapshot.records.map(\.kid)
        #expect(files == (kids.map { "\($0).pem" } + ["keyring.json"]).sorted())
        for kid in kids {
            #expect(try mode((keys as NSString).appendingPathComponent("\(kid).pem")) == 0o600)
        }
        #expect(try mode((keys as NSString).appendingPathComponent("keyring.json")) == 0o600)
    }

    @Test func pemRoundTripAndRestartKeepTheSameKeys() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let first = try await Self.open(temp.path)
        try await first.rotate(force: true)
        let reopened = try await Self.open(temp.path)
        #expect(reopened.snapshot.records == first.snapshot.records)
        #expect(reopened.snapshot.jwks == first.snapshot.jwks)
        #expect(
            reopened.snapshot.active.privateKey.derRepresentation == first.snapshot.active.privateKey.derRepresentation)
        #expect(reopened.snapshot.jwksJSON == first.snapshot.jwksJSON)
    }

    @Test func revokedAndRetiredKeyFilesAreRemoved() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let clock = ManualClock()
        let manager = try await Self.open(temp.path, clock: clock)
        let first = manager.snapshot.active.kid
        try await manager.rotate(force: true)
        #expect(FileManager.default.fileExists(atPath: temp.appending("\(first).pem")))
        clock.advance(by: Double(GatewayConfiguration().tokens.keyRetention))
        try await manager.maintain()
        #expect(!FileManager.default.fileExists(atPath: temp.appending("\(first).pem")))
        let active = manager.snapshot.active.kid
        try await manager.revoke(kid: active)
        #expect(!FileManager.default.fileExists(atPath: temp.appending("\(active).pem")))
        #expect(try await Self.open(temp.path).snapshot.publicKeys[active] == nil)
    }

    @Test func secondProcessRotationIsPickedUp() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let server = try await Self.open(temp.path)
        let cli = try await Self.open(temp.path)
        let (active, previous) = try await cli.rotate(force: true)
        #expect(previous == server.snapshot.active.kid)
        try await server.maintain()
        #expect(server.snapshot.active.kid == active)
        // The server's own rotation after that builds on the CLI's ring, not on its stale copy.
        let (serverActive, serverPrevious) = try await server.rotate(force: true)
        #expect(serverPrevious == active)
        try await cli.maintain()
        #expect(cli.snapshot.active.kid == serverActive)
        #expect(cli.snapshot.records.filter { $0.status == .retiring }.count == 2)
    }

    @Test(.timeLimit(.minutes(1))) func runningServiceSeesCLIRotationWithinSeconds() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let server = try await KeyRingManager.open(
            store: FileKeyStore(directory: temp.path), configuration: Self.configuration(temp.path),
            clock: SystemClock(),
            logger: Logger(label: "test"), pollInterval: .milliseconds(200)
        )
        let (installed, install) = AsyncStream.makeStream(of: String.self)
        server.onSnapshot { install.yield($0.active.kid) }
        let cli = try await Self.open(temp.path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let started = ContinuousClock.now
            let (active, _) = try await cli.rotate(force: true)
            // The server's poll loop installs the CLI's ring: wait for that snapshot.
            var seen = false
            for await kid in installed where kid == active {
                seen = true
                break
            }
            #expect(seen)
            #expect(server.snapshot.active.kid == active)
            #expect(ContinuousClock.now - started < .seconds(5), "picked up within a few poll intervals")
            group.cancelAll()
        }
    }

    @Test func orphanKeyFileFromACrashIsIgnored() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let manager = try await Self.open(temp.path)
        // A crash between writing a new key file and the metadata leaves a file the metadata does not name.
        let orphan = try SigningKey.generate(bits: 2048)
        _ = FileManager.default.createFile(
            atPath: temp.appending("\(orphan.kid).pem"), contents: Data(orphan.pem.utf8),
            attributes: [.posixPermissions: 0o600])
        _ = FileManager.default.createFile(
            atPath: temp.appending("keyring.json.tmp-123"), contents: Data("{".utf8),
            attributes: [.posixPermissions: 0o600])
        let reopened = try await Self.open(temp.path)
        #expect(reopened.snapshot.records == manager.snapshot.records)
        #expect(reopened.snapshot.publicKeys[orphan.kid] == nil)
    }

    @Test func corruptPEMNamesTheFile() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let kid = try await Self.open(temp.path).snapshot.active.kid
        let file = temp.appending("\(kid).pem")
        let pem = try String(contentsOfFile: file, encoding: .utf8)
        try String(pem.prefix(pem.count / 2)).write(toFile: file, atomically: false, encoding: .utf8)
        await expectStartupError(temp.path, naming: file, "not a valid RSA private key PEM")
        let before = try FileManager.default.contentsOfDirectory(atPath: temp.path).sorted()
        await expectStartupError(temp.path, naming: file, "not a valid RSA private key PEM")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: temp.path).sorted() == before, "no new ring was created"
        )
    }

    @Test func truncatedMetadataNamesTheFile() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        _ = try await Self.open(temp.path)
        let metadata = temp.appending("keyring.json")
        let text = try String(contentsOfFile: metadata, encoding: .utf8)
        try String(text.prefix(40)).write(toFile: metadata, atomically: false, encoding: .utf8)
        await expectStartupError(temp.path, naming: metadata, "corrupt or truncated")
    }

    @Test func metadataNamingAMissingKeyNamesTheFile() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let next = try #require(try await Self.open(temp.path).snapshot.records.first { $0.status == .next }).kid
        try FileManager.default.removeItem(atPath: temp.appending("\(next).pem"))
        await expectStartupError(temp.path, naming: temp.appending("\(next).pem"), "does not exist")
    }

    @Test func twoActiveKeysAreRefused() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        _ = try await Self.open(temp.path)
        let metadata = temp.appending("keyring.json")
        let text = try String(contentsOfFile: metadata, encoding: .utf8)
        try text.replacingOccurrences(of: "\"next\"", with: "\"active\"").write(
            toFile: metadata, atomically: false, encoding: .utf8)
        await expectStartupError(temp.path, naming: metadata, "2 keys claim to be active")
    }

    @Test func keyFileReadableByOthersIsRefused() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let kid = try await Self.open(temp.path).snapshot.active.kid
        let file = temp.appending("\(kid).pem")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        await expectStartupError(temp.path, naming: file, "must be 0600")
    }

    @Test func directoryWritableByOthersIsRefused() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: temp.path)
        await expectStartupError(temp.path, naming: temp.path, "writable by group or others")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).isEmpty)
    }

    @Test func keyFilesWithoutMetadataAreNotReplacedByANewRing() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let kid = try await Self.open(temp.path).snapshot.active.kid
        try FileManager.default.removeItem(atPath: temp.appending("keyring.json"))
        await expectStartupError(temp.path, naming: temp.appending("keyring.json"), "refusing to start a new key ring")
        #expect(FileManager.default.fileExists(atPath: temp.appending("\(kid).pem")))
    }

    @Test func pathThatIsAFileIsRefused() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let file = temp.appending("not-a-dir")
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        await expectStartupError(file, naming: file, "not a directory")
    }
}
