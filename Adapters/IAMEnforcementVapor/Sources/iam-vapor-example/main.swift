import Foundation
import IAMVaporExample
import Vapor

// iam-vapor-example: the demo downstream service on Vapor.
//   IAM_GATEWAY_URL=http://127.0.0.1:8080 IAM_AUDIENCE=connections swift run iam-vapor-example serve --port 9002
// IAM_ISSUER defaults to the gateway URL. Vapor's own arguments (serve --hostname --port) apply.
guard let gatewayURL = Environment.get("IAM_GATEWAY_URL"), let audience = Environment.get("IAM_AUDIENCE") else {
    FileHandle.standardError.write(
        Data(
            "iam-vapor-example: set IAM_GATEWAY_URL (the gateway's base URL) and IAM_AUDIENCE (this service's audience)\n"
                .utf8))
    exit(2)
}
var environment = try Environment.detect()
try LoggingSystem.bootstrap(from: &environment)
let app = try await Application.make(environment)
do {
    let authenticator = ExampleService.authenticator(
        gatewayURL: gatewayURL, audience: audience, issuer: Environment.get("IAM_ISSUER"))
    ExampleService.routes(app, authenticator: authenticator)
    try await app.execute()
} catch {
    app.logger.report(error: error)
    try? await app.asyncShutdown()
    exit(1)
}
try await app.asyncShutdown()
