import ConcordPostgres
import ConcordTestSupport
import Foundation
import Testing

/// The exit-code table of docs/interface.md, command by command, as a scheduler and a CI gate read it:
/// 2 for a usage error and 3 for a store that is down, for every command (the commands are read from the
/// argument parser, so a new one is covered or this fails), each in one line; 0 and 1 where a command has them.
@Suite(.serialized) struct ExitCodeTests {
    static let root = TestStores.repositoryRoot
    static let concord = TestStores.concord
    /// Every store down: nothing listens on port 1.
    static let down = ["--postgres", "postgresql://127.0.0.1:1/x", "--redis", "redis://127.0.0.1:1/0", "--graph", "falkordb://127.0.0.1:1", "--connect-timeout", "1"]
    static let environment: [String: String?] = ["CONCORD_RULES": root.appendingPathComponent("Rules").path, "CONCORD_CONFIG": "none", "CONCORD_PROFILE": nil,
                                                 "CONCORD_NOTIFY": nil, "CONCORD_POSTGRES_URL": nil, "CONCORD_REDIS_URL": nil, "CONCORD_GRAPH_URL": nil]

    /// Every command without subcommands, and whether it takes store flags.
    static func commands() throws -> [(path: [String], stores: Bool)] {
        let dump = try TestStores.run(concord, ["--experimental-dump-help"])
        let json = try JSONSerialization.jsonObject(with: dump.stdout) as? [String: Any]
        var result: [([String], Bool)] = []
        func walk(_ c: [String: Any], _ path: [String]) {
            let subs = c["subcommands"] as? [[String: Any]] ?? []
            if subs.isEmpty, !path.isEmpty, path != ["help"] {
                let names = (c["arguments"] as? [[String: Any]] ?? []).flatMap { ($0["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
                result.append((path, names.contains("redis")))
            }
            for s in subs { walk(s, path + [s["commandName"] as? String ?? "?"]) }
        }
        walk(json?["command"] as? [String: Any] ?? [:], [])
        return result
    }

    func run(_ args: [String], in dir: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try TestStores.run(Self.concord, args, environment: Self.environment, directory: dir)
        return (r.status, String(decoding: r.stdout, as: UTF8.self), r.stderr)
    }

    @Test func everyCommandRefusesAnUnknownFlagWithExit2InOneLine() throws {
        let commands = try Self.commands()
        #expect(commands.count >= 30)
        for (path, _) in commands {
            let r = try run(path + ["--no-such-flag"])
            let name = path.joined(separator: " ")
            #expect(r.status == 2, "concord \(name): \(r.status)")
            // The parser's one line: the unknown option, or first a required argument it misses; where the help is.
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("concord: "), "\(r.stderr)")
            if path != ["config", "show"] {
                #expect(r.stderr.hasSuffix(" (see concord \(name) --help)\n")
                        && (r.stderr.contains("Unknown option '--no-such-flag'") || r.stderr.contains("Missing expected argument")), "\(r.stderr)")
            }
        }
    }

    /// A fixture of real stores (a schema, a Redis database, a graph of this test's own) with a report, a plan and a snapshot,
    /// so that the commands that read a file first get past it to the stores.
    final class Fixture {
        let dir: URL
        let stores: [String]
        let schema = TestStores.unique("exit").lowercased()
        let graph = TestStores.unique("exit")

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("exit-codes"))
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try PostgresConnection(url: TestStores.postgresURL).execute("CREATE SCHEMA \(schema)")
            stores = ["--postgres", TestStores.postgresURL + "?options=-csearch_path%3D\(schema)", "--redis", TestStores.redisURL(db: 72),
                      "--graph", TestStores.falkorURL + "/" + graph]
        }

        deinit {
            try? FileManager.default.removeItem(at: dir)
            _ = try? PostgresConnection(url: TestStores.postgresURL).execute("DROP SCHEMA \(schema) CASCADE")
            _ = try? TestStores.run("/usr/bin/redis-cli", ["-p", "56379", "-n", "72", "FLUSHDB"])
            _ = try? TestStores.run("/usr/bin/redis-cli", ["-p", "56380", "GRAPH.DELETE", graph])
        }

        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    }

    @Test func successFindingsAndAStoreDownForEveryCommand() throws {
        let f = try Fixture()
        // 0 and 1, on real stores: the workflow of a nightly audit and its repair.
        let ok: [([String], Int32)] = [
            (["setup"], 0),
            (["simulate", "--runs", "40", "--seed", "5", "--faults", "all=1"], 0),
            (["doctor"], 0),
            (["audit", "--output-dir", f.path("reports")], 1),
            (["audit", "--output-dir", f.path("reports-never"), "--fail-on", "never"], 0),
            (["snapshot", "--output-dir", f.path("snapshot")], 0),
            (["plan", "--report", f.path("reports/latest.json"), "--output", f.path("plan.json")], 0),
            (["apply", f.path("plan.json")], 0),  // a dry run reads the plan alone
            (["journal"], 0),
            (["maintain", "queue", "stats"], 0),
            (["maintain", "deadletter", "list"], 0),
            (["maintain", "publications"], 0),
            (["publish", "list"], 0),
            (["sync", "--once"], 0),
        ]
        for (args, want) in ok {
            let r = try run(args + (args == ["setup"] || args.first == "doctor" || args.first == "audit" || args.first == "snapshot" || args.first == "plan"
                                    || args.first == "apply" || args.first == "journal" || args.first == "maintain" || args.first == "publish"
                                    || args.first == "sync" || args.first == "simulate" ? f.stores : []))
            #expect(r.status == want, "concord \(args.joined(separator: " ")): exit \(r.status), \(r.stderr)")
        }
        let offline: [([String], Int32)] = [
            (["rules", "check"], 0), (["rules", "list"], 0), (["rules", "test"], 0),
            (["report", "merge", f.path("reports/latest.json"), "--output-dir", f.path("merged")], 1),
            (["config", "show", "audit"], 0),
            (["audit", "--snapshot", f.path("snapshot"), "--output-dir", f.path("from-snapshot")], 1),
            // A file a command needs is looked at before the stores: a missing one is the user's error (2), stores down or not.
            (["maintain", "restore-run", "wr_1", "--from", f.path("no-archive")] + Self.down, 2),
            (["apply", f.path("no-plan.json"), "--yes"] + Self.down, 2),
            (["restore", f.path("no-snapshot"), "--yes"] + Self.down, 2),
        ]
        for (args, want) in offline {
            let r = try run(args)
            #expect(r.status == want, "concord \(args.joined(separator: " ")): exit \(r.status), \(r.stderr)")
        }

        // 3, in one line naming the store, for every command that takes stores: each gets what it needs to reach them.
        let arguments: [String: [String]] = [
            "audit": [], "snapshot": ["--output-dir", f.path("snap-down")], "plan": ["--report", f.path("reports/latest.json"), "--output", f.path("p2.json")],
            "apply": [f.path("plan.json"), "--yes"], "undo": ["plan-x", "--output", f.path("u.json")], "restore": [f.path("snapshot")], "rebuild": ["redis"],
            "journal": [], "maintain queue stats": [], "maintain deadletter list": [], "maintain deadletter show": ["0"],
            "maintain deadletter requeue": ["0"], "maintain deadletter purge": ["--older-than", "30d"], "maintain confirmed prune": ["--older-than", "30d"],
            "maintain archive": ["--older-than", "30d", "--archive", f.path("archive")], "maintain restore-run": ["wr_1", "--from", f.path("snapshot")],
            "maintain publications": [], "doctor": [], "setup": [], "simulate": ["--runs", "1"], "sync": ["--once"], "publish run": ["--once"],
            "publish approve": ["d1"], "publish list": [], "serve": ["--listen", "127.0.0.1:0"],
        ]
        let storeCommands = try Self.commands().filter(\.stores).map { $0.path.joined(separator: " ") }
        #expect(Set(storeCommands) == Set(arguments.keys), "commands with store flags and no row here: \(Set(storeCommands).subtracting(arguments.keys))")
        for name in storeCommands.sorted() {
            let r = try run(name.split(separator: " ").map(String.init) + (arguments[name] ?? []) + Self.down)
            #expect(r.status == 3, "concord \(name): exit \(r.status), \(r.stderr)")
            if name == "doctor" {
                #expect(r.stdout.contains("FAIL") && r.stderr.isEmpty, "\(r.stdout)\(r.stderr)")  // doctor's report is its output
                continue
            }
            // The error is the last line (progress may come before it: restore says its checksums were verified) and it names the store.
            let error = r.stderr.split(separator: "\n").last.map(String.init) ?? ""
            #expect(error.hasPrefix("concord: [postgres]") || error.hasPrefix("concord: [redis]") || error.hasPrefix("concord: [graph]"),
                    "concord \(name): \(r.stderr)")
            #expect(!r.stderr.contains("Error Domain") && !r.stderr.contains("NSCocoa"), "\(r.stderr)")
        }
    }
}
