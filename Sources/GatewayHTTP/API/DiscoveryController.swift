import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`, with HEAD, and CORS for any origin
/// (SPEC 5: browser-side verifiers fetch keys cross-origin): `Access-Control-Allow-Origin: *` on the answers and a
/// 204 to an `OPTIONS` preflight. Nothing here depends on credentials, so a wildcard origin is safe.
struct DiscoveryController<Context: RequestContext> {
    let keyRing: KeyRingManager
    let configuration: GatewayConfiguration

    static var corsHeaders: HTTPFields {
        [
            .accessControlAllowOrigin: "*",
            .accessControlExposeHeaders: "Cache-Control, Content-Type",
        ]
    }

    static var preflightHeaders: HTTPFields {
        [
            .accessControlAllowOrigin: "*",
            .accessControlAllowMethods: "GET, HEAD, OPTIONS",
            .accessControlAllowHeaders: "Accept, Cache-Control, Content-Type, If-None-Match",
            .accessControlMaxAge: "86400",
        ]
    }

    func addRoutes(to router: Router<Context>) {
        let maxAge = configuration.jwksMaxAge
        var headers = Self.corsHeaders
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "public, max-age=\(maxAge)"
        let documentHeaders = headers
        router.get("/.well-known/jwks.json") { _, _ -> Response in
            Response(
                status: .ok, headers: documentHeaders,
                body: .init(byteBuffer: ByteBuffer(bytes: keyRing.snapshot.jwksJSON)))
        }
        let document = OpenIDConfiguration(configuration: configuration)
        // OpenID Connect Discovery and RFC 8414 metadata: the same document.
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            router.get(RouterPath(path)) { _, _ -> Response in
                Response(
                    status: .ok, headers: documentHeaders, body: .init(byteBuffer: ByteBuffer(bytes: document.json)))
            }
        }
        let preflight = Self.preflightHeaders
        for path in [
            "/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
        ] {
            router.on(RouterPath(path), method: .options) { _, _ -> Response in
                Response(status: .noContent, headers: preflight)
            }
        }
    }
}

/// The discovery document (OpenID Connect Discovery 1.0 / RFC 8414), all URLs derived from `issuer`. It lists
/// exactly what the endpoints serve (SPEC 5.1): today the token endpoint with the grants of ``OAuthGrant/supported``
/// and client authentication (`none` for public clients), the authorization endpoint (code with PKCE S256), and
/// introspection, revocation, userinfo and RP-initiated logout.
struct OpenIDConfiguration: Codable {
    var issuer: String
    var jwksURI: String
    var tokenEndpoint: String
    var authorizationEndpoint: String
    var codeChallengeMethodsSupported: [String]
    var scopesSupported: [String]
    var responseModesSupported: [String]
    var authorizationResponseIssParameterSupported: Bool
    var introspectionEndpoint: String
    var revocationEndpoint: String
    var revocationEndpointAuthMethodsSupported: [String]
    var userinfoEndpoint: String
    var endSessionEndpoint: String
    var introspectionEndpointAuthMethodsSupported: [String]
    var idTokenSigningAlgValuesSupported: [String]
    var tokenEndpointAuthMethodsSupported: [String]
    var grantTypesSupported: [String]
    var responseTypesSupported: [String]
    var subjectTypesSupported: [String]
    var claimsSupported: [String]

    init(configuration: GatewayConfiguration) {
        let base = configuration.issuerBase
        issuer = configuration.issuer
        jwksURI = base + "/.well-known/jwks.json"
        tokenEndpoint = base + "/oauth/token"
        authorizationEndpoint = base + "/oauth/authorize"
        codeChallengeMethodsSupported = ["S256"]
        scopesSupported = OAuthService.supportedScopes
        responseModesSupported = ["query"]
        authorizationResponseIssParameterSupported = true
        introspectionEndpoint = base + "/oauth/introspect"
        revocationEndpoint = base + "/oauth/revoke"
        revocationEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "none"]
        userinfoEndpoint = base + "/oauth/userinfo"
        endSessionEndpoint = base + "/oauth/logout"
        introspectionEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post"]
        idTokenSigningAlgValuesSupported = ["RS256"]
        tokenEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "none"]
        grantTypesSupported = OAuthGrant.supported
        responseTypesSupported = ["code"]
        subjectTypesSupported = ["public"]
        claimsSupported = [
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "tenant_id", "workspace_id", "roles", "policy_version",
            "service", "permissions", "sid", "client_id",
        ]
    }

    enum CodingKeys: String, CodingKey {
        case issuer
        case jwksURI = "jwks_uri"
        case tokenEndpoint = "token_endpoint"
        case authorizationEndpoint = "authorization_endpoint"
        case codeChallengeMethodsSupported = "code_challenge_methods_supported"
        case scopesSupported = "scopes_supported"
        case responseModesSupported = "response_modes_supported"
        case authorizationResponseIssParameterSupported = "authorization_response_iss_parameter_supported"
        case introspectionEndpoint = "introspection_endpoint"
        case revocationEndpoint = "revocation_endpoint"
        case revocationEndpointAuthMethodsSupported = "revocation_endpoint_auth_methods_supported"
        case userinfoEndpoint = "userinfo_endpoint"
        case endSessionEndpoint = "end_session_endpoint"
        case introspectionEndpointAuthMethodsSupported = "introspection_endpoint_auth_methods_supported"
        case idTokenSigningAlgValuesSupported = "id_token_signing_alg_values_supported"
        case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
        case grantTypesSupported = "grant_types_supported"
        case responseTypesSupported = "response_types_supported"
        case subjectTypesSupported = "subject_types_supported"
        case claimsSupported = "claims_supported"
    }

    var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }
}
