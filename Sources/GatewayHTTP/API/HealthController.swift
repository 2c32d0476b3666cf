import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `GET /v1/health` (the process answers) and `GET /v1/ready` (the store answers and a signing key is loaded). The
/// readiness answer names each dependency's state in `checks`, also in its 503 problem, so an operator sees which
/// one is not ready (SPEC 10).
struct HealthController<Context: RequestContext> {
    let store: any GatewayStore
    let keyRing: KeyRingManager
    var metrics: GatewayMetrics = .disabled

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/health") { _, _ -> Response in
            Self.json(#"{"status":"ok"}"#, status: .ok)
        }
        router.get("/v1/ready") { _, context -> Response in
            var storeReady = true
            do {
                try await store.ping()
            } catch {
                storeReady = false
                metrics.storeError()
                context.logger.warning("readiness: store does not answer", metadata: ["store": "\(store.description)"])
            }
            let snapshot = keyRing.snapshot
            let kid = snapshot.active.kid
            let keyReady = snapshot.records.contains { $0.kid == kid && $0.status == .active }
            let checks =
                #"{"key_ring":"\#(keyReady ? "ok" : "no_active_key")","store":"\#(storeReady ? "ok" : "unavailable")"}"#
            guard storeReady, keyReady else {
                let detail = storeReady ? "The key ring has no active signing key." : "The store does not answer."
                let body =
                    #"{"checks":\#(checks),"code":"unavailable","detail":"\#(detail)","status":503,"title":"Service unavailable","type":"urn:iam-gateway:problem:unavailable"}"#
                return Response(
                    status: .serviceUnavailable,
                    headers: [.contentType: "application/problem+json", .cacheControl: "no-store", .retryAfter: "1"],
                    body: .init(byteBuffer: ByteBuffer(string: body))
                )
            }
            return Self.json(#"{"status":"ready","active_kid":"\#(kid)","checks":\#(checks)}"#, status: .ok)
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
