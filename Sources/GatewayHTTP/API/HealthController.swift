import Logging
import GatewayCore
import Hummingbird
import NIOCore

/// `GET /v1/health` (the process answers) and `GET /v1/ready` (the store answers and a signing key is loaded).
struct HealthController<Context: RequestContext> {
    let store: any GatewayStore
    let keyRing: KeyRingManager

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/health") { _, _ -> Response in
            Self.json(#"{"status":"ok"}"#, status: .ok)
        }
        router.get("/v1/ready") { _, context -> Response in
            do {
                try await store.ping()
            } catch {
                context.logger.warning("readiness: store does not answer", metadata: ["store": "\(store.description)"])
                throw GatewayError.unavailable("The store does not answer.")
            }
            let kid = keyRing.snapshot.active.kid
            return Self.json(#"{"status":"ready","active_kid":"\#(kid)"}"#, status: .ok)
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
