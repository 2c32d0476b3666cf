/// What a route requires of a verified token. Requirements compose with ``allOf(_:)`` and ``anyOf(_:)``.
public struct PermissionRequirement: Sendable, Hashable, CustomStringConvertible {
    indirect enum Rule: Sendable, Hashable {
        case authenticated
        case permission(String)
        case allOf([Rule])
        case anyOf([Rule])
    }

    let rule: Rule

    private init(_ rule: Rule) {
        self.rule = rule
    }

    /// Any valid token.
    public static let authenticated = Self(.authenticated)

    /// A token whose `permissions` include this name.
    public static func permission(_ name: String) -> Self { Self(.permission(name)) }

    /// Every one of these requirements (an empty list is satisfied by any valid token).
    public static func allOf(_ requirements: [Self]) -> Self { Self(.allOf(requirements.map(\.rule))) }

    /// At least one of these requirements (an empty list is never satisfied).
    public static func anyOf(_ requirements: [Self]) -> Self { Self(.anyOf(requirements.map(\.rule))) }

    /// Whether verified claims meet the requirement.
    public func isSatisfied(by claims: AccessTokenClaims) -> Bool {
        Self.evaluate(rule, Set(claims.permissions))
    }

    private static func evaluate(_ rule: Rule, _ permissions: Set<String>) -> Bool {
        switch rule {
        case .authenticated: true
        case .permission(let name): permissions.contains(name)
        case .allOf(let rules): rules.allSatisfy { evaluate($0, permissions) }
        case .anyOf(let rules): rules.contains { evaluate($0, permissions) }
        }
    }

    public var description: String { Self.describe(rule) }

    private static func describe(_ rule: Rule) -> String {
        switch rule {
        case .authenticated: "authenticated"
        case .permission(let name): name
        case .allOf(let rules): "allOf(" + rules.map(describe).joined(separator: ", ") + ")"
        case .anyOf(let rules): "anyOf(" + rules.map(describe).joined(separator: ", ") + ")"
        }
    }
}
