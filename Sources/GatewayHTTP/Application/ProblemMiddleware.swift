import GatewayCore
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error below it, the router's 404 included, into an `application/problem+json` answer. Unexpected
/// errors are logged with the request id and answered as a plain 500 that says nothing of their content.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    var metrics: GatewayMetrics = .disabled

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let problem = GatewayError.from(error)
            if error is StoreError { metrics.storeError() }
            if problem.code == .internal {
                context.logger.error(
                    "request failed",
                    metadata: ["error_type": "\(String(reflecting: type(of: error)))", "path": "\(request.uri.path)"])
            }
            return problem.problemResponse()
        }
    }
}
