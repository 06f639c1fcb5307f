// swift-tools-version:6.0
//
// SoftmaxKit: one Swift core, three surfaces.
//   - `SoftmaxKit`  : the pure-Swift library (import SoftmaxKit).
//   - `softmaxkit-c`: the stable C ABI of include/softmaxkit.h as a shared
//                     library (the Makefile names it libsoftmaxkit.so).
//   - `smk`         : the command-line tool (model info, run, bench).
// The Makefile builds the .so with -static-stdlib and an export map so that it
// exports only smk_* symbols; see README.md "Building".
import PackageDescription

let package = Package(
    name: "SoftmaxKit",
    products: [
        .library(name: "SoftmaxKit", targets: ["SoftmaxKit"]),
        .library(name: "softmaxkit-c", type: .dynamic, targets: ["SoftmaxKitABI"]),
        .executable(name: "smk", targets: ["smk"]),
        .executable(name: "softmax-demo", targets: ["SoftmaxDemo"]),
        .executable(name: "model-demo", targets: ["ModelDemo"]),
    ],
    // No package dependencies: a package that uses SoftmaxKit fetches
    // nothing else (the smk tool parses its command line by hand).
    targets: [
        // Vector primitives Swift cannot spell (mask bits, prefetch): static
        // inline C that inlines into the kernels; nothing in it is exported.
        .target(name: "SoftmaxKitSIMD"),
        .target(name: "SoftmaxKit", dependencies: ["SoftmaxKitSIMD"]),
        .target(
            name: "SoftmaxKitABI",
            dependencies: ["SoftmaxKit"],
            exclude: ["softmaxkit.map"]
        ),
        .executableTarget(name: "smk", dependencies: ["SoftmaxKit"]),
        .executableTarget(name: "SoftmaxDemo", dependencies: ["SoftmaxKit"], path: "examples/swift/SoftmaxDemo"),
        .executableTarget(name: "ModelDemo", dependencies: ["SoftmaxKit"], path: "examples/swift/ModelDemo"),
        .testTarget(name: "SoftmaxKitTests", dependencies: ["SoftmaxKit"]),
        .testTarget(name: "smkTests", dependencies: ["smk"]),
    ]
)
