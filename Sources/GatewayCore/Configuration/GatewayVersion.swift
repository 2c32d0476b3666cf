/// The gateway's version (`iam-gateway --version`).
public enum GatewayVersion {
    public static let current = "0.3.0"
}
