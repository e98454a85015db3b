// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// The server's hot path (every update crosses the RESP, ChainCore, ChainWire, Storage and
/// EventLoop modules): release builds let the optimizer see across those module boundaries, so
/// generic code is specialized and small functions inlined instead of called through witness
/// tables, and skip the dynamic exclusivity checks that cost more than the work of many of those
/// small functions (as SwiftNIO does for its own hot paths). Debug builds keep the checks.
let hot: [SwiftSetting] = strict + [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "chainstore",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chainserver", targets: ["chainserver"]),
        .executable(name: "chainmaster", targets: ["chainmaster"]),
        .executable(name: "chainctl", targets: ["chainctl"]),
        .executable(name: "chainload", targets: ["chainload"]),
        .library(name: "ChainClient", targets: ["ChainClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // C libraries: module maps and shim headers only. Each is imported by exactly one Swift module.
        .systemLibrary(name: "CLibevent", path: "Sources/CLibevent", providers: [.apt(["libevent-dev"])]),
        .systemLibrary(name: "CRocksDB", path: "Sources/CRocksDB", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", providers: [.apt(["libssl-dev"])]),
        // libmimalloc-dev: linked into chainserver only (see its target).

        // Drivers: the only importers of the C modules.
        .target(name: "EventLoop", dependencies: ["CLibevent", "ChainSecurity", "ChainCore"], swiftSettings: hot),
        .target(name: "Storage", dependencies: ["CRocksDB"], swiftSettings: hot),
        .target(name: "ChainSecurity", dependencies: ["COpenSSL"], swiftSettings: strict),

        // The version and build commit every binary reports.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .target(name: "ChainVersion", swiftSettings: strict, plugins: ["BuildInfoPlugin"]),

        // Pure modules: no sockets, clocks or disks.
        .target(name: "RESP", swiftSettings: hot),
        .target(name: "ChainCore", swiftSettings: hot),
        .target(name: "LinCheck", swiftSettings: strict),
        .target(name: "ChainWire", dependencies: ["ChainCore", "ChainSecurity"], swiftSettings: hot),

        // Shells and libraries.
        .target(name: "ChainServer", dependencies: [
            "EventLoop", "Storage", "RESP", "ChainCore", "ChainWire", "ChainSecurity", "ChainClient", "ChainVersion",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: hot),
        .target(name: "ChainMasterKit", dependencies: [
            "EventLoop", "ChainCore", "ChainSecurity", "ChainClient", "ChainVersion",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: strict),
        .target(name: "ChainClient", dependencies: ["RESP", "ChainCore", "ChainSecurity"], swiftSettings: strict),
        .target(name: "ChainCLI", dependencies: [
            "ChainSecurity", "ChainVersion", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // Executables: flag parsing and start-up only.
        .executableTarget(name: "chainserver", dependencies: [
            "ChainServer", "ChainCore", "Storage", "EventLoop", "ChainSecurity", "ChainCLI", "ChainClient", "ChainVersion",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict, linkerSettings: [
            // The node allocates with mimalloc (Debian's libmimalloc, which replaces malloc for
            // the whole process when linked, RocksDB and the Swift runtime included): a replicated
            // write costs 4.6k fewer instructions than with glibc's malloc (Docs/BENCHMARKS.md).
            // Redis links jemalloc for the same reason. No module imports it: nothing calls it
            // by name. `--no-as-needed` keeps the linker from dropping it for that.
            .unsafeFlags(["-Xlinker", "--no-as-needed", "-lmimalloc", "-Xlinker", "--as-needed"]),
        ]),

        .executableTarget(name: "chainmaster", dependencies: [
            "ChainMasterKit", "EventLoop", "ChainSecurity", "ChainCLI", "ChainClient", "ChainVersion",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        .target(name: "ChainLoadKit", dependencies: [
            "ChainClient", "ChainCore", "RESP", "LinCheck", "EventLoop",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "DequeModule", package: "swift-collections"),
        ], swiftSettings: strict + [
            // The load generator's hot loop touches a few class properties per operation; with
            // dynamic exclusivity checks they cost more than the work (as SwiftNIO advises for
            // its own hot paths). Release builds only: debug builds keep the checks.
            .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
        ]),
        .executableTarget(name: "chainload", dependencies: [
            "ChainLoadKit", "ChainClient", "ChainCore", "ChainSecurity", "EventLoop", "ChainCLI", "ChainVersion",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "chainctl", dependencies: [
            "ChainClient", "ChainCore", "RESP", "ChainSecurity", "ChainCLI", "ChainVersion",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        .testTarget(name: "RESPTests", dependencies: ["RESP", "ChainCore"], swiftSettings: strict),
        .testTarget(name: "ChainCoreTests", dependencies: ["ChainCore", "LinCheck"], swiftSettings: strict),
        .testTarget(name: "FuzzTests", dependencies: ["RESP", "ChainCore", "ChainWire"], swiftSettings: strict),
        .testTarget(name: "ChainWireTests", dependencies: ["ChainWire", "ChainCore", "ChainSecurity"], swiftSettings: strict),
        .testTarget(name: "LinCheckTests", dependencies: ["LinCheck"], swiftSettings: strict),
        .testTarget(name: "ChainLoadTests", dependencies: ["ChainLoadKit"], swiftSettings: strict),
        .testTarget(name: "StorageTests", dependencies: ["Storage"], swiftSettings: strict),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "ChainClient"], swiftSettings: strict),
        .testTarget(name: "ChainServerTests", dependencies: ["ChainServer", "Storage", "RESP"], swiftSettings: strict),
        .testTarget(name: "ProcessTests", dependencies: [
            "ChainClient", "ChainCore", "ChainWire", "ChainSecurity", "RESP", "LinCheck", "ChainLoadKit",
            "chainserver", "chainmaster", "chainctl", "chainload",
        ], swiftSettings: strict),
    ]
)
