import Foundation
import IAMEnforcement
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct PermissionRegistrarTests {
    static func registrar(_ baseURL: String, timeout: Duration = .seconds(5), log: LogRecorder = LogRecorder())
        -> PermissionRegistrar
    {
        PermissionRegistrar(
            configuration: .init(
                gatewayURL: baseURL, apiKey: "key_secret", service: "connections-service",
                permissions: ["connections.read", "connections.create"],
                labels: ["connections.read": "Read connections", "connections.create": "Create connections"],
                initialBackoff: .milliseconds(5), maximumBackoff: .milliseconds(20), timeout: timeout
            ),
            logger: log.logger())
    }

    @Test func retriesWhileTheGatewayAnswers5xxThenStops() async throws {
        let gateway = FakeGateway()
        gateway.setRegisterStatuses([503, 500, 429])
        try await gateway.run { baseURL in
            #expect(await Self.registrar(baseURL).registerUntilDone() == .registered)
            let requests = gateway.requests.filter { $0.path == "/v1/permissions/register" }
            #expect(requests.count == 4)
            #expect(requests.allSatisfy { $0.authorization == "ApiKey key_secret" })
            let body = try #require(requests.first?.body)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(json["service"] as? String == "connections-service")
            #expect(json["permissions"] as? [String] == ["connections.read", "connections.create"])
            #expect((json["labels"] as? [String: String])?["connections.create"] == "Create connections")
        }
    }

    @Test func stopsOnA4xx() async throws {
        let gateway = FakeGateway()
        gateway.setRegisterStatuses([409])
        try await gateway.run { baseURL in
            #expect(await Self.registrar(baseURL).registerUntilDone() == .rejected(status: 409))
            #expect(gateway.requests.count == 1)
        }
    }

    @Test(.timeLimit(.minutes(1))) func keepsTryingWhileTheGatewayIsDownUntilCancelled() async throws {
        let baseURL = try await FakeGateway().run { $0 }
        let log = LogRecorder()
        let registrar = Self.registrar(baseURL, timeout: .milliseconds(200), log: log)
        // AsyncHTTPClient retries a refused connection until the deadline, so "down" may read as a timeout.
        let outcome = await registrar.registerOnce()
        #expect(outcome == .failed(.unreachable) || outcome == .failed(.timedOut))
        let task = Task { await registrar.registerUntilDone() }
        // Cancelled once its first attempt has failed and it has decided to retry.
        await log.waitFor("permission registration failed; retrying")
        task.cancel()
        #expect(await task.value == .cancelled)
    }

    @Test(.timeLimit(.minutes(1))) func asAServiceItDoesNotEndTheGroup() async throws {
        let gateway = FakeGateway()
        gateway.setRegisterStatuses([502])
        try await gateway.run { baseURL in
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let log = LogRecorder()
            let group = ServiceGroup(services: [Self.registrar(baseURL, log: log)], logger: logger)
            let groupEnded = Flag()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await group.run()
                    groupEnded.set()
                }
                await log.waitFor("permissions registered")
                // Registered; the service waits for shutdown instead of ending the group. Staying up for a while is
                // the behaviour under test, so this one pause of real time stays.
                try await Task.sleep(for: .milliseconds(100))
                #expect(gateway.requests.count == 2)
                #expect(!groupEnded.isSet)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }
}

/// A flag set from one task and read from another.
final class Flag: Sendable {
    private let value = Mutex(false)

    var isSet: Bool { value.withLock { $0 } }

    func set() {
        value.withLock { $0 = true }
    }
}
