// swift-tools-version:6.0
// The fuzzer: one libFuzzer binary over Concord's parsers (`make fuzz`).
// Built apart from the main package, with -sanitize=fuzzer,address, by scripts/fuzz.sh.
import PackageDescription

let package = Package(
    name: "ConcordFuzz",
    dependencies: [.package(name: "Concord", path: "..")],
    targets: [
        .executableTarget(
            name: "concord-fuzz",
            dependencies: [.product(name: "ConcordFuzzChecks", package: "Concord")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
