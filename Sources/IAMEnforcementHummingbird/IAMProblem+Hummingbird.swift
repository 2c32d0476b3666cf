import HTTPTypes
import Hummingbird
import IAMEnforcement
import NIOCore

extension IAMProblem {
    /// The HTTP answer: problem JSON, `Cache-Control: no-store`, and on a 401 the bearer challenge.
    public func response() -> Response {
        let (headers, body) = parts()
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
    }

    /// The headers and body of ``response()``, for writers that set the status themselves.
    public func parts() -> (HTTPFields, ByteBuffer) {
        var fields = HTTPFields()
        for header in headers {
            if let name = HTTPField.Name(header.name) {
                fields.append(HTTPField(name: name, value: header.value))
            }
        }
        return (fields, ByteBuffer(bytes: body))
    }
}
