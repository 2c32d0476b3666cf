import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GatewayHTTP

/// The console's files (SPEC 9): served from the bundle with a strict CSP and ETags; pages are the application;
/// nothing in them may run inline script or write HTML from data.
@Suite struct ConsoleTests {
    static let csp = HTTPField.Name("Content-Security-Policy")!

    @Test func pagesAreTheApplicationAndFilesHaveTypesAndStrictPolicy() async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        let index = try #require(StaticAssets.console().files["index.html"])
        try await gateway.application().test(.router) { client in
            for path in ["/console", "/console/", "/console/users", "/console/callback", "/console/keys/"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(response.headers[.eTag] == index.etag)
                    #expect(response.body == index.body)
                    let policy = try #require(response.headers[Self.csp])
                    #expect(
                        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'")
                            && policy.contains("base-uri 'none'"))
                    #expect(!policy.contains("unsafe"))
                    #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                }
            }
            for (file, type) in try Self.bundledFiles() where file.hasSuffix(".js") || file.hasSuffix(".css") {
                try await client.execute(uri: "/console/\(file)", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == type)
                    #expect(response.headers[Self.csp] != nil)
                }
            }
        }
    }

    @Test func revalidationAnswers304AndUnknownFilesAre404Problems() async throws {
        let gateway = try await TestGateway.make()
        defer { Task { await gateway.cleanUp() } }
        let index = try #require(StaticAssets.console().files["index.html"])
        try await gateway.application().test(.router) { client in
            try await client.execute(
                uri: "/console/", method: .get, headers: [.ifNoneMatch: "\"other\", \(index.etag)"]
            ) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.eTag] == index.etag)
            }
            try await client.execute(uri: "/console/", method: .get, headers: [.ifNoneMatch: "\"stale\""]) { response in
                #expect(response.status == .ok)
            }
            for path in [
                "/console/assets/missing.js", "/console/../Package.swift", "/console/%2e%2e/Package.swift",
                "/console/index.html.bak",
            ] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status.code >= 400 && response.status.code < 500, "\(path)")
                    #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                }
            }
            try await client.execute(uri: "/console/", method: .post) { response in
                #expect(response.status == .methodNotAllowed || response.status == .notFound)
            }
        }
    }

    /// The CSP forbids inline script; these checks keep the files honest before a browser would: every script is a
    /// module file, no inline handler or style attribute, and no script writes HTML (data is shown as text only).
    @Test func filesRunNoInlineScriptAndWriteNoHTML() throws {
        let files = try Self.bundledFiles()
        #expect(files.keys.contains("index.html"))
        let assets = StaticAssets.console()
        for (file, _) in files {
            let text = try #require(assets.files[file].map { String(buffer: $0.body) })
            if file.hasSuffix(".html") {
                for script in text.ranges(of: "<script").map({ text[$0.lowerBound...].prefix(while: { $0 != ">" }) }) {
                    #expect(script.contains("src="), "inline script in \(file)")
                }
                #expect(
                    text.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil, "inline handler in \(file)")
                #expect(!text.contains(" style="), "style attribute in \(file)")
            }
            if file.hasSuffix(".js") {
                // Comments may name what the code avoids.
                let code = text.replacing(#/\/\*[\s\S]*?\*\//#, with: "").replacing(#/(^|[^:])\/\/[^\n]*/#, with: "")
                for sink in [
                    "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                    "localStorage",
                ] {
                    #expect(!code.contains(sink), "\(file) uses \(sink)")
                }
            }
        }
    }

    @Test func routesMayNotTakeTheConsoleOrOAuthPrefixes() {
        for prefix in ["/console", "/oauth", "/console/x"] {
            let yaml = """
                routes:
                  - name: x
                    prefix: \(prefix)
                    upstream: http://127.0.0.1:9
                    audience: x
                """
            #expect(throws: ConfigurationError.self, "\(prefix)") { _ = try GatewayConfiguration.parse(yaml: yaml) }
        }
    }

    static func bundledFiles() throws -> [String: String] {
        StaticAssets.console().files.mapValues(\.contentType)
    }
}
