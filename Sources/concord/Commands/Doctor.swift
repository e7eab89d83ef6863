import ArgumentParser
import ConcordCore
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// `concord doctor`: can Concord reach each store, which versions run there,
/// does a value survive a round trip, is the schema in place, how long are the queues.
///
/// Exit codes: 0 healthy, 1 reachable but something needs attention (missing
/// schema, dead letters), 3 a store could not be reached.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check connectivity, server versions, a round trip through each store, schema and queue lengths.")

    @OptionGroup var stores: StoreOptions

    @OptionGroup var printFormat: PrintFormatOption

    @OptionGroup(title: "GitHub (checked when configured)") var github: GitHubOptions

    struct Check {
        var store: String
        var url: String
        var ok = false
        var version = ""
        var roundTripMs = 0.0
        var details: [(String, String)] = []
        var warnings: [String] = []
        var error: String?
    }

    func run() throws {
        let checks = [checkPostgres(), checkRedis(), checkGraph()] + (github.configured ? [checkGitHub()] : [])
        if printFormat.isJSON {
            Output.line(JSON.object([
                "format": "concord.doctor/1",
                "stores": .array(checks.map { c in
                    .object([
                        "store": .string(c.store), "url": .string(c.url), "ok": .bool(c.ok), "version": .string(c.version),
                        "roundTripMs": .double((c.roundTripMs * 100).rounded() / 100),
                        "details": .object(Dictionary(c.details.map { ($0.0, JSON.string($0.1)) }, uniquingKeysWith: { a, _ in a })),
                        "warnings": .array(c.warnings.map(JSON.string)), "error": c.error.map(JSON.string) ?? .null,
                    ])
                }),
            ]).encoded())
        } else {
            for c in checks {
                Output.line("\(c.store.padding(toLength: 9, withPad: " ", startingAt: 0)) \(c.ok ? "ok  " : "FAIL") \(c.url)")
                if let e = c.error { Output.line("          \(e)"); continue }
                Output.line("          version     \(c.version)")
                Output.line("          round trip  \(String(format: "%.2f", c.roundTripMs)) ms")
                for (k, v) in c.details { Output.line("          \(k.padding(toLength: 11, withPad: " ", startingAt: 0)) \(v)") }
                for w in c.warnings { Output.line("          warning     \(w)") }
            }
            let healthy = checks.allSatisfy { $0.ok && $0.warnings.isEmpty }
            Output.line(healthy ? "healthy: all \(checks.count == 4 ? "four" : "three") stores reachable, schema in place" : "needs attention (see above)")
        }
        if checks.contains(where: { !$0.ok }) { throw ExitCode.store }
        if checks.contains(where: { !$0.warnings.isEmpty }) { throw ExitCode.findings }
    }

    private func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }

    private func probe(_ store: String, _ url: String, _ body: (inout Check) throws -> Void) -> Check {
        var c = Check(store: store, url: Redaction.mask(url))
        do {
            try body(&c)
            c.ok = true
        } catch {
            c.error = "\(error)"
        }
        return c
    }

    /// GitHub: reachable, who the token or App is, its scopes or permissions, the rate budget left; failed publications.
    func checkGitHub() -> Check {
        var c = Check(store: "github", url: github.url)
        do {
            let client = try github.client()
            let t0 = Date()
            let who = try client.identity()
            c.roundTripMs = Date().timeIntervalSince(t0) * 1000 / 2
            c.ok = true
            c.version = "REST API 2022-11-28"
            c.details.append(("as", who.who))
            c.details.append(("scopes", who.scopes ?? "(none reported)"))
            c.details.append(("rate left", "\(who.remaining.map(String.init) ?? "?") of \(who.limit.map(String.init) ?? "?") this hour"))
            if let limit = who.limit, let left = who.remaining, left < limit / 10 { c.warnings.append("less than a tenth of the hourly rate limit is left") }
            if let pg = try? stores.connectPostgres(), let r = try? pg.query("SELECT state, count(*) FROM github_publication GROUP BY state ORDER BY state") {
                c.details.append(("states", r.rows.map { "\($0.string(0)!) \($0.int(1)!)" }.joined(separator: ", ").ifEmpty("none")))
                if let failed = r.rows.first(where: { $0.string(0) == "failed" })?.int(1), failed > 0 {
                    c.warnings.append("\(failed) publication(s) failed: concord publish list --state failed")
                }
            }
        } catch let e as GitHubError {
            c.error = e.description
        } catch {
            c.error = "\(error)"
        }
        return c
    }

    func checkPostgres() -> Check {
        probe("postgres", stores.postgresURL) { c in
            let pg = try stores.connectPostgres()
            c.version = "PostgreSQL " + (try pg.query("SHOW server_version")[0].string(0) ?? "?")
            let token = "doctor-\(UUID().uuidString)-é😀"
            let (echo, ms) = try timed { try pg.query("SELECT $1::text", [token])[0].string(0) }
            guard echo == token else { throw ConcordError(.protocolViolation, "round trip changed the value", store: "postgres") }
            c.roundTripMs = ms
            var present: [String] = []
            for table in PostgresSchema.tables where try pg.query("SELECT to_regclass($1) IS NOT NULL", [table])[0].bool(0) == true {
                present.append(table)
            }
            c.details.append(("tables", present.isEmpty ? "none" : present.joined(separator: ", ")))
            let missing = PostgresSchema.tables.filter { !present.contains($0) }
            if !missing.isEmpty { c.warnings.append("missing tables \(missing.joined(separator: ", ")): run concord setup") }
            if present.contains("draft_content") {
                let n = try pg.query("SELECT count(*) FROM draft_content")[0].int(0) ?? 0
                c.details.append(("drafts", String(n)))
            }
        }
    }

    func checkRedis() -> Check {
        probe("redis", stores.redisURL) { c in
            let redis = try stores.connectRedis()
            let info = try redis.run("INFO", "server").string ?? ""
            c.version = "Redis " + (info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("redis_version:") }?
                .dropFirst("redis_version:".count).description ?? "?")
            let key = "concord:doctor:\(UUID().uuidString)"
            let value: [UInt8] = Array("doctor\u{0}é😀".utf8)
            do {
                let (echo, ms) = try timed { () throws -> RedisReply? in
                    let r = try redis.transaction([["SET", key, value, "EX", 60], ["GET", key], ["DEL", key]])
                    return r?[1]
                }
                guard echo?.bytes == value else { throw ConcordError(.protocolViolation, "round trip changed the value", store: "redis") }
                c.roundTripMs = ms
            } catch let e as ConcordError where e.code == .permission {
                // A read-only ACL user (the audit's): the round trip without a write.
                let (echo, ms) = try timed { try redis.run("ECHO", value) }
                guard echo.bytes == value else { throw ConcordError(.protocolViolation, "round trip changed the value", store: "redis") }
                c.roundTripMs = ms
                c.details.append(("user", "\(redis.address.user ?? "default") may not write (\(e.serverCode ?? "NOPERM")): enough for audits, not for sync or apply"))
            }
            let tls = try redisTLSDescription(redis)
            c.details.append(("connection", tls))
            let topology = try redis.topology()
            if !topology.sentinels.isEmpty {
                c.details.append(("sentinels", topology.sentinels.map { "\($0.address) \($0.reached ? $0.detail : "unreachable")" }.joined(separator: "; ")))
                let lost = topology.sentinels.filter { !$0.reached }
                if !lost.isEmpty { c.warnings.append("\(lost.count) of \(topology.sentinels.count) sentinels unreachable: \(lost.map(\.address).joined(separator: ", "))") }
            }
            c.details.append(("server", "\(topology.server) (\(topology.role == "master" ? "primary" : topology.role))"))
            if topology.role == "master" {
                c.details.append(("replicas", topology.replicas.isEmpty ? "none" : topology.replicas.map { "\($0.address) lag \($0.lagBytes) bytes" }.joined(separator: "; ")))
            }
            let lengths = try redis.pipeline([
                ["LLEN", "persistence:queue"], ["LLEN", "persistence:processing"],
                ["LLEN", "persistence:deadletter"], ["ZCARD", "persistence:confirmed"],
            ]).map { $0.int ?? 0 }
            c.details.append(("queue", "\(lengths[0]) waiting, \(lengths[1]) processing, \(lengths[2]) dead-lettered, \(lengths[3]) confirmed"))
            if lengths[2] > 0 { c.warnings.append("\(lengths[2]) entries in persistence:deadletter") }
        }
    }

    /// "TLSv1.3, certificate verified against …" or "plaintext".
    private func redisTLSDescription(_ redis: RedisConnection) throws -> String {
        guard let version = redis.tlsVersion else { return "plaintext" }
        let tls = try stores.redisTLS()
        let trust = tls.insecure ? "certificate NOT verified (--redis-tls-insecure)" : "certificate verified against \(tls.caFile ?? "the system's CAs")"
        return "encrypted, \(version), \(trust)\(tls.identity != nil ? ", client certificate sent" : "")"
    }

    func checkGraph() -> Check {
        probe("graph", stores.graphURL) { c in
            let graph = try stores.connectGraph()
            c.url = graph.displayURL
            c.version = try graph.serverVersion()
            let token = "doctor-é😀\"'\\"
            let (echo, ms) = try timed { try graph.run("RETURN $p AS p", parameters: ["p": .string(token)], readOnly: true) }
            guard echo.records.first?[0] == .string(token) else {
                throw ConcordError(.protocolViolation, "round trip changed the value", store: "graph")
            }
            c.roundTripMs = ms
            if let bolt = graph as? BoltStore {
                c.details.append(("connection", bolt.tlsVersion.map { "encrypted, \($0)" } ?? "plaintext"))
                if let t = bolt.routingTable {
                    c.details.append(("routing", "writer \(t.writers.joined(separator: ", ")); readers \(t.readers.joined(separator: ", ")); routers \(t.routers.joined(separator: ", "))"))
                    if t.writers.isEmpty { c.warnings.append("the routing table names no writer: writes will fail until one is elected") }
                }
            }
            let counts = try graph.run(
                "OPTIONAL MATCH (r:WorkflowRun) WITH count(r) AS runs OPTIONAL MATCH (n:Node) RETURN runs, count(n) AS nodes",
                readOnly: true)
            if let r = counts.records.first {
                c.details.append(("records", "\(r[0].intValue ?? 0) runs, \(r[1].intValue ?? 0) event nodes"))
            }
        }
    }
}
