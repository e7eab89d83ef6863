import ConcordCore
import Foundation

/// Finding the primary through Sentinel, and the replication topology for `concord doctor`.
///
/// The client side of Redis's Sentinel protocol: ask each sentinel in turn
/// (the one that answered last first) `SENTINEL get-master-addr-by-name`,
/// connect to the address it names and check with `ROLE` that it is the
/// primary (a sentinel may still name the old one for a moment during a
/// failover). A lost connection, `READONLY`, `LOADING` or `MASTERDOWN` drop
/// the connection, and the next call asks again. A `+switch-master` is seen
/// through its effect: Sentinel disconnects the clients of a demoted primary.
extension RedisConnection {
    /// Asks the sentinels which server is the primary of the URL's master name.
    func askSentinels() throws -> (host: String, serverName: String, port: Int) {
        guard case .sentinel(let sentinels, let master) = address.topology else {
            preconditionFailure("askSentinels on a connection without sentinels")
        }
        var why: [String] = []
        for (position, index) in sentinelOrder.enumerated() {
            let s = sentinels[index]
            let name = "sentinel \(s.host):\(s.port)"
            do {
                let link = try sentinelLink(s)
                let reply = try link.command(["SENTINEL", "get-master-addr-by-name", master])
                if case .array(let a) = reply, a.count == 2, let host = a[0].string, let port = a[1].string.flatMap({ Int($0) }) {
                    sentinelOrder.remove(at: position)
                    sentinelOrder.insert(index, at: 0)
                    return (host, host, port)
                }
                if let e = reply.errorMessage {
                    why.append("\(name) answered \(e)")
                } else {
                    why.append("\(name) monitors no master named '\(master)'")
                }
            } catch let e as ConcordError where e.code == .authentication {
                throw e
            } catch let e as ConcordError {
                why.append("\(name): \(e.message)")
            }
        }
        throw ConcordError(.connection, "no sentinel named the primary of '\(master)': \(why.joined(separator: "; "))", store: "redis")
    }

    /// A short-lived connection to one sentinel (its own credentials, if any; TLS as the URL says).
    func sentinelLink(_ s: Endpoint) throws -> RedisConnection {
        var a = address
        a.topology = .server(host: s.host, serverName: s.serverName, port: s.port)
        a.user = address.sentinelUser
        a.password = address.sentinelPassword
        a.sentinelUser = nil
        a.sentinelPassword = nil
        a.database = 0
        return try RedisConnection(address: a, tls: tls, connectTimeout: connectTimeout, commandTimeout: max(connectTimeout, 2))
    }

    /// The replication topology as the primary (and the sentinels) see it now.
    public func topology() throws -> RedisTopology {
        var t = RedisTopology()
        if case .sentinel(let sentinels, let master) = address.topology {
            for s in sentinels {
                let name = "\(s.host):\(s.port)"
                do {
                    let reply = try sentinelLink(s).command(["SENTINEL", "get-master-addr-by-name", master])
                    if case .array(let a) = reply, a.count == 2 {
                        t.sentinels.append(.init(address: name, reached: true, detail: "names \(a[0].string ?? "?"):\(a[1].string ?? "?")"))
                    } else {
                        t.sentinels.append(.init(address: name, reached: true, detail: reply.errorMessage ?? "monitors no '\(master)'"))
                    }
                } catch let e as ConcordError {
                    t.sentinels.append(.init(address: name, reached: false, detail: e.message))
                }
            }
        }
        let role = try command(["ROLE"])
        t.server = server
        if let e = role.errorMessage, Self.prefix(e) == "NOPERM" {
            t.role = "not visible (the user may not run ROLE)"
            return t
        }
        guard case .array(let parts) = role, let kind = parts.first?.string else {
            throw ConcordError(.protocolViolation, "unexpected ROLE reply from \(server)", store: "redis")
        }
        t.role = kind
        if kind == "master", parts.count >= 3 {
            let offset = parts[1].int ?? 0
            t.offset = offset
            for r in parts[2].array ?? [] {
                guard let f = r.array, f.count >= 3 else { continue }
                let replicaOffset = f[2].string.flatMap { Int64($0) } ?? f[2].int ?? 0
                t.replicas.append(.init(address: "\(f[0].string ?? "?"):\(f[1].string ?? "?")", offset: replicaOffset, lagBytes: max(0, offset - replicaOffset)))
            }
        }
        return t
    }
}

/// What `concord doctor` shows of Redis's replication.
public struct RedisTopology: Sendable {
    public struct Sentinel: Sendable {
        public var address: String
        public var reached: Bool
        public var detail: String
    }
    public struct Replica: Sendable {
        public var address: String
        /// The replication offset the replica acknowledged.
        public var offset: Int64
        /// How many bytes of the primary's replication stream it has not acknowledged yet.
        public var lagBytes: Int64
    }
    public var sentinels: [Sentinel] = []
    /// The server connected to, and its role ("master", "slave").
    public var server = ""
    public var role = ""
    public var offset: Int64 = 0
    public var replicas: [Replica] = []
}

extension RedisConnection {
    /// A connection to the replica of this connection's primary that is furthest along (by the offsets the
    /// primary's `ROLE` reports), whose link to the primary is up; its lag in bytes at that moment. For
    /// reading where a moment's lag is acceptable (the audit's `--redis-read replica`); every write, and the
    /// recheck, stay on the primary. Nil, with the reason, when there is none to read from.
    public func replica() throws -> (connection: RedisConnection?, lagBytes: Int64, why: String) {
        let t = try topology()
        guard t.role == "master" else { return (nil, 0, "\(t.server) is \(t.role), not a primary with replicas") }
        var why: [String] = []
        for r in t.replicas.sorted(by: { $0.lagBytes < $1.lagBytes }) {
            guard let colon = r.address.lastIndex(of: ":"), let port = Int(r.address[r.address.index(after: colon)...]) else { continue }
            let host = String(r.address[..<colon])
            var a = address
            a.topology = .server(host: host, serverName: host, port: port)
            do {
                let c = try RedisConnection(address: a, tls: tls, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
                let info = try c.run("INFO", "replication").string ?? ""
                if info.contains("master_link_status:up") { return (c, r.lagBytes, "") }
                why.append("\(r.address): its link to the primary is down")
            } catch let e as ConcordError {
                why.append("\(r.address): \(e.message)")
            }
        }
        return (nil, 0, t.replicas.isEmpty ? "the primary \(t.server) has no replica" : why.joined(separator: "; "))
    }
}
