// swift-tools-version:6.1
import Foundation
import PackageDescription

/// Swift 6 language mode everywhere. Concord's own modules are optimized (-O) in a debug build too: the tests
/// spend most of their time in them (parsing, the audit engine, the clients), and unoptimized they made
/// `make test` ~3.5x slower (docs/testing.md). `CONCORD_DEBUG_ONONE=1 swift build` keeps them -Onone for a debugger.
let optimizedInDebug: [SwiftSetting] = ProcessInfo.processInfo.environment["CONCORD_DEBUG_ONONE"] == nil
    ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : []
let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)] + optimizedInDebug
/// Test targets (and their support module) stay as SwiftPM builds them.
let testSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Concord",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "concord", targets: ["concord"]),
        // The parsers' properties, for the fuzzer package in Fuzz/ (and the corpus replay in make test).
        .library(name: "ConcordFuzzChecks", targets: ["ConcordFuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // `concord serve` only: HTTP on SwiftNIO. No default traits (they pull swift-configuration in).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // The GitHub client only (ConcordGitHub): HTTPS with connection pooling, on the same SwiftNIO.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // C libraries: each is imported by exactly one Swift module.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // The one owner of OpenSSL: SHA-256 and run buckets, and the TLS sessions of the graph clients.
        .target(name: "ConcordCrypto", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),

        // A blocking TCP socket with timeouts and optional TLS: the transport of the Bolt client, FalkorDB and Redis over TLS.
        .target(name: "ConcordNet", dependencies: ["ConcordCore", "ConcordCrypto"], swiftSettings: swiftSettings),

        // Shared vocabulary with no I/O and no dependency: errors, URLs, durations, threads.
        .target(name: "ConcordCore", dependencies: [], swiftSettings: swiftSettings),
        // The data model: records, keys, schema text. No I/O.
        .target(name: "ConcordModel", dependencies: ["ConcordCore", "ConcordJSON"], swiftSettings: swiftSettings),
        // Store clients.
        .target(name: "ConcordJSON", dependencies: ["CJansson", "ConcordCore"], swiftSettings: swiftSettings),
        .target(name: "ConcordPostgres", dependencies: ["CLibPQ", "ConcordCore", "ConcordJSON"], swiftSettings: swiftSettings),
        .target(name: "ConcordRedis", dependencies: ["CHiredis", "ConcordCore", "ConcordCrypto", "ConcordNet"], swiftSettings: swiftSettings),
        .target(name: "ConcordGraph", dependencies: ["ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordNet", "ConcordRedis"], swiftSettings: swiftSettings),

        // GitHub, the fourth store: the REST client (token or App auth, rate limits, paging, ETags) and the publications.
        .target(
            name: "ConcordGitHub",
            dependencies: [
                "ConcordCore", "ConcordCrypto", "ConcordJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The configuration file: concord.yaml's settings and profiles, laid under a command line (flag > env > file > default).
        .target(
            name: "ConcordConfig",
            dependencies: ["ConcordCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),

        // Notifications of audits and failures: a JSON webhook, Slack, Alertmanager's v2 API.
        .target(
            name: "ConcordNotify",
            dependencies: ["ConcordCore", "ConcordJSON", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        // The workflow system's write paths and the live sync path.
        .target(
            name: "ConcordFlow",
            dependencies: [
                "ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordGitHub",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The deterministic workload simulator and fault injector (drives the write paths and the sync).
        .target(
            name: "ConcordSimulator",
            dependencies: [
                "ConcordCore", "ConcordJSON", "ConcordModel", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordFlow",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The audit: snapshot files, datasets, the rule language and engine, findings. No store client here.
        .target(
            name: "ConcordAudit",
            dependencies: ["ConcordCore", "ConcordCrypto", "ConcordJSON", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),

        // Reads the live stores into the audit: snapshots, live audits, the recheck's point lookups.
        .target(
            name: "ConcordLive",
            dependencies: ["ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordAudit", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordGitHub"],
            swiftSettings: swiftSettings
        ),

        // Repair: the planner, the plan file, the transactional applier and its journal.
        .target(
            name: "ConcordRepair",
            dependencies: ["ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordAudit", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordFlow", "ConcordGitHub"],
            swiftSettings: swiftSettings
        ),

        // One reporter per format: JSON, Markdown, HTML, JUnit, Prometheus.
        .target(name: "ConcordReports", dependencies: ["ConcordCore", "ConcordJSON", "ConcordAudit"], swiftSettings: swiftSettings),

        // `concord serve`: the live event stream (SSE), the run API, metrics and the admin console, over Hummingbird.
        .target(
            name: "ConcordServe",
            dependencies: [
                "ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordAudit",
                "ConcordReports", "ConcordRepair",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The command-line tool: parses flags, wires the pieces together.
        .executableTarget(
            name: "concord",
            dependencies: [
                "ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordFlow",
                "ConcordSimulator", "ConcordAudit", "ConcordLive", "ConcordReports", "ConcordRepair", "ConcordServe", "ConcordGitHub",
                "ConcordNotify", "ConcordConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // What must hold for any input to each parser others control (fuzzing and corpus replay).
        .target(
            name: "ConcordFuzzChecks",
            dependencies: ["ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordRedis", "ConcordGraph", "ConcordAudit", "ConcordRepair"],
            swiftSettings: swiftSettings
        ),

        .target(name: "ConcordTestSupport", dependencies: ["ConcordRedis"], path: "Tests/ConcordTestSupport", swiftSettings: testSettings),
        // Benchmarks for `make bench`: each measurement beside its raw floor, same run.
        .executableTarget(
            name: "concord-bench",
            dependencies: ["ConcordCore", "ConcordCrypto", "ConcordJSON", "ConcordModel", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordFlow", "ConcordSimulator",
                           "ConcordRepair", "ConcordAudit", "ConcordLive", "ConcordGitHub", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "ConcordCoreTests", dependencies: ["ConcordCore", "ConcordCrypto"], swiftSettings: testSettings),
        // The module graph in docs/architecture.md against every module's imports.
        .testTarget(name: "ArchitectureTests", dependencies: ["ConcordTestSupport"], swiftSettings: testSettings),
        .testTarget(
            name: "ConcordCLITests",
            dependencies: ["ConcordAudit", "ConcordRepair", "ConcordLive", "ConcordFlow", "ConcordModel", "ConcordGraph", "ConcordRedis", "ConcordPostgres", "ConcordJSON",
                           "ConcordCore", "ConcordTestSupport", "ConcordStoreFixtures"],
            exclude: ["Python"], swiftSettings: testSettings
        ),
        .testTarget(name: "ConcordConfigTests", dependencies: ["ConcordConfig", "ConcordCore", "ConcordPostgres", "ConcordTestSupport"], swiftSettings: testSettings),
        .testTarget(name: "ConcordJSONTests", dependencies: ["ConcordJSON"], swiftSettings: testSettings),
        .testTarget(name: "ConcordPostgresTests", dependencies: ["ConcordPostgres", "ConcordJSON", "ConcordTestSupport"], swiftSettings: testSettings),
        .testTarget(name: "ConcordGraphTests", dependencies: ["ConcordGraph", "ConcordJSON", "ConcordTestSupport"], swiftSettings: testSettings),
        .testTarget(
            name: "ConcordFlowTests",
            dependencies: ["ConcordFlow", "ConcordSimulator", "ConcordModel", "ConcordGraph", "ConcordRedis", "ConcordPostgres", "ConcordJSON", "ConcordTestSupport",
                           "ConcordStoreFixtures"],
            swiftSettings: testSettings
        ),
        // The workload simulator and the fault injector: deterministic workloads, and faults the audit must find.
        .testTarget(
            name: "ConcordSimulatorTests",
            dependencies: ["ConcordSimulator", "ConcordFlow", "ConcordModel", "ConcordGraph", "ConcordRedis", "ConcordPostgres", "ConcordJSON", "ConcordTestSupport",
                           "ConcordStoreFixtures"],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "ConcordAuditTests",
            dependencies: ["ConcordAudit", "ConcordReports", "ConcordJSON", "ConcordCore", "ConcordTestSupport"],
            swiftSettings: testSettings
        ),
        // Stores of a test's own with the audit's view of them, and the foreign producer: what the live, repair and CLI suites share.
        .target(
            name: "ConcordStoreFixtures",
            dependencies: ["ConcordLive", "ConcordAudit", "ConcordFlow", "ConcordSimulator", "ConcordModel", "ConcordGraph", "ConcordRedis", "ConcordPostgres",
                           "ConcordJSON", "ConcordCore", "ConcordTestSupport"],
            path: "Tests/ConcordStoreFixtures", swiftSettings: testSettings
        ),
        // Live audits on real stores: full, incremental, partitioned, replicas, foreign producers, users' own rules, Bolt clusters.
        .testTarget(
            name: "ConcordLiveTests",
            dependencies: ["ConcordLive", "ConcordAudit", "ConcordRepair", "ConcordFlow", "ConcordSimulator", "ConcordModel", "ConcordGraph", "ConcordRedis", "ConcordPostgres",
                           "ConcordJSON", "ConcordCore", "ConcordCrypto", "ConcordTestSupport", "ConcordStoreFixtures"],
            swiftSettings: testSettings
        ),
        // Repair on real stores: plans, the applier, undo (also as properties), restore and rebuild, the maintenance chores.
        .testTarget(
            name: "ConcordRepairTests",
            dependencies: ["ConcordRepair", "ConcordLive", "ConcordAudit", "ConcordFlow", "ConcordSimulator", "ConcordModel", "ConcordGraph", "ConcordRedis", "ConcordPostgres",
                           "ConcordJSON", "ConcordCore", "ConcordCrypto", "ConcordTestSupport", "ConcordStoreFixtures"],
            swiftSettings: testSettings
        ),
        // The reports' formats: golden files, the HTML in Chromium, JUnit, Prometheus.
        .testTarget(name: "ConcordReportsTests", dependencies: ["ConcordReports", "ConcordAudit", "ConcordJSON", "ConcordCore", "ConcordTestSupport"], swiftSettings: testSettings),
        .testTarget(name: "ConcordFuzzChecksTests", dependencies: ["ConcordFuzzChecks", "ConcordTestSupport"], swiftSettings: testSettings),
        .testTarget(
            name: "ConcordServeTests",
            dependencies: ["ConcordServe", "ConcordFlow", "ConcordModel", "ConcordRedis", "ConcordPostgres", "ConcordGraph", "ConcordRepair",
                           "ConcordJSON", "ConcordCore", "ConcordTestSupport"],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "ConcordGitHubTests",
            dependencies: ["ConcordGitHub", "ConcordFlow", "ConcordLive", "ConcordAudit", "ConcordRepair", "ConcordModel", "ConcordPostgres", "ConcordRedis", "ConcordGraph", "ConcordJSON",
                           "ConcordCore", "ConcordCrypto", "ConcordTestSupport"],
            exclude: ["Python"],
            swiftSettings: testSettings
        ),
        .testTarget(name: "ConcordRedisTests", dependencies: ["ConcordRedis", "ConcordCore", "ConcordCrypto", "ConcordTestSupport"], swiftSettings: testSettings),
    ]
)
