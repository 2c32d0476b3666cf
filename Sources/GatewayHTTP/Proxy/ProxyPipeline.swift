import AsyncHTTPClient
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import IAMEnforcement
import Logging
import NIOCore
import NIOHTTP1
import Tracing

/// The proxy's hot path, in the stages Oathkeeper names: authenticate -> resolve -> authorize -> mutate -> forward.
struct ProxyPipeline: Sendable {
    let authenticator: RequestAuthenticator
    let auth: AuthService
    let resolver: AccessResolver
    let tokens: DownstreamTokenCache
    let keyRing: KeyRingManager
    let clock: any GatewayClock
    let httpClient: HTTPClient
    let logger: Logger
    /// The one header policy of every proxy path.
    var headerPolicy = ProxyHeaders()
    /// `http.allowed_origins`: origins whose pages may open a cookie-authenticated WebSocket.
    var allowedOrigins: Set<String> = []
    /// `X-Forwarded-Proto` upstream: `https` on the TLS listener.
    var forwardedProto = "http"
    /// `http.trusted_proxies`: whose `X-Forwarded-*` are believed.
    var trustedProxies = TrustedProxies.none
    /// Spans for the stages and the upstream call when tracing is on (SPEC 10).
    var tracer: (any Tracer)?

    /// AsyncHTTPClient attaches per-request metadata to the logger it is given, and a stream handler re-renders
    /// metadata on every change (measured in Benchmarks/PROFILE.md). Failures are logged here instead.
    static let quietLogger = Logger(label: "iam-gateway.upstream", factory: { _ in SwiftLogNoOpLogHandler() })

    func handle(
        _ request: Request, match: RouteTable.Match, requestID: String, clientAddress: String,
        observation: RequestObservation? = nil
    ) async throws -> Response {
        let (principal, headers) = try await authorize(
            request.headers, authority: request.head.authority, match: match, requestID: requestID,
            clientAddress: clientAddress)
        observation?.caller(principal)
        // 5. Forward, streaming both bodies.
        let started = ContinuousClock.now
        defer { observation?.upstream(nanoseconds: (ContinuousClock.now - started).nanoseconds) }
        return try await forward(request, match: match, headers: headers)
    }

    /// Stages 1 to 4: the upstream request headers for an authenticated, authorized caller.
    func prepare(
        _ fields: HTTPFields, authority: String?, match: RouteTable.Match, requestID: String, clientAddress: String
    ) async throws -> HTTPHeaders {
        try await authorize(
            fields, authority: authority, match: match, requestID: requestID, clientAddress: clientAddress
        ).headers
    }

    /// Stages 1 to 4 with the principal they authenticated (a WebSocket tunnel keeps checking it).
    func authorize(
        _ fields: HTTPFields, authority: String?, match: RouteTable.Match, requestID: String, clientAddress: String
    ) async throws -> (principal: Principal, headers: HTTPHeaders) {
        // 1. Authenticate (bearer, session cookie or API key); a downstream token has the wrong `aud` and fails here.
        let principal = try await tracer.span("authenticate") { try await authenticator.authenticate(headers: fields) }
        // 2. Resolve roles, permissions and policy version (cached).
        let access = try await tracer.span("resolve") {
            try await resolver.resolve(
                tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
        }
        // 3. Authorize: a principal with no role in the workspace gets nothing; the route's permission at the edge.
        guard !access.roles.isEmpty else { throw GatewayError.forbidden("The caller has no role in this workspace.") }
        if let permission = match.route.permission, !access.permissions.contains(permission) {
            throw GatewayError.forbidden("This route needs the permission \(permission).")
        }
        // 4. Mutate: a downstream token for the route's audience and the gateway's headers.
        let token = try await tracer.span("mint") {
            try await downstreamToken(principal, access: access, audience: match.route.audience)
        }
        return (
            principal,
            upstreamHeaders(
                fields, principal: principal, token: token, authority: authority, requestID: requestID,
                clientAddress: clientAddress)
        )
    }

    /// True while `principal` may still use `route`: its session is not revoked, it still has a role in the
    /// workspace and the route's permission. A store failure keeps the current answer (the tunnel is not cut for it).
    func stillAuthorized(_ principal: Principal, route: GatewayConfiguration.Route) async -> Bool {
        if let sid = principal.sessionID, auth.revocations.isRevoked(sid) { return false }
        guard
            let access = try? await resolver.resolve(
                tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
        else {
            return true
        }
        guard !access.roles.isEmpty else { return false }
        if let permission = route.permission, !access.permissions.contains(permission) { return false }
        return true
    }

    /// Stages 1 to 4 from memory alone: the same headers as ``prepare(_:authority:match:requestID:clientAddress:)``
    /// when the credential verifies in process and the resolution and downstream token are cached and current;
    /// `nil` whenever a stage would need the store, a mint or an error answer, so the full path decides.
    func prepareInProcess(
        _ fields: HTTPFields, authority: String?, match: RouteTable.Match, requestID: String, clientAddress: String
    ) -> (HTTPHeaders, Principal)? {
        guard let principal = authenticator.authenticateInProcess(headers: fields),
            let access = resolver.cachedResolution(
                tenantID: principal.tenantID, workspaceID: principal.workspaceID, principalID: principal.subject)
        else { return nil }
        guard !access.roles.isEmpty else { return nil }
        if let permission = match.route.permission, !access.permissions.contains(permission) { return nil }
        let key = tokenKey(principal, access: access, audience: match.route.audience)
        guard let token = tokens.token(for: key, now: clock.now().unixSeconds, countingMiss: false) else { return nil }
        return (
            upstreamHeaders(
                fields, principal: principal, token: token, authority: authority, requestID: requestID,
                clientAddress: clientAddress), principal
        )
    }

    func upstreamHeaders(
        _ fields: HTTPFields, principal: Principal, token: String, authority: String?, requestID: String,
        clientAddress: String
    ) -> HTTPHeaders {
        var client = clientAddress
        var proto = forwardedProto
        var host = authority
        // From a trusted load balancer: the client it names, and the scheme and host it was asked for.
        if !trustedProxies.isEmpty, trustedProxies.contains(clientAddress) {
            client = trustedProxies.clientAddress(peer: clientAddress, forwardedFor: fields[values: .xForwardedFor])
            if let sent = fields[.xForwardedProto]?.lowercased(), sent == "http" || sent == "https" { proto = sent }
            if let sent = fields[.xForwardedHost], RequestHygiene.isValidHost(sent) { host = sent }
        }
        var set: [(String, String)] = [
            ("Authorization", "Bearer \(token)"),
            ("X-Tenant-Id", principal.tenantID),
            ("X-Workspace-Id", principal.workspaceID),
            ("X-Request-Id", requestID),
            ("X-Forwarded-For", client),
            ("X-Forwarded-Proto", proto),
        ]
        if let host { set.append(("X-Forwarded-Host", host)) }
        var headers = headerPolicy.upstream(from: fields, set: set)
        // A malformed trace context is not passed on (W3C Trace Context: the receiver restarts the trace).
        if let parent = fields[GatewayTracing.traceParentField], !GatewayTracing.isValidTraceParent(parent) {
            headers.remove(name: "traceparent")
            headers.remove(name: "tracestate")
        }
        return headers
    }

    func tokenKey(_ principal: Principal, access: ResolvedAccess, audience: String) -> DownstreamTokenCache.Key {
        DownstreamTokenCache.Key(
            subject: principal.subject, tenantID: principal.tenantID, workspaceID: principal.workspaceID,
            sessionID: principal.sessionID,
            audience: audience, policyVersion: access.policyVersion, kid: keyRing.snapshot.active.kid
        )
    }

    func downstreamToken(_ principal: Principal, access: ResolvedAccess, audience: String) async throws -> String {
        let now = clock.now().unixSeconds
        let key = tokenKey(principal, access: access, audience: audience)
        if let cached = tokens.token(for: key, now: now) { return cached }
        let minted = try auth.tokenMinter.mint(
            try await auth.downstreamRequest(principal, access: access, audience: audience))
        var stored = key
        stored.kid = minted.kid
        tokens.store(minted.token, for: stored, issuedAt: minted.claims.iat, expiresAt: minted.claims.exp)
        return minted.token
    }

    func forward(_ request: Request, match: RouteTable.Match, headers: HTTPHeaders) async throws -> Response {
        var upstreamURL = match.route.upstream
        while upstreamURL.hasSuffix("/") { upstreamURL.removeLast() }
        upstreamURL += match.upstreamPath
        if let query = request.uri.query, !query.isEmpty { upstreamURL += "?" + query }
        var outbound = HTTPClientRequest(url: upstreamURL)
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        outbound.headers = headers
        // The body goes through a relay, so that it is no longer being read for the upstream when the server reads
        // what is left of it after the answer (see ``RequestBodyRelay``).
        let bodyLength: HTTPClientRequest.Body.Length? =
            if let length = request.headers[.contentLength].flatMap(Int64.init), length > 0 {
                .known(length)
            } else if request.headers[.transferEncoding] != nil { .unknown } else { nil }
        let relay = bodyLength.map { _ in RequestBodyRelay(request.body) }
        if let relay, let bodyLength { outbound.body = .stream(relay.body, length: bodyLength) }
        let response: HTTPClientResponse
        do {
            response = try await tracer.span("upstream", ofKind: .client) {
                if let tracer {
                    // The upstream continues the trace with this span as its parent (the client's own header replaced).
                    outbound.headers.remove(name: "tracestate")
                    tracer.inject(
                        ServiceContext.current ?? .topLevel, into: &outbound.headers, using: HTTPHeadersInjector())
                }
                return try await httpClient.execute(
                    outbound, timeout: .seconds(Int64(match.route.timeout)), logger: Self.quietLogger)
            }
        } catch {
            await relay?.close()
            if let failure = relay?.readFailure as? HTTPParserError {
                // The client's body was badly framed (an invalid chunk size): its fault, not the upstream's. The
                // upstream request was aborted, never completed.
                throw GatewayError.malformed(failure)
            }
            if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
                logger.warning("upstream timeout", metadata: ["route": "\(match.route.name)"])
                throw GatewayError(.upstreamTimeout, "The upstream did not answer in time.")
            }
            logger.warning(
                "upstream unavailable", metadata: ["route": "\(match.route.name)", "error_type": "\(type(of: error))"])
            throw GatewayError(.upstreamUnavailable, "The upstream cannot be reached.")
        }
        let status = HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase)
        let headers = ProxyHeaders.downstream(from: response.headers)
        guard let relay else {
            return Response(status: status, headers: headers, body: ResponseBody(asyncSequence: response.body))
        }
        return Response(
            status: status,
            headers: headers,
            body: ResponseBody { writer in
                do {
                    for try await part in response.body { try await writer.write(part) }
                } catch {
                    await relay.close()
                    throw error
                }
                await relay.close()
                try await writer.finish(nil)
            }
        )
    }
}
