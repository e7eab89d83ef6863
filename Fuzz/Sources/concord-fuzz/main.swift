import ConcordFuzzChecks
import Foundation

// libFuzzer drives it: CONCORD_FUZZ_TARGET names the parser (json, event,
// expression, rules, packstream, bolt, resp, plan, manifest); every libFuzzer
// flag passes through. A property that fails stops the run with the input
// saved as crash-…, like any crash.

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

let name = ProcessInfo.processInfo.environment["CONCORD_FUZZ_TARGET"] ?? ""
guard let selected = FuzzTarget(rawValue: name) else {
    FileHandle.standardError.write(Data("set CONCORD_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}
nonisolated(unsafe) let target = selected

let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try FuzzChecks.check(target, bytes)
    } catch {
        fatalError("\(error)")
    }
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
let rc = withUnsafeMutablePointer(to: &argv) { p in
    p.withMemoryRebound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self, capacity: 1) { LLVMFuzzerRunDriver(&argc, $0, callback) }
}
exit(rc)
