/// The outcome of an authorization question: allowed, or denied with a reason safe to show the caller.
public enum AuthorizationDecision: Sendable, Equatable {
    case allow
    case deny(String)

    public var isAllowed: Bool { self == .allow }

    /// Throws 403 `forbidden` with the reason when denied.
    public func enforce() throws {
        if case .deny(let reason) = self { throw GatewayError.forbidden(reason) }
    }

    /// The first denial of `decisions`, or allow when every one allows.
    public static func all(_ decisions: [AuthorizationDecision]) -> AuthorizationDecision {
        decisions.first { !$0.isAllowed } ?? .allow
    }
}

/// The one admin-plane authorization policy (SPEC 4.1): may principal X do operation O on target T. It answers from
/// the caller's ``EffectiveAccess`` and what the operation concerns; it never reads the store or a request, so every
/// domain service asks it the same way and tests can ask it directly.
///
/// The rule behind every case: a change may only grant, remove or take over permissions in workspaces where the
/// caller already holds the management permission and every permission concerned (Kubernetes RBAC's escalation
/// prevention).
public enum AuthorizationPolicy {
    public enum Operation: Sendable {
        /// Create or delete an assignment of a role with `rolePermissions` in `scope`.
        case assign(rolePermissions: Set<String>, scope: WorkspaceScope)
        /// Create a custom role with `permissions`, limited to a workspace or tenant-wide (then checked in the
        /// caller's workspace: creating it grants nothing yet).
        case createRole(permissions: Set<String>, limitedTo: String?, callerWorkspace: String)
        /// Update (`.rolesUpdate`) or delete (`.rolesDelete`) a custom role. `permissions` is every permission it had
        /// or will have; `assignedScopes` where it is assigned now.
        case changeRole(
            Permission, permissions: Set<String>, limitedTo: String?, assignedScopes: Set<WorkspaceScope>,
            callerWorkspace: String)
        /// Act on an existing principal (password reset, delete, session revocation) with `management`
        /// (`users.manage`, `apikeys.manage`, `clients.manage`): `target` is what it holds; `unassignedScope` where
        /// the management permission is needed when it has no assignment (tenant-wide for a user, its own workspace
        /// for a key or client).
        case actOnPrincipal(Permission, target: EffectiveAccess, unassignedScope: WorkspaceScope)
        /// Create a principal with `management` belonging to or acting from `workspace`.
        case createPrincipal(Permission, workspace: String)
        /// Create or change workspaces.
        case manageWorkspaces
        /// Read the audit log of `scope` (the whole tenant's needs `audit.read` tenant-wide).
        case readAudit(WorkspaceScope)
    }

    public static func decide(_ caller: EffectiveAccess, _ operation: Operation) -> AuthorizationDecision {
        if caller.isPlatformAdmin { return .allow }
        switch operation {
        case .assign(let permissions, let scope):
            return require(caller, .assignmentsManage, and: permissions, in: [scope])
        case .createRole(let permissions, let limitedTo, let callerWorkspace):
            return require(caller, .rolesCreate, and: permissions, in: [.workspace(limitedTo ?? callerWorkspace)])
        case .changeRole(let verb, let permissions, let limitedTo, let assignedScopes, let callerWorkspace):
            let scopes: Set<WorkspaceScope> =
                limitedTo.map { [.workspace($0)] } ?? assignedScopes.union([.workspace(callerWorkspace)])
            return require(caller, verb, and: permissions, in: scopes)
        case .actOnPrincipal(let management, let target, let unassignedScope):
            guard !target.assignedScopes.isEmpty else {
                return require(caller, management, and: [], in: [unassignedScope])
            }
            return .all(
                target.assignedScopes.sorted(by: { $0.workspaceID < $1.workspaceID }).map { scope in
                    require(caller, management, and: target.permissions(in: scope), in: [scope], what: "it holds")
                })
        case .createPrincipal(let management, let workspace):
            return require(caller, management, and: [], in: [.workspace(workspace)])
        case .manageWorkspaces:
            return require(caller, .workspacesManage, and: [], in: [.tenantWide])
        case .readAudit(let scope):
            return require(caller, .auditRead, and: [], in: [scope])
        }
    }

    /// Allows when the caller holds `management` and every one of `permissions` in each of `scopes`.
    static func require(
        _ caller: EffectiveAccess, _ management: Permission, and permissions: Set<String>,
        in scopes: Set<WorkspaceScope>, what: String = "concerned"
    ) -> AuthorizationDecision {
        for scope in scopes.sorted(by: { $0.workspaceID < $1.workspaceID }) {
            guard caller.holds(management, in: scope) else {
                return .deny("This needs the permission \(management) \(phrase(scope)).")
            }
            let missing = caller.missing(permissions, in: scope)
            if !missing.isEmpty {
                let listed = missing.prefix(5).joined(separator: ", ") + (missing.count > 5 ? ", ..." : "")
                return .deny(
                    "You can only grant or act on permissions you hold yourself; missing \(phrase(scope)) (\(what)): \(listed)."
                )
            }
        }
        return .allow
    }

    static func phrase(_ scope: WorkspaceScope) -> String {
        switch scope {
        case .tenantWide: "tenant-wide"
        case .workspace(let id): "in workspace \(id)"
        }
    }
}
