import Foundation

/// The claims of every token the gateway mints (SPEC section 6).
///
/// Times are integer seconds since 1970 (RFC 7519 NumericDate). `aud` is written as one string and read
/// as a string or an array of strings.
public struct AccessTokenClaims: Codable, Sendable, Equatable {
    public var iss: String
    public var sub: String
    public var aud: [String]
    public var exp: Int64
    public var iat: Int64
    public var nbf: Int64
    public var jti: String
    public var tenantID: String
    public var workspaceID: String
    public var roles: [String]
    public var policyVersion: Int64
    public var service: String
    public var permissions: [String]
    /// Session id; only client access tokens from a sign-in carry it.
    public var sid: String?
    /// RFC 9068 `client_id`: the OAuth client that obtained the token (`first-party` for `/v1/auth/login` and API
    /// keys); a downstream token carries the one of the token it was minted from. Absent in tokens minted before it.
    public var clientID: String?
    /// RFC 9068 `scope`: the scopes granted at an OAuth sign-in (space-separated); they do not narrow `permissions`.
    public var scope: String?

    public init(
        iss: String, sub: String, aud: String, exp: Int64, iat: Int64, nbf: Int64, jti: String,
        tenantID: String, workspaceID: String, roles: [String], policyVersion: Int64,
        permissions: [String], sid: String?, clientID: String? = nil, scope: String? = nil
    ) {
        self.init(
            iss: iss, sub: sub, audiences: [aud], exp: exp, iat: iat, nbf: nbf, jti: jti, tenantID: tenantID,
            workspaceID: workspaceID, roles: roles, policyVersion: policyVersion, service: aud,
            permissions: permissions, sid: sid, clientID: clientID, scope: scope)
    }

    /// Every member as read from a token (`aud` as a list).
    init(
        iss: String, sub: String, audiences: [String], exp: Int64, iat: Int64, nbf: Int64, jti: String,
        tenantID: String, workspaceID: String, roles: [String], policyVersion: Int64, service: String,
        permissions: [String], sid: String?, clientID: String?, scope: String?
    ) {
        self.iss = iss
        self.sub = sub
        self.aud = audiences
        self.exp = exp
        self.iat = iat
        self.nbf = nbf
        self.jti = jti
        self.tenantID = tenantID
        self.workspaceID = workspaceID
        self.roles = roles
        self.policyVersion = policyVersion
        self.service = service
        self.permissions = permissions
        self.sid = sid
        self.clientID = clientID
        self.scope = scope
    }

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, nbf, jti, roles, service, permissions, sid, scope
        case tenantID = "tenant_id"
        case workspaceID = "workspace_id"
        case policyVersion = "policy_version"
        case clientID = "client_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        iss = try container.decode(String.self, forKey: .iss)
        sub = try container.decode(String.self, forKey: .sub)
        if let single = try? container.decode(String.self, forKey: .aud) {
            aud = [single]
        } else {
            aud = try container.decode([String].self, forKey: .aud)
        }
        exp = try container.decode(Int64.self, forKey: .exp)
        iat = try container.decode(Int64.self, forKey: .iat)
        nbf = try container.decode(Int64.self, forKey: .nbf)
        jti = try container.decode(String.self, forKey: .jti)
        tenantID = try container.decode(String.self, forKey: .tenantID)
        workspaceID = try container.decode(String.self, forKey: .workspaceID)
        roles = try container.decode([String].self, forKey: .roles)
        policyVersion = try container.decode(Int64.self, forKey: .policyVersion)
        service = try container.decode(String.self, forKey: .service)
        permissions = try container.decode([String].self, forKey: .permissions)
        sid = try container.decodeIfPresent(String.self, forKey: .sid)
        clientID = try container.decodeIfPresent(String.self, forKey: .clientID)
        scope = try container.decodeIfPresent(String.self, forKey: .scope)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(iss, forKey: .iss)
        try container.encode(sub, forKey: .sub)
        if aud.count == 1 {
            try container.encode(aud[0], forKey: .aud)
        } else {
            try container.encode(aud, forKey: .aud)
        }
        try container.encode(exp, forKey: .exp)
        try container.encode(iat, forKey: .iat)
        try container.encode(nbf, forKey: .nbf)
        try container.encode(jti, forKey: .jti)
        try container.encode(tenantID, forKey: .tenantID)
        try container.encode(workspaceID, forKey: .workspaceID)
        try container.encode(roles, forKey: .roles)
        try container.encode(policyVersion, forKey: .policyVersion)
        try container.encode(service, forKey: .service)
        try container.encode(permissions, forKey: .permissions)
        try container.encodeIfPresent(sid, forKey: .sid)
        try container.encodeIfPresent(clientID, forKey: .clientID)
        try container.encodeIfPresent(scope, forKey: .scope)
    }
}
