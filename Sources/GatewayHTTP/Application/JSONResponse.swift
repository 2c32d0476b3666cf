import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// JSON responses with snake_case keys and ISO 8601 dates.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws
        -> Response
    {
        var headers = headers
        headers[.contentType] = "application/json"
        headers[.cacheControl] = headers[.cacheControl] ?? "no-store"
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func noContent() -> Response {
        Response(status: .noContent)
    }
}

extension Request {
    /// Decodes a JSON body of at most the context's upload size: 400 if malformed or of wrong types, 413 if too large.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: some RequestContext) async throws -> T {
        guard Self.isJSON(headers[.contentType]) else {
            throw GatewayError(.unsupportedMediaType, "The request body must be application/json.")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw GatewayError(.payloadTooLarge, "The request body is larger than \(context.maxUploadSize) bytes.")
        }
        guard buffer.readableBytes > 0 else { throw GatewayError.invalidRequest("A JSON body is required.") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw GatewayError.invalidRequest(Self.describe(error))
        } catch {
            throw GatewayError.invalidRequest("The request body is not valid JSON.")
        }
    }

    /// `application/json` or a `+json` type, with any parameters (`; charset=utf-8`).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType =
            contentType.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? ""
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "The field \(key.stringValue) is required."
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return context.codingPath.isEmpty
                ? "The request body must be a JSON object." : "The field \(path(context)) has the wrong type."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "The request body is not valid JSON." : "The field \(path(context)) is invalid."
        @unknown default: return "The request body is not valid JSON of the expected shape."
        }
    }
}
