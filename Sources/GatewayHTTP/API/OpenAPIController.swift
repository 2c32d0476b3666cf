import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/openapi.json`: the API reference (OpenAPI 3.1), the same file as `docs/openapi.json`, bundled with the
/// gateway and read once. Public, like discovery: it describes the API, not anything of a tenant.
struct OpenAPIController<Context: RequestContext> {
    let document: StaticAssets.Asset?

    static func bundled() -> StaticAssets.Asset? {
        guard let url = Bundle.module.url(forResource: "OpenAPI", withExtension: nil) else { return nil }
        return StaticAssets(directory: url).files["openapi.json"]
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/openapi.json") { request, _ -> Response in
            guard let document else {
                throw GatewayError.notFound("The API document is not installed with this gateway.")
            }
            var headers: HTTPFields = [
                .contentType: "application/json", .cacheControl: "no-cache", .eTag: document.etag,
                .accessControlAllowOrigin: "*",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ]
            if let tags = request.headers[.ifNoneMatch], StaticAssets.matches(tags, etag: document.etag) {
                headers[.contentType] = nil
                return Response(status: .notModified, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: document.body))
        }
    }
}
