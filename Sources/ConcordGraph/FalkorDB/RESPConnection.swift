import ConcordCore
import ConcordCrypto
import ConcordNet
import ConcordRedis

/// A minimal RESP2 connection for FalkorDB's `GRAPH.*` commands.
///
/// Why not hiredis, which Concord uses for Redis itself: hiredis 0.14 (the
/// Debian 12 library) refuses replies nested deeper than seven arrays, and
/// FalkorDB's compact replies go deeper as soon as a result holds a path, a
/// node with a list property, or a map of lists. This reader allows 256
/// levels; it speaks only what FalkorDB needs (argv commands, RESP2 replies,
/// AUTH) and parses into the same `RedisReply` values (`RESPReader`).
final class RESPConnection {
    let endpoint: Endpoint
    private let connectTimeout: Double
    private let ioTimeout: Double
    private var socket: TCPSocket?
    /// Set for `falkordbs://`: every connection starts with a TLS handshake.
    private let trust: TLSTrust?

    init(endpoint: Endpoint, connectTimeout: Double, ioTimeout: Double, trust: TLSTrust? = nil) throws {
        self.endpoint = endpoint
        self.trust = trust
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        _ = try live()
    }

    /// The open socket; a new one (with AUTH again) when the last was lost.
    private func live() throws -> TCPSocket {
        if let s = socket, s.isOpen { return s }
        let s = try TCPSocket(host: endpoint.host, port: endpoint.port, connectTimeout: connectTimeout, ioTimeout: ioTimeout)
        if let trust {
            try s.startTLS(trust: trust, serverName: endpoint.serverName, hints: TLSHints(
                caFlag: "--graph-ca FILE", insecure: "pass the CA's file with --graph-ca", plaintext: "use falkordb:// instead of falkordbs://",
                clientCertificate: "a client certificate (not supported for the graph: set tls-auth-clients optional on the server)"))
        }
        socket = s
        if let password = endpoint.password {
            let args = endpoint.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if let e = try send(args.map { Array($0.utf8) }).errorMessage {
                s.close()
                throw ConcordError(.authentication, "authentication failed for \(endpoint): \(e)", store: "graph")
            }
        }
        return s
    }

    func command(_ args: [any RedisArgument]) throws -> RedisReply {
        try send(args.map { var b: [UInt8] = []; $0.appendRedisBytes(to: &b); return b })
    }

    private func send(_ argv: [[UInt8]]) throws -> RedisReply {
        let s = try live()
        var out: [UInt8] = Array("*\(argv.count)\r\n".utf8)
        for a in argv {
            out += Array("$\(a.count)\r\n".utf8)
            out += a
            out += [0x0D, 0x0A]
        }
        try s.write(out)
        return try read(s)
    }

    private func read(_ s: TCPSocket) throws -> RedisReply {
        do {
            return try RESPReader.read(from: s)
        } catch let e as ConcordError where e.code == .protocolViolation {
            socket?.close()
            throw e.wrapped(in: "reading a reply from \(endpoint)")
        }
    }
}
