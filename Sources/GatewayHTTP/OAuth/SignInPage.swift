import Crypto
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The server-rendered sign-in page of the authorization endpoint (SPEC 5.1), built by plain string building in
/// which every value from a request or the store goes through ``escape(_:)``. No script, no third-party asset; the
/// one style block is allowed by its hash in a strict Content-Security-Policy.
enum SignInPage {
    static let style =
        "body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}label{display:block;margin-top:.8rem}"
        + "input{display:block;width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:1.2rem;padding:.5rem 1.2rem}"
        + ".error{color:#a00;border:1px solid #a00;padding:.5rem}:focus{outline:3px solid #1a5fb4}"
    static let styleHash = "sha256-" + Data(SHA256.hash(data: Data(style.utf8))).base64EncodedString()

    /// HTML text escaping for element content and double-quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// The parameters of the authorization request, carried through the form as hidden fields.
    static let carried = [
        "response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope",
        "nonce",
    ]

    static func page(
        _ request: AuthorizationRequest, parameters: [String: String], csrf: String, error: String?, tenant: String?,
        workspace: String?, username: String?
    ) -> String {
        var hidden = ""
        for name in carried {
            if let value = parameters[name] {
                hidden += "<input type=\"hidden\" name=\"\(name)\" value=\"\(escape(value))\">\n"
            }
        }
        let errorBlock = error.map { "<p class=\"error\" role=\"alert\" id=\"error\">\(escape($0))</p>\n" } ?? ""
        let described = error == nil ? "" : " aria-describedby=\"error\""
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign in to \(escape(request.client.name))</title>
            <style>\(style)</style>
            </head>
            <body>
            <main>
            <h1>Sign in</h1>
            <p>to continue to <strong>\(escape(request.client.name))</strong></p>
            \(errorBlock)<form method="post" action="/oauth/authorize">
            \(hidden)<input type="hidden" name="csrf_token" value="\(escape(csrf))">
            <label for="tenant_id">Tenant</label>
            <input id="tenant_id" name="tenant_id" required autocomplete="organization" value="\(escape(tenant ?? request.client.tenantID))"\(described)>
            <label for="workspace_id">Workspace</label>
            <input id="workspace_id" name="workspace_id" required value="\(escape(workspace ?? "default"))">
            <label for="username">Username</label>
            <input id="username" name="username" required autocomplete="username" value="\(escape(username ?? ""))">
            <label for="password">Password</label>
            <input id="password" name="password" type="password" required autocomplete="current-password">
            <button type="submit">Sign in</button>
            </form>
            </main>
            </body>
            </html>

            """
    }

    static func signedOutPage() -> String {
        """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Signed out</title>
        <style>\(style)</style></head>
        <body><main><h1>Signed out</h1><p>You are signed out. You can close this page.</p></main></body>
        </html>

        """
    }

    static func errorPage(_ message: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in error</title>
        <style>\(style)</style></head>
        <body><main><h1>Sign-in error</h1><p class="error" role="alert">\(escape(message))</p></main></body>
        </html>

        """
    }

    /// `default-src 'none'`: no script at all, the style by hash, the form posting here (and, as browsers apply
    /// form-action to the redirect that follows, to the client's redirect origin).
    static func headers(formTarget: String?) -> HTTPFields {
        var formAction = "'self'"
        if let formTarget, let url = URLComponents(string: formTarget), let scheme = url.scheme, let host = url.host {
            formAction += " \(scheme)://\(url.port.map { "\(host):\($0)" } ?? host)"
        }
        return [
            .contentType: "text/html; charset=utf-8",
            .cacheControl: "no-store",
            HTTPField.Name("Content-Security-Policy")!:
                "default-src 'none'; style-src '\(styleHash)'; form-action \(formAction); frame-ancestors 'none'; base-uri 'none'",
            HTTPField.Name("X-Frame-Options")!: "DENY",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        ]
    }
}
