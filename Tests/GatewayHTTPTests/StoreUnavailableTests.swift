import Foundation
import GatewayCore
import GatewayStorage
import HTTPTypes
import Hummingbird
import Testing

@testable import GatewayHTTP

/// A store that cannot be reached answers 503 problem+json, never 500 or a hang.
@Suite struct StoreUnavailableTests {
    @Test func storeErrorsMapTo503ProblemJSON() throws {
        let problem = GatewayError.from(
            StoreError.unavailable("postgres://gateway@127.0.0.1:5432/iam is unavailable: connection refused"))
        #expect(problem.code == .unavailable)
        #expect(!problem.detail.contains("postgres://"), "the detail shown to clients names no internals")
        let response = problem.problemResponse()
        #expect(response.status == .serviceUnavailable)
        #expect(response.headers[.contentType] == "application/problem+json")
    }
}
