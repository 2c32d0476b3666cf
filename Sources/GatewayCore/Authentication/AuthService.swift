import Foundation
import IAMEnforcement
import Logging
import NIOPosix

/// The tokens a login or refresh answers with.
public struct IssuedTokens: Sendable {
    public var accessToken: MintedToken
    public var refreshToken: String
    public var refreshExpiresIn: Int
}

/// Login, refresh, logout, token exchange and request authentication (SPEC section 5, Authentication).
public struct AuthService: Sendable {
    public static let refreshTokenPrefix = "iamr_"
    public static let apiKeyPrefix = "iamk_"

    let configuration: GatewayConfiguration
    let store: any GatewayStore
    let keyRing: KeyRingManager
    let minter: TokenMinter
    let resolver: AccessResolver
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    public let revocations: RevocationList
    let audit: AuditLog
    let clock: any GatewayClock
    let logger: Logger
    let verifier: TokenVerifier
    let verifiedTokens = VerifiedTokenCache()
    public let metrics: GatewayMetrics
    /// Verified against when the tenant or user does not exist, so every failure costs the same.
    let dummyHash: String

    public init(
        configuration: GatewayConfiguration, store: any GatewayStore, keyRing: KeyRingManager, resolver: AccessResolver,
        hasher: PasswordHasher,
        throttle: LoginThrottle, revocations: RevocationList, audit: AuditLog, clock: any GatewayClock, logger: Logger,
        metrics: GatewayMetrics = .disabled
    ) throws {
        self.metrics = metrics
        self.configuration = configuration
        self.store = store
        self.keyRing = keyRing
        self.minter = TokenMinter(
            keyRing: keyRing, clock: clock, issuer: configuration.issuer,
            gatewayAudience: configuration.gatewayAudience, metrics: metrics)
        self.resolver = resolver
        self.hasher = hasher
        self.throttle = throttle
        self.revocations = revocations
        self.audit = audit
        self.clock = clock
        self.logger = logger
        self.verifier = TokenVerifier(
            issuer: configuration.issuer, audience: configuration.gatewayAudience,
            leeway: Int64(configuration.tokens.leeway))
        self.dummyHash = try hasher.hash(SecretToken.random())
    }

    public var accessResolver: AccessResolver { resolver }
    public var tokenMinter: TokenMinter { minter }

    static let invalidCredentials = GatewayError(.invalidCredentials, "The tenant, username or password is wrong.")

    // MARK: - Login

    public func login(
        tenantID: String, workspaceID: String, username: String, password: String, clientAddress: String,
        requestID: String?
    ) async throws -> IssuedTokens {
        let (user, access) = try await checkPassword(
            tenantID: tenantID, workspaceID: workspaceID, username: username, password: password,
            clientAddress: clientAddress, requestID: requestID
        )
        let now = clock.now()
        let session = SessionRecord(
            sessionID: SecretToken.random(bytes: 16), tenantID: tenantID, workspaceID: workspaceID,
            principalID: user.userID,
            createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(configuration.tokens.refreshTTL))
        )
        let refresh = Self.refreshTokenPrefix + SecretToken.random()
        try await store.createSession(session, refreshTokenHash: SecretToken.hash(refresh))
        let minted = try minter.mint(
            accessRequest(
                principalID: user.userID, tenantID: tenantID, workspaceID: workspaceID, access: access,
                sessionID: session.sessionID))
        await audit.record(
            actor: "\(tenantID)/\(user.userID)", tenantID: tenantID, workspaceID: workspaceID, action: "login.success",
            target: "session:\(session.sessionID)", requestID: requestID)
        metrics.minted(.refresh)
        return IssuedTokens(
            accessToken: minted, refreshToken: refresh, refreshExpiresIn: configuration.tokens.refreshTTL)
    }

    /// The password check of every sign-in (`/v1/auth/login` and the OAuth sign-in page): the login throttle, the
    /// same answer and time for an unknown tenant, user or wrong password, and a role in the workspace required.
    public func checkPassword(
        tenantID: String, workspaceID: String, username: String, password: String, clientAddress: String,
        requestID: String?
    ) async throws -> (UserRecord, ResolvedAccess) {
        guard Identifier.isValid(tenantID), Identifier.isValid(workspaceID) else {
            throw GatewayError.invalidRequest("tenant_id and workspace_id must match ^[a-z0-9][a-z0-9_-]{0,62}$.")
        }
        guard !username.isEmpty, username.utf8.count <= 256, !password.isEmpty,
            password.utf8.count <= PasswordHasher.maximumLength
        else {
            throw GatewayError.invalidRequest(
                "username and password must be non-empty (password at most \(PasswordHasher.maximumLength) bytes).")
        }
        let account = "\(tenantID)|\(username)"
        let reservation: LoginThrottle.Reservation
        do {
            reservation = try await reserveCheck(account: account, address: clientAddress)
        } catch let error as GatewayError where error.code == .rateLimited {
            metrics.login(.throttled)
            throw error
        }
        let user: UserRecord?
        let matches: Bool
        do {
            user = try await store.user(tenantID: tenantID, username: username)
            let stored = user?.passwordHash ?? dummyHash
            let hasher = self.hasher
            matches = try await NIOThreadPool.singleton.runIfActive { hasher.verify(password, against: stored) }
        } catch {
            // Not a wrong password: the store or the thread pool failed. Counts as nothing.
            throttle.release(reservation, succeeded: true)
            throw error
        }
        guard let user, matches else {
            await releaseFailedCheck(reservation)
            // A tenant that does not exist has no log to write into (nor may a later tenant of that id inherit one).
            // Looked up on every failure, so an unknown tenant costs what a wrong password costs.
            let tenantExists = ((try? await store.tenant(tenantID)) ?? nil) != nil
            if tenantExists {
                await audit.record(
                    actor: "anonymous", tenantID: tenantID, workspaceID: workspaceID, action: "login.failure",
                    target: "username:\(username.prefix(64))", requestID: requestID)
            }
            metrics.login(.invalidCredentials)
            throw Self.invalidCredentials
        }
        await releaseSucceededCheck(reservation)
        let access: ResolvedAccess
        do {
            access = try await resolver.resolve(tenantID: tenantID, workspaceID: workspaceID, principalID: user.userID)
        } catch let error as GatewayError where error.code == .notFound {
            access = ResolvedAccess(roles: [], permissions: [], policyVersion: 0, isPlatformAdmin: false)
        }
        guard !access.roles.isEmpty else {
            await audit.record(
                actor: "\(tenantID)/\(user.userID)", tenantID: tenantID, workspaceID: workspaceID,
                action: "login.denied", target: "user:\(user.userID)", requestID: requestID)
            metrics.login(.denied)
            throw GatewayError.forbidden("The user has no role in this workspace.")
        }
        metrics.login(.success)
        return (user, access)
    }

    /// Reserves a password check with the login throttle, counting the failures other replicas recorded in the
    /// store (read on each attempt; a store that does not answer leaves this process's counts alone in force).
    func reserveCheck(account: String, address: String) async throws -> LoginThrottle.Reservation {
        let window = throttle.limits.window
        let keys = throttle.keys(account: account, address: address)
        let shared =
            (try? await store.loginFailures(keys: keys.map(\.shared), since: clock.now().addingTimeInterval(-window)))
            ?? [:]
        switch throttle.reserve(keys, shared: shared) {
        case .success(let granted): return granted
        case .failure(let wait):
            throw GatewayError(.rateLimited, "Too many failed password checks; retry later.", retryAfter: wait.seconds)
        }
    }

    /// Ends a failed check: counted here and recorded in the store for the other replicas.
    func releaseFailedCheck(_ reservation: LoginThrottle.Reservation) async {
        throttle.release(reservation, succeeded: false)
        let now = clock.now()
        do {
            try await store.recordLoginFailure(
                keys: reservation.sharedKeys, at: now, forgetBefore: now.addingTimeInterval(-throttle.limits.window))
        } catch {
            logger.warning(
                "a failed login could not be recorded in the store; this replica's count still holds",
                metadata: ["error_type": "\(type(of: error))"])
        }
    }

    /// Ends a successful check: the account+address failures are forgotten here and in the store.
    func releaseSucceededCheck(_ reservation: LoginThrottle.Reservation) async {
        throttle.release(reservation, succeeded: true)
        if reservation.sharedAccountFailures {
            try? await store.clearLoginFailures(keys: [reservation.sharedAccountAndAddressKey])
        }
    }

    func accessRequest(
        principalID: String, tenantID: String, workspaceID: String, access: ResolvedAccess, sessionID: String?,
        clientID: String? = nil, scope: String? = nil
    ) -> TokenRequest {
        TokenRequest(
            subject: principalID, tenantID: tenantID, workspaceID: workspaceID, roles: access.roles,
            permissions: access.sortedPermissions,
            policyVersion: access.policyVersion, audience: configuration.gatewayAudience,
            ttl: configuration.tokens.accessTTL, sessionID: sessionID,
            clientID: clientID ?? Principal.firstParty, scope: scope
        )
    }

    /// The client access token of a session (after a sign-in or a refresh), with the session's client as `client_id`.
    public func accessToken(for session: SessionRecord) async throws -> MintedToken {
        let access = try await resolver.resolve(
            tenantID: session.tenantID, workspaceID: session.workspaceID, principalID: session.principalID)
        guard !access.roles.isEmpty else {
            throw GatewayError.forbidden("The principal has no role in this workspace any more.")
        }
        return try minter.mint(
            accessRequest(
                principalID: session.principalID, tenantID: session.tenantID, workspaceID: session.workspaceID,
                access: access, sessionID: session.sessionID,
                clientID: session.clientID, scope: session.scope
            ))
    }

    /// Ends a session and its refresh family at once (the store and this replica's revocation list).
    public func revoke(sessionID: String) async throws {
        _ = try await store.revokeSession(sessionID, now: clock.now())
        revocations.add([sessionID])
    }

    // MARK: - Refresh and logout

    static let invalidRefresh = GatewayError(.invalidToken, "The refresh token is invalid, expired or revoked.")

    /// Rotates a refresh token. `client` is the OAuth client presenting it (`nil` for `/v1/auth/refresh`): a token
    /// of another client's session is refused and its family revoked (a refresh token is only for the client it
    /// was issued to).
    public func refresh(_ presented: String, requestID: String?, client: String? = nil) async throws -> IssuedTokens {
        guard presented.hasPrefix(Self.refreshTokenPrefix), presented.utf8.count <= 128 else {
            throw Self.invalidRefresh
        }
        let successor = Self.refreshTokenPrefix + SecretToken.random()
        let now = clock.now()
        switch try await store.rotateRefreshToken(
            presentedHash: SecretToken.hash(presented), successorHash: SecretToken.hash(successor), now: now)
        {
        case .invalid:
            throw Self.invalidRefresh
        case .reused(let session):
            metrics.refreshReuseDetected()
            revocations.add([session.sessionID])
            logger.warning(
                "refresh token reuse: family revoked",
                metadata: ["tenant_id": "\(session.tenantID)", "sid": "\(session.sessionID)"])
            await audit.record(
                actor: "\(session.tenantID)/\(session.principalID)", tenantID: session.tenantID,
                workspaceID: session.workspaceID, action: "refresh.reuse", target: "session:\(session.sessionID)",
                requestID: requestID)
            throw Self.invalidRefresh
        case .rotated(let session):
            guard session.clientID == client else {
                try await revoke(sessionID: session.sessionID)
                logger.warning(
                    "refresh token presented by another client: family revoked",
                    metadata: ["tenant_id": "\(session.tenantID)", "sid": "\(session.sessionID)"])
                await audit.record(
                    actor: "\(session.tenantID)/\(session.principalID)", tenantID: session.tenantID,
                    workspaceID: session.workspaceID, action: "refresh.wrong_client",
                    target: "session:\(session.sessionID)", requestID: requestID)
                throw Self.invalidRefresh
            }
            let minted = try await accessToken(for: session)
            let remaining = max(0, Int(session.expiresAt.timeIntervalSince(now)))
            metrics.minted(.refresh)
            return IssuedTokens(accessToken: minted, refreshToken: successor, refreshExpiresIn: remaining)
        }
    }

    /// Revokes the caller's session and its refresh family.
    public func logout(_ principal: Principal, requestID: String?) async throws {
        guard let sessionID = principal.sessionID else {
            throw GatewayError.invalidRequest(
                "Only a session's access token can log out; API keys are deleted instead.")
        }
        _ = try await store.revokeSession(sessionID, now: clock.now())
        revocations.add([sessionID])
        await audit.record(
            actor: principal.auditName, tenantID: principal.tenantID, workspaceID: principal.workspaceID,
            action: "logout", target: "session:\(sessionID)", requestID: requestID)
    }

    /// Changes the caller's own password (`PUT /v1/me/password`): the current one is checked under the login
    /// throttle; every other session and refresh family of the user is revoked, the calling one kept.
    public func changeOwnPassword(
        _ principal: Principal, current: String, new: String, clientAddress: String, requestID: String?
    ) async throws {
        guard principal.kind == .user else { throw GatewayError.forbidden("Only users have a password to change.") }
        guard !current.isEmpty, current.utf8.count <= PasswordHasher.maximumLength else {
            throw GatewayError.invalidRequest("current_password is required.")
        }
        try PasswordHasher.validate(new)
        guard let user = try await store.user(tenantID: principal.tenantID, userID: principal.subject) else {
            throw GatewayError.invalidToken()
        }
        let reservation = try await reserveCheck(
            account: "\(principal.tenantID)|\(user.username)", address: clientAddress)
        let hasher = self.hasher
        let matches: Bool
        do {
            matches = try await NIOThreadPool.singleton.runIfActive {
                hasher.verify(current, against: user.passwordHash)
            }
        } catch {
            throttle.release(reservation, succeeded: true)
            throw error
        }
        guard matches else {
            await releaseFailedCheck(reservation)
            throw GatewayError(.invalidCredentials, "The current password is wrong.")
        }
        await releaseSucceededCheck(reservation)
        let hash = try await NIOThreadPool.singleton.runIfActive { try hasher.hash(new) }
        guard try await store.updatePassword(tenantID: principal.tenantID, userID: user.userID, passwordHash: hash)
        else { throw GatewayError.invalidToken() }
        revocations.add(
            try await store.revokeSessions(
                tenantID: principal.tenantID, principalID: user.userID, except: principal.sessionID, now: clock.now()))
        await audit.record(
            actor: principal.auditName, tenantID: principal.tenantID, workspaceID: principal.workspaceID,
            action: "user.password_change", target: "user:\(user.userID)", requestID: requestID)
    }

    // MARK: - Token exchange

    /// Mints a token for a downstream `audience` (a configured route's). Its `permissions` are those the audience's
    /// service registered, when it registered any.
    public func exchange(_ principal: Principal, access: ResolvedAccess, audience: String) async throws -> MintedToken {
        let routes = configuration.routes.filter { $0.audience == audience }
        guard !routes.isEmpty else {
            throw GatewayError.invalidRequest("Unknown audience.")
        }
        guard !access.roles.isEmpty else { throw GatewayError.forbidden("The caller has no role in this workspace.") }
        // The same edge permission the proxy asks for on the routes of that audience (each of them, when several).
        for permission in Set(routes.compactMap(\.permission)).sorted() where !access.permissions.contains(permission) {
            throw GatewayError.forbidden("A token for \(audience) needs the permission \(permission).")
        }
        return try minter.mint(try await downstreamRequest(principal, access: access, audience: audience))
    }

    /// What a downstream token for `audience` carries: `permissions` filtered to those the audience's service
    /// registered, when it registered any; lifetime `tokens.downstream_ttl`; no `sid`.
    public func downstreamRequest(_ principal: Principal, access: ResolvedAccess, audience: String) async throws
        -> TokenRequest
    {
        let owned = try await resolver.permissions(ownedBy: audience)
        let permissions = owned.isEmpty ? access.sortedPermissions : access.permissions.intersection(owned).sorted()
        return TokenRequest(
            subject: principal.subject, tenantID: principal.tenantID, workspaceID: principal.workspaceID,
            roles: access.roles,
            permissions: permissions, policyVersion: access.policyVersion, audience: audience,
            ttl: configuration.tokens.downstreamTTL,
            clientID: principal.clientID
        )
    }

    // MARK: - Authentication

    /// Authenticates a client access token: RS256 from our own JWKS, `aud` = gateway audience, session not revoked.
    /// A token verified before is taken from ``VerifiedTokenCache`` while its key is published and it is in date.
    public func authenticate(bearer token: String) throws -> (Principal, AccessTokenClaims) {
        let keys = keyRing.snapshot.publicKeys
        let now = clock.now()
        let claims: AccessTokenClaims
        if let cached = verifiedTokens.claims(
            for: token, now: now.unixSeconds, leeway: verifier.leeway, isPublished: { keys[$0] != nil })
        {
            claims = cached
        } else {
            var usedKid = ""
            do {
                claims = try verifier.verify(
                    token, now: now,
                    key: { kid in
                        usedKid = kid
                        return keys[kid]
                    })
            } catch {
                logger.debug("bearer token refused", metadata: ["reason": "\(error.reason)"])
                throw GatewayError.invalidToken()
            }
            verifiedTokens.store(claims, kid: usedKid, for: token)
        }
        if let sid = claims.sid, revocations.isRevoked(sid) {
            throw GatewayError(.tokenRevoked, "The session of this token has ended.", bearerPresented: true)
        }
        guard Identifier.isValid(claims.tenantID), Identifier.isValid(claims.workspaceID) else {
            throw GatewayError.invalidToken()
        }
        let clientID = claims.clientID ?? Principal.firstParty
        let kind: Principal.Kind = claims.sid != nil ? .user : (claims.sub == clientID ? .client : .apiKey)
        let principal = Principal(
            kind: kind, subject: claims.sub, tenantID: claims.tenantID, workspaceID: claims.workspaceID,
            sessionID: claims.sid, clientID: clientID)
        return (principal, claims)
    }

    static let invalidAPIKey = GatewayError(.invalidToken, "The API key is invalid or expired.")

    /// Authenticates `iamk_<key_id>_<secret>`.
    public func authenticate(apiKey presented: String) async throws -> Principal {
        guard presented.hasPrefix(Self.apiKeyPrefix), presented.utf8.count <= 256 else { throw Self.invalidAPIKey }
        let body = presented.dropFirst(Self.apiKeyPrefix.count)
        guard let separator = body.firstIndex(of: "_") else { throw Self.invalidAPIKey }
        let keyID = String(body[..<separator])
        let secret = body[body.index(after: separator)...]
        guard Identifier.isValid(keyID), !secret.isEmpty, let record = try await store.apiKey(keyID: keyID) else {
            throw Self.invalidAPIKey
        }
        guard SecretToken.constantTimeEquals(Array(SecretToken.hash(secret).utf8), Array(record.secretHash.utf8)) else {
            throw Self.invalidAPIKey
        }
        if let expiresAt = record.expiresAt, expiresAt <= clock.now() { throw Self.invalidAPIKey }
        return Principal(
            kind: .apiKey, subject: record.keyID, tenantID: record.tenantID, workspaceID: record.workspaceID,
            sessionID: nil)
    }

    /// Creates an API key and returns the record and the secret to show once.
    public static func newAPIKey(tenantID: String, name: String, workspaceID: String, expiresIn: Int?, now: Date) -> (
        APIKeyRecord, String
    ) {
        let keyID = SecretToken.identifier(prefix: "key-")
        let secret = SecretToken.random()
        let record = APIKeyRecord(
            tenantID: tenantID, keyID: keyID, name: name, workspaceID: workspaceID,
            secretHash: SecretToken.hash(secret),
            createdAt: now, expiresAt: expiresIn.map { now.addingTimeInterval(TimeInterval($0)) }
        )
        return (record, apiKeyPrefix + keyID + "_" + secret)
    }
}
