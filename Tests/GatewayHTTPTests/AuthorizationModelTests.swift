import Foundation
import GatewayCore
import GatewayHTTP
import GatewayStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// A model-based test of the admin plane's authorization (SPEC 4, 4.1, 5).
///
/// Thousands of random IAM writes (roles, assignments, password resets, principal and workspace creation and
/// deletion) by random API-key actors in two tenants, each compared with the status class an independent oracle
/// predicts from the contract text alone. After each successful write the keys whose permissions it changed, and
/// every 50 steps every principal (users logged in with the password the model says they have), must report through
/// `GET /v1/me?workspace_id=W` exactly the oracle's permissions, each traced back to a grant by someone who held it
/// there; every 50 steps the tenants' assignments and custom roles, as the platform admin lists them, must equal the
/// model's. Some steps send two writes at once (SPEC 4.1: each check and its write are one serializable unit): the
/// answers and the state after them must be those of one of the two serial orders.
///
/// `IAM_MODEL_SEED` replays a run (every failure names its seed and step; races depend on timing, the rest does
/// not); `IAM_MODEL_OPS` changes the number of steps per store (default 2500). Runs on SQLite always, and on
/// PostgreSQL (two replicas, one side of each race on the second) with `IAM_GATEWAY_TEST_POSTGRES_URL`.
@Suite struct AuthorizationModelTests {
    static let seed: UInt64 =
        ProcessInfo.processInfo.environment["IAM_MODEL_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 1...999_999_999)
    static let operations: Int = ProcessInfo.processInfo.environment["IAM_MODEL_OPS"].flatMap { Int($0) } ?? 2500

    @Test func sqliteAgreesWithTheContract() async throws {
        let gateway = try await TestGateway.make()
        try await gateway.test(.router) { _, client in
            try await ModelRun.execute(client: client, store: "sqlite", seed: Self.seed, operations: Self.operations)
        }
    }

    /// Two replicas on one PostgreSQL schema: every operation and check goes to the first, and one side of each race
    /// to the second, so that the per-tenant serialization is exercised across processes' worth of state.
    @Test(
        .enabled(
            if: TestDatabase.url != nil,
            "set IAM_GATEWAY_TEST_POSTGRES_URL to run the authorization model on PostgreSQL too"))
    func postgresAgreesWithTheContract() async throws {
        let postgres = try MultiReplicaTests.postgresConfiguration()
        var configuration = GatewayConfiguration()
        configuration.log.access = false  // access lines are tested in ObservabilityTests
        configuration.http.port = 0
        configuration.passwords.scryptLogN = 10
        configuration.keys.rotationInterval = 0
        var logger = Logger(label: "model")
        logger.logLevel = .warning
        let clock = ManualClock(Date())
        let kek = KeyEncryptionKey.random()
        let storeA = try await PostgresStore.open(configuration: postgres, logger: logger)
        let storeB = try await PostgresStore.open(configuration: postgres, logger: logger)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await storeA.run() }
                group.addTask { try await storeB.run() }
                defer { group.cancelAll() }
                let keyRingA = try await KeyRingManager.open(
                    store: PostgresKeyStore(store: storeA, encryptionKey: kek), configuration: configuration,
                    clock: clock, logger: logger)
                let keyRingB = try await KeyRingManager.open(
                    store: PostgresKeyStore(store: storeB, encryptionKey: kek), configuration: configuration,
                    clock: clock, logger: logger)
                _ = try await Bootstrapper(store: storeA, hasher: configuration.passwords.hasher, clock: clock).run(
                    username: "admin", password: TestGateway.adminPassword)
                let changesA = ObservedChangeNotifier(storeA.changeListener())
                let appA = try await buildApplication(
                    configuration: configuration, store: storeA, keyRing: keyRingA, changes: changesA, clock: clock,
                    logger: logger)
                let appB = try await buildApplication(
                    configuration: configuration, store: storeB, keyRing: keyRingB, changes: storeB.changeListener(),
                    clock: clock, logger: logger)
                try await appA.test(.router) { clientA in
                    try await appB.test(.router) { clientB in
                        try await ModelRun.execute(
                            client: clientA, secondClient: clientB, changes: changesA, store: "postgres",
                            seed: Self.seed, operations: Self.operations)
                    }
                }
            }
        } catch {
            await MultiReplicaTests.dropSchema(postgres)
            throw error
        }
        await MultiReplicaTests.dropSchema(postgres)
    }
}

// MARK: - Random numbers

/// SplitMix64: small, fast, and the same sequence for a seed on every platform.
struct ModelRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(UInt64(1) << 53) < probability }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func pick<T>(_ items: [T]) -> T? { items.randomElement(using: &self) }
    /// A random subset of `items` (order kept) of between `minimum` and `maximum` elements.
    mutating func subset<T>(_ items: [T], _ minimum: Int = 0, _ maximum: Int) -> [T] {
        let upper = min(maximum, items.count)
        guard upper > 0 else { return [] }
        let count = int(min(minimum, upper)...upper)
        let chosen = Set(Array(items.indices).shuffled(using: &self).prefix(count))
        return items.indices.filter { chosen.contains($0) }.map { items[$0] }
    }
}

// MARK: - The contract (SPEC 4), written down independently of the product

enum Contract {
    /// SPEC 4: the tenant-scope IAM permissions.
    static let tenantIAM: Set<String> = [
        "permissions.read", "roles.create", "roles.read", "roles.update", "roles.delete", "assignments.read",
        "assignments.manage",
        "users.manage", "apikeys.manage", "clients.manage", "workspaces.manage", "audit.read",
    ]
    static let viewer: Set<String> = [
        "integrations.read", "connections.read", "discovery.read", "discovery.history.read", "explorer.read",
    ]
    static let auditor: Set<String> = viewer.union([
        "export.generate", "audit.read", "roles.read", "permissions.read", "assignments.read",
    ])
    static let systemRoles = ["admin", "viewer", "auditor", "connector_builder"]
    /// The platform tenant's system roles: unknown in any other tenant.
    static let platformRoles = ["platform_admin", "service"]

    static func isPlatformOnly(_ permission: String) -> Bool {
        permission == "tenants.manage" || permission.hasPrefix("keys.") || permission == "permissions.register"
            || permission == "policy.read"
    }

    /// SPEC 4: `^[a-z0-9][a-z0-9_-]{0,62}$`.
    static func isValidID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, id.unicodeScalars.count <= 63 else { return false }
        func allowed(_ c: Unicode.Scalar, rest: Bool) -> Bool {
            ("a"..."z").contains(c) || ("0"..."9").contains(c) || (rest && (c == "_" || c == "-"))
        }
        return allowed(first, rest: false) && id.unicodeScalars.dropFirst().allSatisfy { allowed($0, rest: true) }
    }

    /// The permissions random roles are made of: IAM management and a few product permissions.
    static let pool = [
        "assignments.manage", "roles.create", "roles.update", "roles.delete", "users.manage", "apikeys.manage",
        "roles.read", "assignments.read",
        "connections.read", "connections.create", "integrations.read", "explorer.read", "discovery.run",
        "export.generate",
    ]
}

// MARK: - The model

/// Who granted a permission through an assignment, and whether they held it there at the time.
struct Grant {
    var by: String
    var step: Int
    var held: Bool
}

struct ModelRole {
    let id: String
    let name: String
    var permissions: Set<String>
    /// nil: tenant-wide.
    let workspace: String?
}

struct ModelAssignment {
    let id: String
    let principal: String
    let role: String
    /// A workspace, or "*" (tenant-wide).
    let scope: String
    var provenance: [String: Grant]
}

struct ModelPrincipal {
    let id: String
    let isKey: Bool
    /// An API key's own workspace ("the caller's workspace" when it acts); "default" for users.
    let workspace: String
    var secret: String = ""
    var username: String = ""
    var password: String = ""
}

struct ModelTenant {
    let id: String
    var workspaces: [String] = ["default"]
    var roles: [ModelRole] = []
    var assignments: [ModelAssignment] = []
    var principals: [ModelPrincipal] = []
    /// Deleted principal ids: unknown now, and never to be reused.
    var deleted: [String] = []
    var deletedRoles: [String] = []
    var deletedAssignments: [String] = []
    var counter = 0

    var keys: [ModelPrincipal] { principals.filter(\.isKey) }
    var users: [ModelPrincipal] { principals.filter { !$0.isKey } }
    func role(_ id: String) -> ModelRole? { roles.first { $0.id == id } }
    func principal(_ id: String) -> ModelPrincipal? { principals.first { $0.id == id } }
    func assignment(_ id: String) -> ModelAssignment? { assignments.first { $0.id == id } }
}

enum Actor: CustomStringConvertible {
    case platform
    case key(String)

    var description: String {
        switch self {
        case .platform: "platform-admin"
        case .key(let id): "key:\(id)"
        }
    }
}

enum Op: CustomStringConvertible {
    case createRole(name: String, permissions: [String], workspace: String?)
    case updateRole(id: String, permissions: [String])
    case deleteRole(id: String)
    case createAssignment(principal: String, role: String, scope: String)
    case deleteAssignment(id: String)
    case resetPassword(user: String, password: String)
    case deleteUser(id: String)
    case deleteKey(id: String)
    case createUser(id: String, username: String, password: String)
    case createKey(name: String, workspace: String)
    case createWorkspace(id: String)

    var description: String {
        switch self {
        case .createRole(let name, let permissions, let workspace):
            "createRole(name: \(name), permissions: \(permissions), workspace: \(workspace ?? "<tenant-wide>"))"
        case .updateRole(let id, let permissions): "updateRole(\(id), permissions: \(permissions))"
        case .deleteRole(let id): "deleteRole(\(id))"
        case .createAssignment(let principal, let role, let scope):
            "createAssignment(principal: \(principal), role: \(role), workspace: \(scope))"
        case .deleteAssignment(let id): "deleteAssignment(\(id))"
        case .resetPassword(let user, _): "resetPassword(\(user))"
        case .deleteUser(let id): "deleteUser(\(id))"
        case .deleteKey(let id): "deleteKey(\(id))"
        case .createUser(let id, let username, _): "createUser(id: \(id), username: \(username))"
        case .createKey(let name, let workspace): "createKey(name: \(name), workspace: \(workspace))"
        case .createWorkspace(let id): "createWorkspace(\(id))"
        }
    }

    var kind: String { String(description.prefix { $0 != "(" }) }

    var request: (method: HTTPRequest.Method, path: String, body: [String: Any]?) {
        switch self {
        case .createRole(let name, let permissions, let workspace):
            var body: [String: Any] = ["name": name, "permissions": permissions]
            if let workspace { body["workspace_id"] = workspace }
            return (.post, "/v1/roles", body)
        case .updateRole(let id, let permissions): return (.put, "/v1/roles/\(id)", ["permissions": permissions])
        case .deleteRole(let id): return (.delete, "/v1/roles/\(id)", nil)
        case .createAssignment(let principal, let role, let scope):
            return (.post, "/v1/assignments", ["user_id": principal, "role_id": role, "workspace_id": scope])
        case .deleteAssignment(let id): return (.delete, "/v1/assignments/\(id)", nil)
        case .resetPassword(let user, let password): return (.put, "/v1/users/\(user)/password", ["password": password])
        case .deleteUser(let id): return (.delete, "/v1/users/\(id)", nil)
        case .deleteKey(let id): return (.delete, "/v1/api-keys/\(id)", nil)
        case .createUser(let id, let username, let password):
            return (.post, "/v1/users", ["username": username, "password": password, "user_id": id])
        case .createKey(let name, let workspace):
            return (.post, "/v1/api-keys", ["name": name, "workspace_id": workspace])
        case .createWorkspace(let id): return (.post, "/v1/workspaces", ["workspace_id": id, "name": id.uppercased()])
        }
    }
}

/// The status classes of SPEC 3 the admin plane answers with, in the product's precedence.
enum Outcome: String {
    case notFound = "404"
    case invalid = "400"
    case forbidden = "403"
    case conflict = "409"
    case success = "2xx"

    init?(status: Int) {
        switch status {
        case 200..<300: self = .success
        case 400: self = .invalid
        case 403: self = .forbidden
        case 404: self = .notFound
        case 409: self = .conflict
        default: return nil
        }
    }
}

/// The oracle: the state the product should be in, and the answer SPEC 4.1 gives for each request.
struct Oracle {
    /// Every permission the registry lists (what `admin` and `connections.*` expand to).
    var registered: Set<String>
    var tenants: [ModelTenant]

    // MARK: Permissions

    func systemPermissions(_ role: String) -> Set<String>? {
        switch role {
        case "admin": return registered.union(Contract.tenantIAM).filter { !Contract.isPlatformOnly($0) }
        case "viewer": return Contract.viewer
        case "auditor": return Contract.auditor
        case "connector_builder":
            return registered.filter { $0.hasPrefix("connections.") }.union([
                "integrations.read", "discovery.run", "discovery.read", "discovery.history.read", "explorer.read",
            ])
        default: return nil
        }
    }

    /// The permissions of role `id` in tenant `t`: system or custom; nil when the tenant has no such role.
    func permissions(ofRole id: String, _ t: Int) -> Set<String>? {
        systemPermissions(id) ?? tenants[t].role(id)?.permissions
    }

    /// SPEC 4: the permissions of `principal` in workspace `workspace` (its roles assigned there or tenant-wide), or
    /// with `workspace` "*" what it holds tenant-wide (through tenant-wide assignments only).
    func held(_ principal: String, _ t: Int, in workspace: String) -> Set<String> {
        var result: Set<String> = []
        for assignment in tenants[t].assignments where assignment.principal == principal {
            guard assignment.scope == "*" || assignment.scope == workspace else { continue }
            if let limited = tenants[t].role(assignment.role)?.workspace, limited != workspace { continue }
            result.formUnion(permissions(ofRole: assignment.role, t) ?? [])
        }
        return result
    }

    func holds(_ actor: Actor, _ t: Int, in scope: String, _ needed: Set<String>) -> Bool {
        switch actor {
        case .platform: return true  // platform_admin: every permission, tenant-wide, in every tenant
        case .key(let id): return needed.isSubset(of: held(id, t, in: scope))
        }
    }

    func callerWorkspace(_ actor: Actor, _ t: Int) -> String {
        switch actor {
        case .platform: return "default"
        case .key(let id): return tenants[t].principal(id)?.workspace ?? "default"
        }
    }

    func isAcceptable(_ permission: String) -> Bool {
        registered.union(Contract.tenantIAM).contains(permission) && !Contract.isPlatformOnly(permission)
    }

    /// SPEC 4.1, custom roles: the workspaces (or "*") where a change to `role` must be covered.
    func scopes(ofChangeTo role: ModelRole, by actor: Actor, _ t: Int) -> [String] {
        if let workspace = role.workspace { return [workspace] }
        var scopes = [callerWorkspace(actor, t)]
        for assignment in tenants[t].assignments where assignment.role == role.id && !scopes.contains(assignment.scope)
        {
            scopes.append(assignment.scope)
        }
        return scopes
    }

    /// SPEC 4.1, acting on an existing principal with management permission `permission`.
    func mayActOn(_ target: ModelPrincipal, by actor: Actor, _ t: Int, with permission: String) -> Bool {
        var scopes: [String] = []
        for assignment in tenants[t].assignments
        where assignment.principal == target.id && !scopes.contains(assignment.scope) {
            scopes.append(assignment.scope)
        }
        if scopes.isEmpty {
            return holds(actor, t, in: target.isKey ? target.workspace : "*", [permission])
        }
        return scopes.allSatisfy { holds(actor, t, in: $0, held(target.id, t, in: $0).union([permission])) }
    }

    // MARK: Prediction

    func predict(_ op: Op, by actor: Actor, in t: Int) -> Outcome {
        let tenant = tenants[t]
        switch op {
        case .createRole(let name, let permissions, let workspace):
            if !permissions.allSatisfy(isAcceptable) { return .invalid }
            if let workspace, !tenant.workspaces.contains(workspace) { return .invalid }
            let scope = workspace ?? callerWorkspace(actor, t)
            guard holds(actor, t, in: scope, Set(permissions).union(["roles.create"])) else { return .forbidden }
            if tenant.roles.contains(where: { $0.name == name }) { return .conflict }
            return .success

        case .updateRole(let id, let permissions):
            if Contract.systemRoles.contains(id) { return .forbidden }
            guard let role = tenant.role(id) else { return .notFound }
            if !permissions.allSatisfy(isAcceptable) { return .invalid }
            let concerned = role.permissions.union(permissions).union(["roles.update"])
            guard scopes(ofChangeTo: role, by: actor, t).allSatisfy({ holds(actor, t, in: $0, concerned) }) else {
                return .forbidden
            }
            return .success

        case .deleteRole(let id):
            if Contract.systemRoles.contains(id) { return .forbidden }
            guard let role = tenant.role(id) else { return .notFound }
            let concerned = role.permissions.union(["roles.delete"])
            guard scopes(ofChangeTo: role, by: actor, t).allSatisfy({ holds(actor, t, in: $0, concerned) }) else {
                return .forbidden
            }
            if tenant.assignments.contains(where: { $0.role == id }) { return .conflict }
            return .success

        case .createAssignment(let principal, let roleID, let scope):
            if !Contract.isValidID(principal) { return .invalid }
            guard tenant.principal(principal) != nil, let permissions = self.permissions(ofRole: roleID, t) else {
                return .notFound
            }
            guard scope == "*" || tenant.workspaces.contains(scope) else { return .notFound }
            if let limited = tenant.role(roleID)?.workspace, limited != scope { return .invalid }
            guard holds(actor, t, in: scope, permissions.union(["assignments.manage"])) else { return .forbidden }
            if tenant.assignments.contains(where: {
                $0.principal == principal && $0.role == roleID && $0.scope == scope
            }) {
                return .conflict
            }
            return .success

        case .deleteAssignment(let id):
            guard let assignment = tenant.assignment(id) else { return .notFound }
            let permissions = self.permissions(ofRole: assignment.role, t) ?? []
            guard holds(actor, t, in: assignment.scope, permissions.union(["assignments.manage"])) else {
                return .forbidden
            }
            return .success

        case .resetPassword(let user, _), .deleteUser(let user):
            guard let target = tenant.principal(user), !target.isKey else { return .notFound }
            return mayActOn(target, by: actor, t, with: "users.manage") ? .success : .forbidden

        case .deleteKey(let id):
            guard let target = tenant.principal(id), target.isKey else { return .notFound }
            return mayActOn(target, by: actor, t, with: "apikeys.manage") ? .success : .forbidden

        case .createUser(let id, let username, _):
            guard holds(actor, t, in: callerWorkspace(actor, t), ["users.manage"]) else { return .forbidden }
            if tenant.principals.contains(where: { $0.id == id || (!$0.isKey && $0.username == username) })
                || tenant.deleted.contains(id)
            {
                return .conflict
            }
            return .success

        case .createKey(_, let workspace):
            guard tenant.workspaces.contains(workspace) else { return .notFound }
            return holds(actor, t, in: workspace, ["apikeys.manage"]) ? .success : .forbidden

        case .createWorkspace(let id):
            guard holds(actor, t, in: "*", ["workspaces.manage"]) else { return .forbidden }
            return tenant.workspaces.contains(id) ? .conflict : .success
        }
    }

    // MARK: Applying a successful operation

    /// Whether `actor` holds `permission` in `scope` now (for provenance; computed before the change is applied).
    func grant(_ permission: String, by actor: Actor, _ t: Int, in scope: String, step: Int) -> Grant {
        Grant(by: actor.description, step: step, held: holds(actor, t, in: scope, [permission]))
    }

    mutating func apply(_ op: Op, by actor: Actor, in t: Int, reply: JSONReply, step: Int) throws {
        func required(_ key: String) throws -> String {
            guard let value = reply.string(key), !value.isEmpty else {
                throw TestFailure("the \(op.kind) answer has no \(key): \(reply.text)")
            }
            return value
        }
        switch op {
        case .createRole(let name, let permissions, let workspace):
            tenants[t].roles.append(
                ModelRole(id: try required("role_id"), name: name, permissions: Set(permissions), workspace: workspace))

        case .updateRole(let id, let permissions):
            guard let index = tenants[t].roles.firstIndex(where: { $0.id == id }) else { return }
            let old = tenants[t].roles[index].permissions
            let new = Set(permissions)
            for a in tenants[t].assignments.indices where tenants[t].assignments[a].role == id {
                let scope = tenants[t].assignments[a].scope
                for removed in old.subtracting(new) { tenants[t].assignments[a].provenance[removed] = nil }
                for added in new.subtracting(old) {
                    tenants[t].assignments[a].provenance[added] = grant(added, by: actor, t, in: scope, step: step)
                }
            }
            tenants[t].roles[index].permissions = new

        case .deleteRole(let id):
            tenants[t].roles.removeAll { $0.id == id }
            tenants[t].deletedRoles.append(id)

        case .createAssignment(let principal, let role, let scope):
            var provenance: [String: Grant] = [:]
            for permission in permissions(ofRole: role, t) ?? [] {
                provenance[permission] = grant(permission, by: actor, t, in: scope, step: step)
            }
            tenants[t].assignments.append(
                ModelAssignment(
                    id: try required("assignment_id"), principal: principal, role: role, scope: scope,
                    provenance: provenance))

        case .deleteAssignment(let id):
            tenants[t].assignments.removeAll { $0.id == id }
            tenants[t].deletedAssignments.append(id)

        case .resetPassword(let user, let password):
            if let index = tenants[t].principals.firstIndex(where: { $0.id == user }) {
                tenants[t].principals[index].password = password
            }

        case .deleteUser(let id), .deleteKey(let id):
            tenants[t].principals.removeAll { $0.id == id }
            tenants[t].deleted.append(id)
            for assignment in tenants[t].assignments where assignment.principal == id {
                tenants[t].deletedAssignments.append(assignment.id)
            }
            tenants[t].assignments.removeAll { $0.principal == id }

        case .createUser(let id, let username, let password):
            tenants[t].principals.append(
                ModelPrincipal(id: id, isKey: false, workspace: "default", username: username, password: password))

        case .createKey(_, let workspace):
            tenants[t].principals.append(
                ModelPrincipal(
                    id: try required("key_id"), isKey: true, workspace: workspace, secret: try required("api_key")))

        case .createWorkspace(let id):
            // Tenant-wide assignments reach it at once ("present and future"); the next check covers it.
            tenants[t].workspaces.append(id)
        }
    }
}

// MARK: - The run

/// A request ready to send from any task.
struct PreparedRequest: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var body: String?
    var headers: HTTPFields
    var bearer: String?
    var tenantHeader: String?

    func send(_ client: any TestClientProtocol) async throws -> RawReply {
        let reply = try await client.send(method, path, raw: body, headers: headers, bearer: bearer)
        return RawReply(status: reply.status, headers: reply.headers, text: reply.text)
    }
}

/// A reply that crosses tasks; `reply` parses it.
struct RawReply: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String

    var reply: JSONReply {
        let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return JSONReply(status: status, headers: headers, json: json, text: text)
    }
}

struct ModelFailure: Error, CustomStringConvertible {
    var description: String
}

/// One run of the model against one gateway.
final class ModelRun {
    static let tenantHeader = HTTPField.Name("X-Tenant-Id")!
    static let apiKeyHeader = HTTPField.Name("X-API-Key")!
    static let tenantIDs = ["t1", "t2"]

    let client: any TestClientProtocol
    /// A second replica on the same store (PostgreSQL), which one side of each race is sent to.
    let secondClient: (any TestClientProtocol)?
    /// The first replica's change notifications, with a second replica: its caches converge as it reloads.
    let changes: ObservedChangeNotifier?
    let store: String
    let seed: UInt64
    let operations: Int
    var rng: ModelRNG
    var oracle = Oracle(registered: [], tenants: [])
    var platformToken = ""
    var step = 0
    var phase = "setup"
    var recent: [String] = []
    var tally: [String: Int] = [:]
    var checks = 0

    init(
        client: any TestClientProtocol, secondClient: (any TestClientProtocol)?, changes: ObservedChangeNotifier?,
        store: String, seed: UInt64, operations: Int
    ) {
        self.client = client
        self.secondClient = secondClient
        self.changes = changes
        self.store = store
        self.seed = seed
        self.operations = operations
        self.rng = ModelRNG(seed: seed)
    }

    /// Runs the model; a disagreement is recorded as one issue naming the seed, and ends the run.
    static func execute(
        client: any TestClientProtocol, secondClient: (any TestClientProtocol)? = nil,
        changes: ObservedChangeNotifier? = nil, store: String, seed: UInt64, operations: Int
    ) async throws {
        let run = ModelRun(
            client: client, secondClient: secondClient, changes: changes, store: store, seed: seed,
            operations: operations)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await run.run()
            let tally = run.tally.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            print(
                "AuthorizationModel[\(store)] seed=\(seed): \(operations) operations, \(run.checks) permission checks in \(clock.now - start); \(tally)"
            )
        } catch let failure as ModelFailure {
            Issue.record("\(failure.description)")
        } catch {
            Issue.record(
                "AuthorizationModel[\(store)] seed=\(seed) step=\(run.step) (\(run.phase)): \(error)\nrecent:\n\(run.recent.joined(separator: "\n"))"
            )
        }
    }

    func fail(_ message: String) -> ModelFailure {
        ModelFailure(
            description: """
                AuthorizationModel[\(store)] seed=\(seed) step=\(step) (\(phase)); rerun with IAM_MODEL_SEED=\(seed)
                \(message)
                recent operations (oldest first):
                \(recent.joined(separator: "\n"))
                """)
    }

    func note(_ line: String) {
        recent.append(line)
        if recent.count > 12 { recent.removeFirst() }
    }

    // MARK: Requests

    func headers(_ actor: Actor, tenant: String?) -> (HTTPFields, String?) {
        var headers: HTTPFields = [:]
        if let tenant { headers[Self.tenantHeader] = tenant }
        switch actor {
        case .platform: return (headers, platformToken)
        case .key(let id):
            for t in oracle.tenants.indices {
                if let key = oracle.tenants[t].principal(id) { headers[Self.apiKeyHeader] = key.secret }
            }
            return (headers, nil)
        }
    }

    /// The HTTP request of `op` by `actor` (a platform admin names the tenant it acts in).
    func prepare(_ op: Op, by actor: Actor, in t: Int, tenantHeader: String? = nil) throws -> PreparedRequest {
        let header: String? = if case .platform = actor { Self.tenantIDs[t] } else { tenantHeader }
        let (headers, bearer) = headers(actor, tenant: header)
        let request = op.request
        let body = try request.body.map {
            String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self)
        }
        return PreparedRequest(
            method: request.method, path: request.path, body: body, headers: headers, bearer: bearer,
            tenantHeader: header)
    }

    /// Sends `op` as `actor`, compares the status with the prediction, and applies a success to the model; then
    /// (`verify`) checks the keys whose permissions it changed.
    @discardableResult
    func perform(
        _ op: Op, by actor: Actor, in t: Int, tenantHeader: String? = nil, expected: Outcome? = nil, verify: Bool = true
    ) async throws -> Bool {
        let expected = expected ?? oracle.predict(op, by: actor, in: t)
        let prepared = try prepare(op, by: actor, in: t, tenantHeader: tenantHeader)
        let header = prepared.tenantHeader
        let reply = try await prepared.send(client).reply
        let actual = Outcome(status: Int(reply.status.code))
        let line =
            "step=\(step) tenant=\(Self.tenantIDs[t])\(header.map { " X-Tenant-Id=\($0)" } ?? "") actor=\(actor) \(op) -> \(reply.status.code) (expected \(expected.rawValue))"
        note(line)
        tally["\(op.kind).\(expected == .success ? "ok" : expected.rawValue)", default: 0] += 1
        guard actual == expected else {
            throw fail(
                """
                op: \(op) by \(actor) in tenant \(Self.tenantIDs[t])\(header.map { " with X-Tenant-Id: \($0)" } ?? "")
                expected: \(expected.rawValue)  actual: \(reply.status.code) \(reply.text)
                \(explain(actor, t, op))
                """)
        }
        guard expected == .success else { return false }
        let affected = affectedPrincipals(op, in: t)
        try oracle.apply(op, by: actor, in: t, reply: reply, step: step)
        if verify {
            var only = affected
            if case .createKey = op, let key = oracle.tenants[t].keys.last { only?.append(key.id) }
            try await checkKeys(t, only: only)
        }
        return true
    }

    /// The principals whose permissions `op` changes (nil: anyone's, for a new workspace); computed before it is
    /// applied. The periodic full check covers everyone else.
    func affectedPrincipals(_ op: Op, in t: Int) -> [String]? {
        let tenant = oracle.tenants[t]
        switch op {
        case .createAssignment(let principal, _, _): return [principal]
        case .deleteAssignment(let id): return tenant.assignment(id).map { [$0.principal] } ?? []
        case .updateRole(let id, _): return tenant.assignments.filter { $0.role == id }.map(\.principal)
        case .createWorkspace: return nil
        default: return []
        }
    }

    /// The model's view of the principals and roles `op` involves, for failure messages.
    func explain(_ actor: Actor, _ t: Int, _ op: Op? = nil) -> String {
        let tenant = oracle.tenants[t]
        var lines: [String] = []
        func role(_ id: String) -> String {
            if let custom = tenant.role(id) {
                return
                    "\(id) [\(custom.workspace.map { "limited to \($0)" } ?? "tenant-wide")] \(custom.permissions.sorted())"
            }
            return
                "\(id) \(oracle.systemPermissions(id).map { "[system] \($0.sorted())" } ?? "[unknown in \(tenant.id)]")"
        }
        func principal(_ id: String, _ title: String) {
            guard let p = tenant.principal(id) else {
                return lines.append(
                    "\(title) \(id): unknown in \(tenant.id)\(tenant.deleted.contains(id) ? " (deleted)" : "")")
            }
            lines.append(
                "\(title) \(p.isKey ? "key" : "user") \(id)\(p.isKey ? " (own workspace \(p.workspace))" : ""), per the model:"
            )
            for a in tenant.assignments where a.principal == id {
                lines.append("  assignment \(a.id): \(role(a.role)) @\(a.scope)")
            }
            for scope in tenant.workspaces + ["*"] {
                lines.append("  holds in \(scope): \(oracle.held(id, t, in: scope).sorted())")
            }
        }
        if case .key(let id) = actor { principal(id, "actor") } else { lines.append("actor: platform admin") }
        switch op {
        case .updateRole(let id, _)?, .deleteRole(let id)?:
            lines.append(
                "role \(role(id)); assigned: "
                    + tenant.assignments.filter { $0.role == id }.map { "\($0.principal)@\($0.scope)" }.joined(
                        separator: ", "))
        case .createAssignment(let p, let r, _)?:
            principal(p, "target")
            lines.append("role \(role(r))")
        case .deleteAssignment(let id)?:
            if let a = tenant.assignment(id) {
                lines.append("assignment \(id): \(a.principal) \(role(a.role)) @\(a.scope)")
            } else if let a = oracle.tenants[1 - t].assignment(id) {
                lines.append(
                    "assignment \(id): unknown in \(tenant.id); it is tenant \(oracle.tenants[1 - t].id)'s: \(a.principal) \(a.role) @\(a.scope)"
                )
            } else {
                lines.append(
                    "assignment \(id): unknown in \(tenant.id)\(tenant.deletedAssignments.contains(id) ? " (deleted)" : "")"
                )
            }
        case .resetPassword(let id, _)?, .deleteUser(let id)?, .deleteKey(let id)?:
            principal(id, "target")
        case .createUser(let id, _, _)?:
            if tenant.principal(id) != nil || tenant.deleted.contains(id) {
                principal(id, "existing or deleted principal")
            }
        default: break
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Setup

    func run() async throws {
        platformToken = try await client.token()
        let permissions = try await client.send(.get, "/v1/permissions", bearer: platformToken)
        guard permissions.status == .ok else {
            throw fail("GET /v1/permissions as platform admin: \(permissions.status) \(permissions.text)")
        }
        let names = ((permissions["permissions"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
        oracle.registered = Set(names)
        guard Contract.pool.allSatisfy(oracle.isAcceptable) else {
            throw fail("the registry lacks pool permissions: \(names.sorted())")
        }

        for (t, tenantID) in Self.tenantIDs.enumerated() {
            let created = try await client.send(
                .post, "/v1/tenants", json: ["tenant_id": tenantID, "name": tenantID.uppercased()],
                bearer: platformToken)
            guard created.status == .created else {
                throw fail("POST /v1/tenants \(tenantID): \(created.status) \(created.text)")
            }
            oracle.tenants.append(ModelTenant(id: tenantID))
            for workspace in ["w2", "w3"] {
                let reply = try await client.send(
                    .post, "/v1/workspaces", json: ["workspace_id": workspace, "name": workspace.uppercased()],
                    headers: [Self.tenantHeader: tenantID], bearer: platformToken)
                guard reply.status == .created else {
                    throw fail("POST /v1/workspaces \(tenantID)/\(workspace): \(reply.status) \(reply.text)")
                }
                oracle.tenants[t].workspaces.append(workspace)
            }
        }
        for t in oracle.tenants.indices {
            let workspaces = oracle.tenants[t].workspaces
            for _ in 0..<3 {
                let limited = rng.chance(0.5) ? rng.pick(workspaces) : nil
                try await perform(
                    .createRole(
                        name: freshName(t, "setup-role"), permissions: rng.subset(Contract.pool, 1, 5),
                        workspace: limited), by: .platform, in: t, expected: .success)
            }
            for n in 0..<5 {
                try await perform(
                    .createKey(name: "actor-\(n)", workspace: rng.pick(workspaces)!), by: .platform, in: t,
                    expected: .success)
            }
            for _ in 0..<3 {
                let id = freshID(t, "u")
                try await perform(
                    .createUser(id: id, username: "user-\(id)", password: freshPassword()), by: .platform, in: t,
                    expected: .success)
            }
            // Initial roles: one key is a tenant admin, one an admin of its own workspace; the rest random.
            let keys = oracle.tenants[t].keys
            try await perform(
                .createAssignment(principal: keys[0].id, role: "admin", scope: "*"), by: .platform, in: t,
                expected: .success)
            try await perform(
                .createAssignment(principal: keys[1].id, role: "admin", scope: keys[1].workspace), by: .platform, in: t,
                expected: .success)
            for principal in oracle.tenants[t].principals.dropFirst() {
                for _ in 0..<rng.int(principal.isKey ? 1...3 : 0...2) {
                    let (role, scope) = randomValidGrant(t)
                    let op = Op.createAssignment(principal: principal.id, role: role, scope: scope)
                    try await perform(op, by: .platform, in: t)
                }
            }
        }
        phase = "initial check"
        try await checkEveryone()

        phase = "random operations"
        for _ in 0..<operations {
            step += 1
            try await randomStep()
            if step % 50 == 0 { try await checkEveryone() }
        }
        phase = "final check"
        try await checkEveryone()
    }

    /// One step: a platform admin's grant (8%), a race of two writes (8%), a request naming the other tenant (4%), or
    /// one random write by a random key.
    func randomStep() async throws {
        let t = rng.int(0...1)
        let keys = oracle.tenants[t].keys
        if keys.count < 3 || rng.chance(0.08) {
            return try await platformStep(t)
        }
        if rng.chance(0.08) {
            return try await raceStep(t)
        }
        let actor = Actor.key(rng.pick(keys)!.id)
        if rng.chance(0.04) {
            // Naming the other tenant: 403 for anyone but a platform admin, whatever the request.
            let other = 1 - t
            let op = generate(in: other, by: actor)
            try await perform(op, by: actor, in: other, tenantHeader: Self.tenantIDs[other], expected: .forbidden)
            return
        }
        let op = generate(in: t, by: actor)
        let header = rng.chance(0.03) ? Self.tenantIDs[t] : nil  // naming its own tenant changes nothing
        try await perform(op, by: actor, in: t, tenantHeader: header)
    }

    // MARK: Races

    /// Two writes sent at once (to the second replica too when there is one). SPEC 4.1: each check and its write are
    /// one serializable unit, so the two answers must be those of one of the two serial orders, and the state after
    /// them that order's state. The races are chosen to be dangerous: a role update against an assignment of that
    /// role (together they could grant what neither check saw), a role or principal deletion against an assignment
    /// of it, the same assignment twice, or two random writes.
    func raceStep(_ t: Int) async throws {
        guard let (first, second, kind) = generateRace(t) else { return }
        let requests = [try prepare(first.0, by: first.1, in: t), try prepare(second.0, by: second.1, in: t)]
        let clientA = client
        let clientB = secondClient ?? client
        async let replyA = requests[0].send(clientA)
        async let replyB = requests[1].send(clientB)
        let raw = try await [replyA, replyB]
        let replies = raw.map(\.reply)
        let steps = [(first.0, first.1, replies[0]), (second.0, second.1, replies[1])]
        var outcome = "none"
        var orders: [String] = []
        for (name, order) in [("AB", steps), ("BA", Array(steps.reversed()))] {
            var candidate = oracle
            var predictions: [Outcome] = []
            var consistent = true
            for (op, actor, reply) in order {
                let predicted = candidate.predict(op, by: actor, in: t)
                predictions.append(predicted)
                guard Outcome(status: reply.status.code) == predicted else {
                    consistent = false
                    continue
                }
                if consistent && predicted == .success {
                    do { try candidate.apply(op, by: actor, in: t, reply: reply, step: step) } catch {
                        consistent = false
                    }
                }
            }
            orders.append("\(name): \(predictions.map(\.rawValue).joined(separator: ", "))")
            if consistent && outcome == "none" {
                oracle = candidate
                outcome = name
            }
        }
        let line =
            "step=\(step) tenant=\(Self.tenantIDs[t]) race[\(kind)] A: \(first.1) \(first.0) -> \(replies[0].status.code) | B: \(second.1) \(second.0) -> \(replies[1].status.code)\(secondClient == nil ? "" : " (B on replica 2)") [\(outcome)]"
        note(line)
        tally[
            "race.\(kind).\(replies.map { Outcome(status: $0.status.code)?.rawValue ?? "\($0.status.code)" }.joined(separator: "+"))",
            default: 0] += 1
        guard outcome != "none" else {
            throw fail(
                """
                two concurrent writes answered as no serial order would (SPEC 4.1: each check and its write are one serializable unit)
                A: \(first.0) by \(first.1) -> \(replies[0].status.code) \(replies[0].text)
                B: \(second.0) by \(second.1) -> \(replies[1].status.code) \(replies[1].text)
                serial orders predict: \(orders.joined(separator: "; "))
                \(explain(first.1, t, first.0))
                \(explain(second.1, t, second.0))
                """)
        }
        if replies.contains(where: { $0.status.code < 300 }) {
            try await converge {
                try await self.checkStore(
                    t,
                    after:
                        "race[\(kind)] at step \(self.step), whose answers fit serial order \(outcome), so the state must be that order's"
                )
                try await self.checkKeys(t)
            }
        }
    }

    /// Runs `check`; with a second replica, runs it again after each reload the first replica finishes (the
    /// second one's writes reach its caches through change notifications) until it passes, for up to 3 s.
    func converge(_ check: () async throws -> Void) async throws {
        guard secondClient != nil, let changes else { return try await check() }
        let deadline = ContinuousClock.now + .seconds(3)
        while true {
            let reloads = changes.counts.totalReloaded
            do { return try await check() } catch is ModelFailure where ContinuousClock.now < deadline {
                _ = await changes.wait(until: deadline) { $0.totalReloaded > reloads }
            }
        }
    }

    /// A pair of writes that would each succeed alone, of one of the dangerous kinds (or two random writes).
    func generateRace(_ t: Int) -> ((Op, Actor), (Op, Actor), String)? {
        let tenant = oracle.tenants[t]
        let keys = tenant.keys.map { Actor.key($0.id) }
        guard keys.count >= 2 else { return nil }
        func actor() -> Actor { rng.chance(0.25) ? .platform : rng.pick(keys)! }
        func alone(_ op: Op, _ actor: Actor) -> Bool { oracle.predict(op, by: actor, in: t) == .success }
        func sampled(_ make: () -> ((Op, Actor), (Op, Actor))?) -> ((Op, Actor), (Op, Actor))? {
            for _ in 0..<30 {
                if let pair = make(), alone(pair.0.0, pair.0.1), alone(pair.1.0, pair.1.1) { return pair }
            }
            return nil
        }
        let kind = rng.int(0...99)
        var pair: ((Op, Actor), (Op, Actor))?
        var name = ""
        switch kind {
        case 0..<35:
            name = "update+assign"
            pair = sampled {
                guard let role = self.rng.pick(tenant.roles) else { return nil }
                let added = self.rng.subset(Contract.pool.filter { !role.permissions.contains($0) }, 1, 2)
                let update = Op.updateRole(id: role.id, permissions: role.permissions.union(added).sorted())
                let scope = role.workspace ?? (self.rng.chance(0.3) ? "*" : self.rng.pick(tenant.workspaces)!)
                guard let principal = self.rng.pick(tenant.principals) else { return nil }
                return (
                    (update, actor()),
                    (.createAssignment(principal: principal.id, role: role.id, scope: scope), self.rng.pick(keys)!)
                )
            }
        case 35..<55:
            name = "deleteRole+assign"
            pair = sampled {
                guard let role = self.rng.pick(tenant.roles), let principal = self.rng.pick(tenant.principals) else {
                    return nil
                }
                let scope = role.workspace ?? (self.rng.chance(0.3) ? "*" : self.rng.pick(tenant.workspaces)!)
                return (
                    (.deleteRole(id: role.id), actor()),
                    (.createAssignment(principal: principal.id, role: role.id, scope: scope), actor())
                )
            }
        case 55..<70:
            name = "deletePrincipal+assign"
            pair = sampled {
                let assigner = actor()
                guard
                    let target = self.rng.pick(
                        tenant.principals.filter { p in
                            if case .key(let id) = assigner { return p.id != id } else { return true }
                        })
                else { return nil }
                let deleter = actor()
                if case .key(let id) = deleter, id == target.id { return nil }
                let (role, scope) = self.randomValidGrant(t)
                let delete: Op = target.isKey ? .deleteKey(id: target.id) : .deleteUser(id: target.id)
                return (
                    (delete, deleter), (.createAssignment(principal: target.id, role: role, scope: scope), assigner)
                )
            }
        case 70..<80:
            name = "assign+assign"
            pair = sampled {
                guard let principal = self.rng.pick(tenant.principals) else { return nil }
                let (role, scope) = self.randomValidGrant(t)
                let op = Op.createAssignment(principal: principal.id, role: role, scope: scope)
                return ((op, actor()), (op, actor()))
            }
        default:
            name = "random"
            let a = rng.pick(keys)!
            let b = rng.pick(keys)!
            let opA = generate(in: t, by: a)
            let opB = generate(in: t, by: b)
            // A key deleted while it acts answers 401, which no model order covers: not a race of interest.
            for (op, other) in [(opA, b), (opB, a)] {
                if case .deleteKey(let id) = op, case .key(let actorID) = other, actorID == id { return nil }
            }
            pair = ((opA, a), (opB, b))
        }
        guard let pair else { return nil }
        return rng.chance(0.5) ? (pair.0, pair.1, name) : (pair.1, pair.0, name)
    }

    func freshID(_ t: Int, _ prefix: String) -> String {
        oracle.tenants[t].counter += 1
        return "\(Self.tenantIDs[t])-\(prefix)\(oracle.tenants[t].counter)"
    }

    func freshName(_ t: Int, _ prefix: String) -> String { freshID(t, prefix) }

    func freshPassword() -> String { "pw-\(String(rng.next(), radix: 36))-\(String(rng.next(), radix: 36))" }

    /// A role and a scope it may be assigned in (any role; a limited role in its workspace).
    func randomValidGrant(_ t: Int) -> (String, String) {
        let tenant = oracle.tenants[t]
        let roles = Contract.systemRoles + tenant.roles.map(\.id)
        let role = rng.pick(roles)!
        if let limited = tenant.role(role)?.workspace { return (role, limited) }
        return (role, rng.chance(0.3) ? "*" : rng.pick(tenant.workspaces)!)
    }

    /// The platform admin keeps the world moving: new keys when few are left, grants, and roles.
    func platformStep(_ t: Int) async throws {
        let tenant = oracle.tenants[t]
        if tenant.keys.count < 5 && rng.chance(0.5) {
            try await perform(
                .createKey(name: "actor-\(freshID(t, "k"))", workspace: rng.pick(tenant.workspaces)!), by: .platform,
                in: t)
        } else if rng.chance(0.7), let principal = rng.pick(tenant.principals) {
            let (role, scope) = randomValidGrant(t)
            try await perform(
                .createAssignment(principal: principal.id, role: role, scope: scope), by: .platform, in: t)
        } else if rng.chance(0.5), let assignment = rng.pick(tenant.assignments) {
            try await perform(.deleteAssignment(id: assignment.id), by: .platform, in: t)
        } else {
            let limited = rng.chance(0.5) ? rng.pick(tenant.workspaces) : nil
            try await perform(
                .createRole(
                    name: freshName(t, "role"), permissions: rng.subset(Contract.pool, 0, 5), workspace: limited),
                by: .platform, in: t)
        }
    }

    // MARK: Generating operations

    /// Permissions for a role change: often ones the actor holds in `scope` (so that some succeed), sometimes any,
    /// rarely a platform-only or unknown one (400).
    func rolePermissions(for actor: Actor, _ t: Int, in scope: String) -> [String] {
        var permissions: [String]
        if case .key(let id) = actor, rng.chance(0.5) {
            let held = oracle.held(id, t, in: scope)
            permissions = rng.subset(Contract.pool.filter { held.contains($0) }, 0, 4)
        } else {
            permissions = rng.subset(Contract.pool, 0, 4)
        }
        if rng.chance(0.03) {
            permissions.append(rng.pick(["tenants.manage", "policy.read", "keys.rotate", "permissions.register"])!)
        }
        if rng.chance(0.02) { permissions.append("nope.unknown") }
        return permissions
    }

    /// A random operation in tenant `t`. Nearly half of the time the targets are drawn again (up to 8 times) until the
    /// model allows the operation, so that successes, and the states they lead to, are frequent too.
    func generate(in t: Int, by actor: Actor) -> Op {
        let roll = rng.int(0...99)
        if rng.chance(0.45) {
            for _ in 0..<8 {
                let op = generate(roll, in: t, by: actor)
                if oracle.predict(op, by: actor, in: t) == .success { return op }
            }
        }
        return generate(roll, in: t, by: actor)
    }

    /// An operation of the kind `roll` selects: mostly on real targets, sometimes unknown, deleted or foreign ones.
    func generate(_ roll: Int, in t: Int, by actor: Actor) -> Op {
        let tenant = oracle.tenants[t]
        let foreign = oracle.tenants[1 - t]
        let callerWorkspace = oracle.callerWorkspace(actor, t)
        switch roll {
        case 0..<16:
            let workspace = rng.chance(0.5) ? rng.pick(tenant.workspaces) : nil
            var name = freshName(t, "role")
            if rng.chance(0.05), let existing = rng.pick(tenant.roles) { name = existing.name }
            return .createRole(
                name: name, permissions: rolePermissions(for: actor, t, in: workspace ?? callerWorkspace),
                workspace: workspace)
        case 16..<31:
            let id = roleTarget(t)
            let scope = tenant.role(id)?.workspace ?? callerWorkspace
            var permissions = rolePermissions(for: actor, t, in: scope)
            // A system role is refused whatever the body says (403); keep its bodies valid so that no 400 competes.
            if Contract.systemRoles.contains(id) { permissions = permissions.filter(oracle.isAcceptable) }
            return .updateRole(id: id, permissions: permissions)
        case 31..<38:
            return .deleteRole(id: roleTarget(t))
        case 38..<63:
            var principal = rng.pick(tenant.principals)?.id ?? "nobody"
            var (role, scope) = randomValidGrant(t)
            switch rng.int(0...99) {
            case 0..<3: principal = rng.pick(tenant.deleted) ?? "ghost"
            case 3..<5: principal = rng.pick(foreign.principals)?.id ?? "ghost"
            case 5..<7: principal = "Not-Valid!"
            case 7..<10: role = rng.pick(Contract.platformRoles)!
            case 10..<12: role = rng.pick(tenant.deletedRoles + foreign.roles.map(\.id)) ?? "r-ghost"
            case 12..<14: scope = "nowhere"
            case 14..<20:
                // A workspace-limited role elsewhere than its workspace (400).
                if let limited = rng.pick(tenant.roles.filter { $0.workspace != nil }) {
                    role = limited.id
                    scope = rng.pick((tenant.workspaces + ["*"]).filter { $0 != limited.workspace })!
                }
            case 20..<28:
                // The same grant again (409 when allowed).
                if let existing = rng.pick(tenant.assignments) {
                    (principal, role, scope) = (existing.principal, existing.role, existing.scope)
                }
            default: break
            }
            return .createAssignment(principal: principal, role: role, scope: scope)
        case 63..<77:
            var id = rng.pick(tenant.assignments)?.id ?? "as-ghost"
            if rng.chance(0.06) {
                id = rng.pick(tenant.deletedAssignments + foreign.assignments.map(\.id)) ?? "as-ghost"
            }
            return .deleteAssignment(id: id)
        case 77..<86:
            var user = rng.pick(tenant.users)?.id ?? "ghost"
            if rng.chance(0.06) { user = rng.pick(tenant.deleted + foreign.users.map(\.id)) ?? "ghost" }
            return .resetPassword(user: user, password: freshPassword())
        case 86..<89:
            return .deleteUser(id: rng.pick(tenant.users)?.id ?? "ghost")
        case 89..<91:
            // Deleting a key (possibly the actor itself) is rarer: keys are the actors.
            return .deleteKey(id: rng.pick(tenant.keys)?.id ?? "ghost")
        case 91..<93:
            // A new workspace (at most 5 per tenant, then an existing id: 409 when allowed).
            let id = tenant.workspaces.count < 5 ? "w\(tenant.workspaces.count + 1)" : rng.pick(tenant.workspaces)!
            return .createWorkspace(id: id)
        case 93..<97:
            var id = freshID(t, "u")
            var username = "user-\(id)"
            if rng.chance(0.1) { id = rng.pick(tenant.deleted + tenant.keys.map(\.id)) ?? id }
            if rng.chance(0.05), let existing = rng.pick(tenant.users) { username = existing.username }
            return .createUser(id: id, username: username, password: freshPassword())
        default:
            return .createKey(name: "key-\(freshID(t, "k"))", workspace: rng.pick(tenant.workspaces)!)
        }
    }

    /// A role to change: mostly a custom role; sometimes a system, deleted or foreign one.
    func roleTarget(_ t: Int) -> String {
        let tenant = oracle.tenants[t]
        switch rng.int(0...99) {
        case 0..<5: return rng.pick(Contract.systemRoles)!
        case 5..<9: return rng.pick(tenant.deletedRoles + oracle.tenants[1 - t].roles.map(\.id)) ?? "r-ghost"
        default: return rng.pick(tenant.roles)?.id ?? rng.pick(Contract.systemRoles)!
        }
    }

    // MARK: Invariants

    /// Compares what `principal` reports holding in each workspace with the model, and checks each permission's
    /// provenance.
    func compare(_ principal: ModelPrincipal, _ t: Int, headers: HTTPFields, bearer: String?) async throws {
        for workspace in oracle.tenants[t].workspaces {
            checks += 1
            let me = try await client.send(.get, "/v1/me?workspace_id=\(workspace)", headers: headers, bearer: bearer)
            let expected = oracle.held(principal.id, t, in: workspace)
            guard me.status == .ok, let reported = me["permissions"] as? [String] else {
                throw fail(
                    "GET /v1/me?workspace_id=\(workspace) as \(principal.id) (tenant \(Self.tenantIDs[t])): \(me.status) \(me.text); expected permissions \(expected.sorted())"
                )
            }
            if Set(reported) != expected || me.string("workspace_id").map({ $0 != workspace }) == true {
                let missing = expected.subtracting(reported).sorted()
                let extra = Set(reported).subtracting(expected).sorted()
                throw fail(
                    """
                    GET /v1/me?workspace_id=\(workspace) as \(principal.isKey ? "key" : "user") \(principal.id) (tenant \(Self.tenantIDs[t])) disagrees with the model
                    expected: \(expected.sorted())
                    actual:   \(me.text)
                    missing: \(missing) extra: \(extra)
                    \(explain(.key(principal.id), t))
                    """)
            }
            for permission in reported {
                let justified = oracle.tenants[t].assignments.contains { assignment in
                    assignment.principal == principal.id && (assignment.scope == workspace || assignment.scope == "*")
                        && (oracle.tenants[t].role(assignment.role)?.workspace).map { $0 == workspace } != false
                        && (oracle.permissions(ofRole: assignment.role, t) ?? []).contains(permission)
                        && assignment.provenance[permission]?.held == true
                }
                if !justified {
                    let grants = oracle.tenants[t].assignments.filter { $0.principal == principal.id }.map {
                        "\($0.id) \($0.role)@\($0.scope): \($0.provenance[permission].map { "\($0.by) at step \($0.step) held=\($0.held)" } ?? "-")"
                    }
                    throw fail(
                        "\(principal.id) holds \(permission) in \(workspace) without a grant by someone who held it there: \(grants)"
                    )
                }
            }
        }
    }

    /// Every key of tenant `t` (or those in `only`): what it reports holding in each workspace.
    func checkKeys(_ t: Int, only: [String]? = nil) async throws {
        for key in oracle.tenants[t].keys where only.map({ $0.contains(key.id) }) ?? true {
            try await compare(key, t, headers: [Self.apiKeyHeader: key.secret], bearer: nil)
        }
    }

    /// The tenant's assignments and custom roles as the platform admin lists them (`GET /v1/assignments`,
    /// `GET /v1/roles`) equal the model's: this sees what no principal can report, such as an assignment left to a
    /// deleted principal.
    func checkStore(_ t: Int, after context: String) async throws {
        let scope: HTTPFields = [Self.tenantHeader: Self.tenantIDs[t]]
        let assignments = try await client.send(.get, "/v1/assignments", headers: scope, bearer: platformToken)
        guard assignments.status == .ok, let items = assignments["assignments"] as? [[String: Any]] else {
            throw fail(
                "GET /v1/assignments in \(Self.tenantIDs[t]) as platform admin: \(assignments.status) \(assignments.text)"
            )
        }
        func line(_ item: [String: Any]) -> String {
            "\(item["assignment_id"] as? String ?? "?"): \(item["user_id"] as? String ?? "?") \(item["role_id"] as? String ?? "?") @\(item["workspace_id"] as? String ?? "?")"
        }
        let listed = Set(items.map(line))
        let modelled = Set(oracle.tenants[t].assignments.map { "\($0.id): \($0.principal) \($0.role) @\($0.scope)" })
        if listed != modelled {
            throw fail(
                """
                after \(context): the assignments of tenant \(Self.tenantIDs[t]) differ from the model's
                listed, not in the model: \(listed.subtracting(modelled).sorted())
                in the model, not listed: \(modelled.subtracting(listed).sorted())
                deleted principals (model): \(oracle.tenants[t].deleted)
                """)
        }
        let roles = try await client.send(.get, "/v1/roles", headers: scope, bearer: platformToken)
        guard roles.status == .ok, let roleItems = roles["roles"] as? [[String: Any]] else {
            throw fail("GET /v1/roles in \(Self.tenantIDs[t]) as platform admin: \(roles.status) \(roles.text)")
        }
        let listedRoles = Set(
            roleItems.filter { ($0["system"] as? Bool) != true }.map { item in
                let workspace = (item["workspace_id"] as? String).flatMap { $0 == "*" ? nil : $0 } ?? "<tenant-wide>"
                return
                    "\(item["role_id"] as? String ?? "?") [\(workspace)] \(((item["permissions"] as? [String]) ?? []).sorted())"
            })
        let modelledRoles = Set(
            oracle.tenants[t].roles.map { "\($0.id) [\($0.workspace ?? "<tenant-wide>")] \($0.permissions.sorted())" })
        if listedRoles != modelledRoles {
            throw fail(
                """
                after \(context): the custom roles of tenant \(Self.tenantIDs[t]) differ from the model's
                listed, not in the model: \(listedRoles.subtracting(modelledRoles).sorted())
                in the model, not listed: \(modelledRoles.subtracting(listedRoles).sorted())
                """)
        }
    }

    /// Every key, and every user with an assignment (logged in with the password the model says it has); the
    /// tenants' assignments and roles.
    func checkEveryone() async throws {
        for t in oracle.tenants.indices {
            try await checkStore(t, after: "step \(step)")
            try await checkKeys(t)
            for user in oracle.tenants[t].users {
                let scopes = oracle.tenants[t].assignments.filter { $0.principal == user.id }.map(\.scope)
                guard let first = scopes.first else { continue }
                let workspace = first == "*" ? "default" : first
                let login = try await client.login(
                    tenant: Self.tenantIDs[t], workspace: workspace, username: user.username, password: user.password)
                guard login.status == .ok, let token = login.string("access_token") else {
                    throw fail(
                        "login of \(user.id) in \(Self.tenantIDs[t])/\(workspace) with the model's password: \(login.status) \(login.text)"
                    )
                }
                try await compare(user, t, headers: [:], bearer: token)
            }
        }
    }
}
