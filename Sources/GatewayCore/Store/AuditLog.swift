import Foundation
import Logging

/// Writes audit events; a failure to write is logged, never shown to the caller as a success of something else.
public struct AuditLog: Sendable {
    let store: any GatewayStore
    let clock: any GatewayClock
    let logger: Logger

    public init(store: any GatewayStore, clock: any GatewayClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    public func record(
        actor: String, tenantID: String, workspaceID: String?, action: String, target: String?, requestID: String?,
        originWorkspaceID: String? = nil
    ) async {
        let event = AuditEvent(
            at: clock.now(), actor: actor, tenantID: tenantID, workspaceID: workspaceID, action: action, target: target,
            requestID: requestID,
            originWorkspaceID: originWorkspaceID
        )
        do {
            try await store.appendAudit(event)
        } catch {
            logger.error(
                "audit event could not be written", metadata: ["action": "\(action)", "tenant_id": "\(tenantID)"])
        }
    }

    /// Records what `scope`'s caller did in its tenant. When `workspaceID` (the one acted on) differs from the
    /// caller's, the event is cross-workspace and carries both.
    public func record(_ scope: CallerScope, _ action: String, target: String, workspaceID: String? = nil) async {
        let acted = workspaceID ?? scope.workspaceID
        await record(
            actor: scope.actor, tenantID: scope.tenantID, workspaceID: acted, action: action, target: target,
            requestID: scope.requestID,
            originWorkspaceID: acted == scope.workspaceID ? nil : scope.workspaceID
        )
    }
}
