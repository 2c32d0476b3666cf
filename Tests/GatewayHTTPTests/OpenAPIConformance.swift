import Foundation
import HTTPTypes
import NIOCore

@testable import GatewayHTTP

/// Checks a response of the gateway's own API against the OpenAPI document it serves: the status is one the operation
/// documents, a body comes in a media type documented for that status, and a JSON body matches the schema. Every
/// `send` of the tests goes through it, so each test's responses keep the document true (issue 17); requests to paths
/// or methods the document does not list (proxied routes, 404 and 405 probes) are not checked here: the router's
/// coverage is `OpenAPITests`'.
///
/// The schema keywords checked are those the document uses: `$ref`, `allOf`, `oneOf`, `anyOf`, `type`, `const`,
/// `enum`, `properties`, `required`, `items`, `pattern`, `minimum` and `maximum` (`format` is not asserted).
enum OpenAPIConformance {
    /// A JSON value that keeps booleans, integers and other numbers apart (as JSON Schema's types do).
    indirect enum JSON: Decodable, Equatable {
        case null
        case bool(Bool)
        case integer(Int64)
        case number(Double)
        case string(String)
        case array([JSON])
        case object([String: JSON])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int64.self) {
                self = .integer(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode([JSON].self) {
                self = .array(value)
            } else {
                self = .object(try container.decode([String: JSON].self))
            }
        }

        /// The same value from JSONSerialization's representation (the document's `const` and `enum` members).
        init?(_ any: Any) {
            guard let data = try? JSONSerialization.data(withJSONObject: [any]),
                case .array(let values)? = try? JSONDecoder().decode(JSON.self, from: data), let first = values.first
            else { return nil }
            self = first
        }

        var typeNames: Set<String> {
            switch self {
            case .null: ["null"]
            case .bool: ["boolean"]
            case .integer: ["integer", "number"]
            case .number(let value): value.rounded() == value ? ["integer", "number"] : ["number"]
            case .string: ["string"]
            case .array: ["array"]
            case .object: ["object"]
            }
        }
    }

    struct Operation {
        var segments: [String]
        var responses: [String: Any]
    }

    // Read once and never mutated (JSONSerialization's values are not Sendable).
    nonisolated(unsafe) static let document: [String: Any] = {
        guard let asset = OpenAPIController<GatewayRequestContext>.bundled(),
            let object = try? JSONSerialization.jsonObject(with: Data(asset.body.readableBytesView)) as? [String: Any]
        else { fatalError("the bundled OpenAPI document does not load") }
        return object
    }()

    /// Operations by method, literal paths before templated ones.
    nonisolated(unsafe) static let operations: [String: [Operation]] = {
        var result: [String: [Operation]] = [:]
        for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for (method, value) in item {
                guard let operation = value as? [String: Any], let responses = operation["responses"] as? [String: Any]
                else { continue }
                let segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                result[method.uppercased(), default: []].append(Operation(segments: segments, responses: responses))
            }
        }
        for method in result.keys {
            result[method]?.sort {
                $0.segments.filter { $0.hasPrefix("{") }.count < $1.segments.filter { $0.hasPrefix("{") }.count
            }
        }
        return result
    }()

    static func operation(_ method: HTTPRequest.Method, path: String) -> Operation? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        return operations[method.rawValue]?.first { operation in
            // `/console/{path}` is the console's catch-all: any depth below /console.
            if operation.segments.last == "{path}", segments.count >= operation.segments.count,
                zip(operation.segments.dropLast(), segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 })
            {
                return true
            }
            guard operation.segments.count == segments.count else { return false }
            return zip(operation.segments, segments).allSatisfy { template, segment in
                template.hasPrefix("{") ? !segment.isEmpty : template == segment
            }
        }
    }

    /// What does not conform, in words; empty when the response conforms or the operation is not documented.
    static func problems(
        method: HTTPRequest.Method, uri: String, status: HTTPResponse.Status, headers: HTTPFields, body: Data
    ) -> [String] {
        let path = String(uri.prefix { $0 != "?" })
        guard let operation = operation(method, path: path) else { return [] }
        let name = "\(method.rawValue) \(path) -> \(status.code)"
        guard
            let documented = operation.responses[String(status.code)] ?? operation.responses["\(status.code / 100)XX"]
                ?? operation.responses["default"],
            let response = resolve(documented)
        else { return ["\(name): status not documented"] }
        guard !body.isEmpty, method != .head, let content = response["content"] as? [String: Any] else { return [] }
        let mediaType = mediaTypeName(headers[.contentType] ?? "")
        guard let entry = content.first(where: { mediaTypeName($0.key) == mediaType })?.value as? [String: Any] else {
            return ["\(name): media type '\(mediaType)' not documented (\(content.keys.sorted()))"]
        }
        guard mediaType.hasSuffix("json"), let schema = entry["schema"] as? [String: Any] else { return [] }
        guard let value = try? JSONDecoder().decode(JSON.self, from: body) else {
            return ["\(name): the body is not JSON"]
        }
        var errors: [String] = []
        validate(value, schema, at: "$", &errors)
        return errors.map { "\(name): \($0)" }
    }

    static func mediaTypeName(_ text: String) -> String {
        text.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// A `$ref` to `#/components/...` followed (to any depth).
    static func resolve(_ value: Any) -> [String: Any]? {
        guard var object = value as? [String: Any] else { return nil }
        var depth = 0
        while let reference = object["$ref"] as? String, depth < 16 {
            guard reference.hasPrefix("#/") else { return nil }
            var target: Any = document
            for key in reference.dropFirst(2).split(separator: "/") {
                guard let next = (target as? [String: Any])?[String(key)] else { return nil }
                target = next
            }
            guard var resolved = target as? [String: Any] else { return nil }
            // Siblings of $ref (OpenAPI 3.1) apply too.
            for (key, sibling) in object where key != "$ref" { resolved[key] = sibling }
            object = resolved
            depth += 1
        }
        return object
    }

    static func checkRange(_ number: Double, _ schema: [String: Any], at location: String, _ errors: inout [String]) {
        if let minimum = (schema["minimum"] as? NSNumber)?.doubleValue, number < minimum {
            errors.append("\(location): \(number) is below \(minimum)")
        }
        if let maximum = (schema["maximum"] as? NSNumber)?.doubleValue, number > maximum {
            errors.append("\(location): \(number) is above \(maximum)")
        }
    }

    static func validate(_ value: JSON, _ schemaValue: Any, at location: String, _ errors: inout [String]) {
        guard let schema = resolve(schemaValue) else {
            errors.append("\(location): unresolvable schema")
            return
        }
        for part in schema["allOf"] as? [Any] ?? [] { validate(value, part, at: location, &errors) }
        for keyword in ["oneOf", "anyOf"] {
            guard let options = schema[keyword] as? [Any] else { continue }
            let matching = options.filter { option in
                var optionErrors: [String] = []
                validate(value, option, at: location, &optionErrors)
                return optionErrors.isEmpty
            }.count
            if keyword == "oneOf" ? matching != 1 : matching == 0 {
                errors.append("\(location): \(matching) of the \(keyword) schemas match")
            }
        }
        if let type = schema["type"] {
            let allowed = Set((type as? [String]) ?? [type as? String].compactMap { $0 })
            if value.typeNames.isDisjoint(with: allowed) {
                errors.append("\(location): \(value) is not of type \(allowed.sorted())")
                return
            }
        }
        if let constant = schema["const"], JSON(constant) != value {
            errors.append("\(location): \(value) is not the constant \(constant)")
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { JSON($0) == value }) {
            errors.append("\(location): \(value) is not one of \(options)")
        }
        switch value {
        case .object(let members):
            for key in schema["required"] as? [String] ?? [] where members[key] == nil {
                errors.append("\(location): required member '\(key)' is missing")
            }
            for (key, property) in schema["properties"] as? [String: Any] ?? [:] {
                if let member = members[key] { validate(member, property, at: "\(location).\(key)", &errors) }
            }
        case .array(let elements):
            if let items = schema["items"] {
                for (index, element) in elements.enumerated() {
                    validate(element, items, at: "\(location)[\(index)]", &errors)
                }
            }
        case .string(let text):
            if let pattern = schema["pattern"] as? String,
                text.range(of: pattern, options: .regularExpression) == nil
            {
                errors.append("\(location): '\(text)' does not match \(pattern)")
            }
        case .integer(let number):
            checkRange(Double(number), schema, at: location, &errors)
        case .number(let number):
            checkRange(number, schema, at: location, &errors)
        case .null, .bool:
            break
        }
    }
}
