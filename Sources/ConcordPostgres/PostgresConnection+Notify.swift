import CLibPQ
import ConcordCore
import Foundation

/// A notification received on a channel the connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    public var processID: Int32
}

extension PostgresConnection {
    /// Starts listening on `channel`.
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(quoteIdentifier(channel))")
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) throws {
        try execute("UNLISTEN \(quoteIdentifier(channel))")
    }

    /// Sends a notification (through `pg_notify`, so the payload is a parameter).
    public func notify(_ channel: String, payload: String = "") throws {
        try query("SELECT pg_notify($1, $2)", [channel, payload])
    }

    /// Returns notifications already received, waiting up to `timeout` seconds for the first.
    public func notifications(timeout: Double) throws -> [PostgresNotification] {
        try withConn { conn in
            var out = drain(conn)
            if !out.isEmpty { return out }
            let fd = PQsocket(conn)
            guard fd >= 0 else { throw connectionError("LISTEN") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(max(0, timeout * 1000)))
            if ready < 0 && errno != EINTR { throw connectionError("LISTEN") }
            if ready > 0 {
                guard PQconsumeInput(conn) == 1 else { throw connectionError("LISTEN") }
                out = drain(conn)
            }
            return out
        }
    }

    private func drain(_ conn: OpaquePointer) -> [PostgresNotification] {
        var out: [PostgresNotification] = []
        PQconsumeInput(conn)
        while let n = PQnotifies(conn) {
            out.append(PostgresNotification(
                channel: String(cString: n.pointee.relname), payload: String(cString: n.pointee.extra),
                processID: n.pointee.be_pid))
            PQfreemem(n)
        }
        return out
    }
}
