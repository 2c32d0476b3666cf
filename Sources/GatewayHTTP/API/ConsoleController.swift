import Crypto
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Files shipped in a resource folder of this module (the admin console, the OpenAPI document), read once at
/// start-up. Each file is kept in memory with its media type and a strong `ETag` (its SHA-256), so a client
/// revalidates with `If-None-Match` and gets a 304 for an unchanged file.
struct StaticAssets: Sendable {
    struct Asset: Sendable {
        var body: ByteBuffer
        var contentType: String
        var etag: String
    }

    /// Files by their path below `/console/` (`index.html`, `assets/app.js`, ...).
    let files: [String: Asset]

    static let mediaTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "json": "application/json",
        "txt": "text/plain; charset=utf-8",
    ]

    /// The files below `directory`; files of an unknown type are not served.
    init(directory: URL) {
        var files: [String: Asset] = [:]
        let root = directory.standardizedFileURL.resolvingSymlinksInPath()
        let keys: [URLResourceKey] = [.isRegularFileKey]
        let enumerator = FileManager.default.enumerator(
            at: root, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles])
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: Set(keys)).isRegularFile) == true,
                let type = Self.mediaTypes[url.pathExtension.lowercased()], let data = try? Data(contentsOf: url)
            else { continue }
            let path = url.standardizedFileURL.resolvingSymlinksInPath().path
            guard path.hasPrefix(root.path + "/") else { continue }
            let relative = String(path.dropFirst(root.path.count + 1))
            let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            files[relative] = Asset(body: ByteBuffer(bytes: data), contentType: type, etag: "\"\(digest.prefix(32))\"")
        }
        self.files = files
    }

    /// A resource folder of this module (`Console`, `OpenAPI`); empty when the gateway was installed without it.
    static func bundled(_ folder: String) -> StaticAssets {
        guard let url = Bundle.module.url(forResource: folder, withExtension: nil) else {
            return StaticAssets(files: [:])
        }
        return StaticAssets(directory: url)
    }

    /// The admin console's files (SPEC 9): plain HTML, CSS and JavaScript modules, no build step.
    static func console() -> StaticAssets { bundled("Console") }

    init(files: [String: Asset]) { self.files = files }

    /// True when an `If-None-Match` value names `etag` (or is `*`).
    static func matches(_ ifNoneMatch: String, etag: String) -> Bool {
        ifNoneMatch.split(separator: ",").contains { tag in
            let tag = tag.trimmingCharacters(in: .whitespaces)
            return tag == etag || tag == "*"
        }
    }
}

/// `GET /console/...`: the admin console (SPEC 9). It is a client of the public API like any other (client
/// `console`, authorization code + PKCE), so these routes serve only static files. Paths without a file extension
/// are the console's own pages and all get `index.html`, whose script reads the path. Every answer carries a strict
/// Content-Security-Policy: scripts, styles and connections to this origin only, no inline script, no framing.
struct ConsoleController<Context: RequestContext> {
    let assets: StaticAssets

    static var securityHeaders: HTTPFields {
        [
            HTTPField.Name("Content-Security-Policy")!:
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            HTTPField.Name("X-Frame-Options")!: "DENY",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Cross-Origin-Opener-Policy")!: "same-origin",
        ]
    }

    func addRoutes(to router: Router<Context>) {
        // Hummingbird's router treats `/console` and `/console/` as one path.
        router.get("/console") { request, _ -> Response in
            try serve("index.html", for: request)
        }
        router.get("/console/**") { request, context -> Response in
            let path = context.parameters.getCatchAll().joined(separator: "/")
            if assets.files[path] != nil { return try serve(path, for: request) }
            // A page of the console (no extension) is the application; a missing file is a 404.
            guard let last = path.split(separator: "/").last, !last.contains(".") else {
                throw GatewayError.notFound("The console has no file \(path.prefix(100)).")
            }
            return try serve("index.html", for: request)
        }
    }

    /// The file, or 304 when the request's `If-None-Match` names its ETag. `no-cache`: the browser may keep it but
    /// asks each time, so a new gateway version is picked up at once.
    func serve(_ path: String, for request: Request) throws -> Response {
        guard let asset = assets.files[path] else {
            throw GatewayError.notFound("The console is not installed with this gateway.")
        }
        var headers = Self.securityHeaders
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        if let tags = request.headers[.ifNoneMatch], StaticAssets.matches(tags, etag: asset.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }
}
