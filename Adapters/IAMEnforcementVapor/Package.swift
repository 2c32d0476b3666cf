// swift-tools-version:6.2
import PackageDescription

// The Vapor adapter of IAMEnforcement: a package of its own, so that the gateway's build never compiles Vapor.
// It uses the enforcement core of the repository's root package by path.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "iam-enforcement-vapor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "IAMEnforcementVapor", targets: ["IAMEnforcementVapor"]),
        .executable(name: "iam-vapor-example", targets: ["iam-vapor-example"]),
    ],
    dependencies: [
        .package(name: "iam-gateway", path: "../.."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
    ],
    targets: [
        // requirePermission(...) as Vapor middleware; the verified claims on `request.iamClaims`.
        .target(
            name: "IAMEnforcementVapor",
            dependencies: [
                .product(name: "IAMEnforcement", package: "iam-gateway"),
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: swiftSettings
        ),
        // The example service's routes (SPEC section 2's demo service, on Vapor), shared by its executable and tests.
        .target(
            name: "IAMVaporExample",
            dependencies: [
                "IAMEnforcementVapor",
                .product(name: "IAMEnforcement", package: "iam-gateway"),
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "iam-vapor-example",
            dependencies: [
                "IAMVaporExample",
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IAMEnforcementVaporTests",
            dependencies: [
                "IAMEnforcementVapor",
                "IAMVaporExample",
                .product(name: "IAMEnforcement", package: "iam-gateway"),
                .product(name: "IAMEnforcementTesting", package: "iam-gateway"),
                .product(name: "VaporTesting", package: "vapor"),
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
