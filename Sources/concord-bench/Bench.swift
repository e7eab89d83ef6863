import ConcordCore
import Foundation

/// A row of the benchmark table: what was measured, beside its floor.
struct BenchRow {
    var name: String
    var records: Int
    var seconds: Double
    var floorName: String
    var floorSeconds: Double?

    var rate: Double { Double(records) / seconds }
    var ratio: String { floorSeconds.map { String(format: "%.2f×", seconds / $0) } ?? "—" }
}

enum Bench {
    /// Seconds taken by `body`.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Seconds taken by an external command (its stdout discarded): the raw floor.
    static func timeCommand(_ executable: String, _ args: [String], environment: [String: String] = [:]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.standardError
        p.standardInput = FileHandle.nullDevice
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let t = try time {
            try p.run()
            p.waitUntilExit()
        }
        guard p.terminationStatus == 0 else {
            throw ConcordError(.usage, "\(executable) \(args.joined(separator: " ")) exited with \(p.terminationStatus)")
        }
        return t
    }

    /// The standard output of a command (for tools whose output is the measurement, such as wrk).
    static func captureCommand(_ executable: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ConcordError(.usage, "\(executable) exited with \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Seconds and peak RSS (MiB) of one command, through /usr/bin/time (the
    /// children's rusage would give the largest child's of the whole run).
    static func timeCommandRSS(_ executable: String, _ args: [String]) throws -> (seconds: Double, rssMiB: Double) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("concord-bench-rss-\(getpid())")
        defer { try? FileManager.default.removeItem(at: out) }
        let seconds = try timeCommand("/usr/bin/time", ["-f", "%M", "-o", out.path, executable] + args)
        let kb = Double((try? String(contentsOf: out, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? "") ?? 0
        return (seconds, kb / 1024)
    }

    /// The release `concord` beside this binary (the benches run it as a child process).
    static var concord: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("concord").path
    }

    /// A fresh, empty scratch directory for one bench (the caller removes it).
    static func workDirectory(_ name: String) throws -> URL {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("concord-bench-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: work)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return work
    }

    /// Finds a program on PATH (or the given absolute path).
    static func which(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "/usr/bin/\(name)"
    }

    /// Peak resident memory of this process so far, in MiB.
    static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            return kb / 1024
        }
        return 0
    }

    static func printTable(_ title: String, _ rows: [BenchRow]) {
        print("\n## \(title)\n")
        print("| measurement | records | seconds | records/s | floor | floor seconds | vs floor |")
        print("|---|---:|---:|---:|---|---:|---:|")
        for r in rows {
            print("| \(r.name) | \(r.records) | \(String(format: "%.3f", r.seconds)) | \(String(format: "%.0f", r.rate)) | "
                + "\(r.floorName) | \(r.floorSeconds.map { String(format: "%.3f", $0) } ?? "—") | \(r.ratio) |")
        }
    }
}
