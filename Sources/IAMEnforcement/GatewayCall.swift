import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One HTTP exchange with the gateway: a timeout over the whole exchange (head and body) and a cap on the
/// body it reads.
struct GatewayCall: Sendable {
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    var client: HTTPClient
    var timeout: Duration
    var maximumResponseSize: Int

    /// Sends the request and reads the whole answer; any status is returned, failures to get one are thrown.
    func send(_ request: HTTPClientRequest) async throws(GatewayFetchError) -> Answer {
        let client = client
        let timeout = timeout
        let cap = maximumResponseSize
        let outcome: Result<Answer, GatewayFetchError> = await withTaskGroup(
            of: Result<Answer, GatewayFetchError>?.self
        ) { group in
            group.addTask {
                do {
                    let response = try await client.execute(request, timeout: timeout.timeAmount)
                    if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > cap {
                        return .failure(.tooLarge)
                    }
                    let body = try await response.body.collect(upTo: cap)
                    return .success(Answer(status: Int(response.status.code), headers: response.headers, body: body))
                } catch is NIOTooManyBytesError {
                    return .failure(.tooLarge)
                } catch let error as HTTPClientError
                    where error == .deadlineExceeded || error == .connectTimeout || error == .readTimeout
                {
                    return .failure(.timedOut)
                } catch {
                    return .failure(Task.isCancelled ? .timedOut : .unreachable)
                }
            }
            group.addTask {
                // Returns nil when cancelled because the exchange finished first.
                do { try await Task.sleep(for: timeout) } catch { return nil }
                return .failure(.timedOut)
            }
            var first: Result<Answer, GatewayFetchError> = .failure(.timedOut)
            while let next = await group.next() {
                if let next {
                    first = next
                    break
                }
            }
            group.cancelAll()
            return first
        }
        return try outcome.get()
    }

    /// `gateway` (with any trailing slashes dropped) followed by `path`.
    static func url(gateway: String, path: String) -> String {
        var base = gateway
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}
