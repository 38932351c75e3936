// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Lowpass",
    products: [
        .executable(name: "lowpass", targets: ["lowpass"]),
        .library(name: "LowpassIR", targets: ["LowpassIR"]),
        .library(name: "LowpassTensor", targets: ["LowpassTensor"]),
        .library(name: "LowpassPasses", targets: ["LowpassPasses"]),
        .library(name: "LowpassZoo", targets: ["LowpassZoo"]),
        .library(name: "LowpassONNX", targets: ["LowpassONNX"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "LowpassIR"),
        // The reference interpreter is the oracle for whole networks in the tests: optimize it even in
        // debug builds, or a ResNet takes minutes.
        .target(name: "LowpassTensor", dependencies: ["LowpassIR"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "LowpassPasses", dependencies: ["LowpassIR", "LowpassTensor"]),
        .target(name: "LowpassZoo", dependencies: ["LowpassIR"]),
        .target(name: "LowpassONNX", dependencies: ["LowpassIR", "LowpassTensor", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // In-process plugins: each registers its passes; the core knows none of them by name.
        .target(name: "Cleanup", dependencies: ["LowpassIR", "LowpassPasses"], path: "Plugins/Cleanup"),
        .target(name: "Antialias", dependencies: ["LowpassIR", "LowpassPasses"], path: "Plugins/Antialias"),
        .target(name: "Reparam", dependencies: ["LowpassIR", "LowpassPasses", "LowpassTensor"], path: "Plugins/Reparam"),
        .executableTarget(
            name: "lowpass",
            dependencies: [
                "LowpassIR", "LowpassTensor", "LowpassPasses", "LowpassZoo", "LowpassONNX", "Cleanup", "Antialias", "Reparam",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "LowpassIRTests", dependencies: ["LowpassIR"]),
        .testTarget(name: "LowpassPassesTests", dependencies: ["LowpassIR", "LowpassPasses", "Cleanup", "LowpassTensor"]),
        .testTarget(name: "LowpassZooTests", dependencies: ["LowpassIR", "LowpassZoo", "LowpassTensor"]),
        .testTarget(name: "ReparamTests", dependencies: ["Reparam", "LowpassIR", "LowpassPasses", "LowpassTensor", "LowpassZoo"]),
        .testTarget(name: "AntialiasTests", dependencies: ["Antialias", "LowpassIR", "LowpassPasses", "LowpassZoo", "LowpassTensor"]),
        .testTarget(name: "LowpassONNXTests", dependencies: ["LowpassONNX", "LowpassIR", "LowpassTensor", "LowpassPasses", "LowpassZoo", "Cleanup", "Antialias"]),
        .testTarget(name: "LowpassTensorTests", dependencies: ["LowpassIR", "LowpassTensor"]),
        // Runs the built `lowpass` executable as a user would.
        .testTarget(name: "LowpassCLITests", dependencies: ["lowpass", "LowpassIR", "LowpassTensor"]),
    ],
    swiftLanguageModes: [.v6]
)
