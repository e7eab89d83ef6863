import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

@Suite struct RuleLanguageTests {
    func eval(_ text: String, _ record: JSON = [:], now: Int64 = 1_000_000, grace: Int64 = 300_000) throws -> JSON {
        try Expr.parse(text).evaluate([record], EvalContext(now: now, grace: grace))
    }

    @Test func expressions() throws {
        let r: JSON = ["a": ["b": 3, "s": "x"], "list": [1, 2], "n": .null, "t": 900_000]
        #expect(try eval("a.b == 3 and a.s == 'x'", r) == true)
        #expect(try eval("a.b < 2 or not (a.s != 'x')", r) == true)
        #expect(try eval("a.b in [1, 2, 3] and 4 not in list", r) == true)
        #expect(try eval("n == null and missing == null and exists(a)", r) == true)
        #expect(try eval("5m", r) == .int(300_000))
        #expect(try eval("now - t", r) == .int(100_000))
        #expect(try eval("age(t) < grace", r) == true)
        #expect(try eval("'id' + '#' + string(a.b)", r) == "id#3")
        #expect(try eval("a.s < 1", r) == false)  // different kinds are never ordered
        #expect(try eval("1 == 1.0", r) == true)
        #expect(try eval("type(list) == 'array' and len(list) == 2 and list.1 == 2", r) == true)
        #expect(try eval("digest(json('{\"b\":1, \"a\":2}')) == digest(json('{\"a\":2,\"b\":1}'))", r) == true)
        #expect(try eval("if(exists(n), 'yes', coalesce(n, a.s))", r) == "x")
        // digest(json(text)) hashes jansson's parse directly; it must agree with digest() of the same value.
        let doc: JSON = ["payload": ["b": [1, 2.5, "ü\u{0}x", .null, true], "a": ["z": -7, "é": 1.0]], "text": #"{ "a" : {"é": 1, "z": -7}, "b": [1, 2.5, "ü\u0000x", null, true] }"#]
        #expect(try eval("digest(json(text)) == digest(payload)", doc) == true)
        #expect(try eval("digest(json('null')) == digest(missing)", doc) == true)
        #expect(try eval("digest(json('{\"a\":1}')) != digest(json('{\"a\":2}'))", doc) == true)
        #expect(try eval("digest(json('not json'))", doc) == .null)
        #expect(try eval("[2, 'b'] > [2, 'a']", r) == true)
        // All fields at once: keys in order, values as text (as a Redis hash holds them), fields left out.
        let prefs: JSON = ["pg": ["theme": "dark", "size": 14, "tags": ["a"], "none": .null], "hash": ["size": "14", "theme": "dark", "tags": #"["a"]"#, "key": "k"]]
        #expect(try eval("keys(pg)", prefs) == ["none", "size", "tags", "theme"])
        #expect(try eval("values(omit(pg, 'none')) == values(omit(hash, 'key'))", prefs) == true)
        #expect(try eval("keys(omit(hash, 'key', 'tags'))", prefs) == ["size", "theme"])
        #expect(try eval("keys(missing) == null and values(3) == null and omit('x', 'y') == null", prefs) == true)
        // A timestamp with microseconds ages like one without.
        #expect(try eval("age(t)", ["t": .double(999_999.5)], now: 1_000_000) == .double(0.5))
    }

    @Test func expressionErrorsCarryTheirOffset() {
        for (text, offset, fragment) in [("a == ", 5, "expected a value"), ("a = 1", 2, "'=='"), ("frob(a)", 0, "unknown function"),
                                         ("len(a, b)", 0, "argument"), ("5parsecs", 1, "duration unit"), ("'open", 0, "unterminated")] {
            #expect(throws: ExprError.self) { try Expr.parse(text) }
            do { _ = try Expr.parse(text) } catch {
                #expect(error.offset == offset, "\(text)")
                #expect(error.message.contains(fragment), "\(text): \(error.message)")
            }
        }
    }

    /// A rules directory with the catalog's datasets and the given rule files.
    /// A rules directory with the catalog's datasets (plus `datasets`, appended) and `files`.
    func rulesDir(_ files: [String: String], datasets extra: String = "") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("rules"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = try String(contentsOf: RuleFixtureTests.rulesDir.appendingPathComponent("datasets.yaml"), encoding: .utf8)
        try Data((base + extra).utf8).write(to: dir.appendingPathComponent("datasets.yaml"))
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    @Test func rulesCheckReportsEachProblemWithItsPosition() throws {
        let dir = try rulesDir([
            "a.yaml": """
                version: 1
                id: x.unknown-key
                severity: error
                store: graph
                description: d
                colour: red
                check: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }
                repair: { action: manual }
                """,
            "b.yaml": """
                version: 1
                id: x.bad-expression
                severity: error
                store: graph
                description: d
                check:
                  kind: filter
                  in:
                    - dataset: graph.nodes
                      where: "timestamp < = 5"
                      key: id
                repair: { action: manual }
                """,
            "c.yaml": """
                version: 1
                id: x.unknown-dataset
                severity: error
                store: graph
                description: d
                check: { kind: duplicate, in: [ { dataset: graph.widgets, key: id } ] }
                repair: { action: manual }
                """,
            "d.yaml": """
                version: 1
                id: x.unknown-field
                severity: error
                store: graph
                description: d
                check:
                  kind: duplicate
                  in:
                    - { dataset: graph.nodes, key: colour }
                repair: { action: manual }
                """,
            "e.yaml": """
                version: 7
                id: x.future
                severity: error
                store: graph
                description: d
                check: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }
                repair: { action: manual }
                """,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, problems) = RuleSet.check(directory: dir)
        func problem(_ file: String) -> Diagnostic? { problems.first { $0.file.hasSuffix("/" + file) } }
        #expect(problems.count == 5, "\(problems)")
        #expect(problem("a.yaml").map { "\($0.line):\($0.column)" } == "6:1")
        #expect(problem("a.yaml")?.message.contains("unknown key 'colour'") == true)
        #expect(problem("b.yaml").map { "\($0.line):\($0.column)" } == "10:27")
        #expect(problem("b.yaml")?.message.contains("bad expression") == true)
        #expect(problem("c.yaml")?.message.contains("unknown dataset 'graph.widgets'") == true)
        #expect(problem("c.yaml")?.line == 6)
        #expect(problem("d.yaml").map { "\($0.line):\($0.column)" } == "9:36")
        #expect(problem("d.yaml")?.message.contains("unknown field 'colour'") == true)
        #expect(problem("e.yaml").map { "\($0.line):\($0.column)" } == "1:10")
        #expect(problem("e.yaml")?.message.contains("unsupported rule format version") == true)
        #expect(throws: ConcordError.self) { try RuleSet.load(directory: dir) }
        #expect(problems.allSatisfy { $0.description.hasPrefix($0.file + ":\($0.line):\($0.column): ") })
    }

    /// The kinds the engine knows are the kinds Rules/README.md documents, in its order: an unknown kind is
    /// refused naming them all, and each documented kind is known (written with no keys, it is told what it
    /// needs, and an unknown key is refused naming the kind).
    @Test func theCheckKindsAreTheDocumentedOnes() throws {
        let readme = try String(contentsOf: RuleFixtureTests.rulesDir.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Check kinds").dropFirst().first)
        let table = section.components(separatedBy: "\n## ")[0]
        let documented = table.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`").first.map(String.init)
        }
        #expect(documented.count == 11)
        func problems(_ check: String) throws -> [String] {
            let dir = try rulesDir(["r.yaml": "version: 1\nid: x.k\nseverity: error\nstore: graph\ndescription: d\ncheck: \(check)\nrepair: { action: manual }\n"])
            defer { try? FileManager.default.removeItem(at: dir) }
            return RuleSet.check(directory: dir).1.map(\.message)
        }
        let unknown = try problems("{ kind: bogus }")
        #expect(unknown == ["unknown check kind 'bogus' (\(documented.joined(separator: ", ")))"])
        for kind in documented {
            let bare = try problems("{ kind: \(kind) }")
            #expect(!bare.isEmpty && bare.allSatisfy { $0.contains("kind \(kind) needs '") }, "\(kind): \(bare)")
            let extra = try problems("{ kind: \(kind), colour: red }")
            #expect(extra.contains { $0.hasPrefix("unknown key 'colour' for kind \(kind) ") }, "\(kind): \(extra)")
        }
    }

    /// Datasets play roles for Concord's own commands: declared with `role:`, else by their conventional
    /// name; an unknown role, a role played twice, or one the dataset's type cannot play is refused at its line.
    @Test func datasetRoles() throws {
        let shipped = try RuleSet.load(directory: RuleFixtureTests.rulesDir).datasets
        #expect(Set(shipped.roles.keys) == Set(DatasetRole.allCases))
        #expect(DatasetRole.allCases.allSatisfy { shipped.roles[$0] == $0.conventionalName })
        func catalog(_ text: String) -> (DatasetCatalog, [String]) {
            var diagnostics: [Diagnostic] = []
            let c = DatasetCatalog.load(text: "version: 1\ndatasets:\n" + text, file: "datasets.yaml", diagnostics: &diagnostics)
            return (c, diagnostics.map { "\($0.line): \($0.message)" })
        }
        // Renamed, with its role: found by role. Named conventionally without one: found too.
        let (renamed, none) = catalog("""
              events.per-run: { role: event-streams, store: redis, type: stream, pattern: "workflow:{workflowId}:events" }
              redis.status: { store: redis, type: hash, pattern: "workflow:{workflowId}:status", fields: [state] }
            """)
        #expect(none.isEmpty && renamed.dataset(.eventStreams)?.name == "events.per-run" && renamed.roles[.runStatus] == "redis.status")
        #expect(throws: ConcordError.self) { try renamed.require(.graphEvents, by: "restore") }
        // A conventional name another dataset's declared role takes over stays only a name.
        let (other, _) = catalog("""
              redis.streams: { store: redis, type: stream, pattern: "old:{workflowId}:events" }
              events.per-run: { role: event-streams, store: redis, type: stream, pattern: "workflow:{workflowId}:events" }
            """)
        #expect(other.roles[.eventStreams] == "events.per-run")
        let (_, problems) = catalog("""
              a: { role: event-stream, store: redis, type: stream, pattern: "a:{workflowId}" }
              b: { role: run-status, store: redis, type: list, key: "b" }
              c: { role: confirmed, store: redis, type: zset, key: "c" }
              d: { role: confirmed, store: redis, type: zset, key: "d" }
            """)
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("3: unknown role 'event-stream' (event-streams, queue,") })
        #expect(problems.contains { $0.hasPrefix("4: role 'run-status' is a Redis hash per run") })
        #expect(problems.contains { $0 == "6: role 'confirmed' is also c's: one dataset plays a role" })
    }

    /// The mistakes that used to pass silently: a typo in a repair action,
    /// an unknown repair key, an endpoint property that does not exist, a
    /// lookup field a store cannot be asked by — each an error at its
    /// position; a rule whose findings cannot be re-read is a warning.
    @Test func silentMistakesAreCaughtAtTheirPosition() throws {
        let dir = try rulesDir([
            "f.yaml": """
                version: 1
                id: x.action-typo
                severity: error
                store: graph
                description: d
                check: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }
                repair:
                  action: replay-evnt
                """,
            "g.yaml": """
                version: 1
                id: x.endpoint-typo
                severity: error
                store: graph
                description: d
                check:
                  kind: filter
                  in:
                    - { dataset: graph.edges, key: to.id, where: "to.persisted_att > 0" }
                repair: { action: manual }
                """,
            "h.yaml": """
                version: 1
                id: x.repair-key
                severity: error
                store: graph
                description: d
                check: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }
                repair:
                  action: merge-nodes
                  winer: graph
                """,
            "i.yaml": """
                version: 1
                id: x.not-recheckable
                severity: warning
                store: postgres
                description: d
                check:
                  kind: filter
                  in:
                    - dataset: postgres.draft_history
                      where: "changed_by == 'bot'"
                      key: "draft_id + '#v' + string(version)"
                repair: { action: manual }
                """,
            "j.yaml": """
                version: 1
                id: x.set-field-without-fields
                severity: error
                store: redis
                description: d
                check: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }
                repair: { action: set-field, dataset: redis.nowhere }
                """,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, problems) = RuleSet.check(directory: dir)
        func of(_ file: String) -> [Diagnostic] { problems.filter { $0.file.hasSuffix("/" + file) } }
        let f = try #require(of("f.yaml").first)
        #expect("\(f.line):\(f.column)" == "8:11" && f.message.contains("unknown repair action 'replay-evnt'") && f.message.contains("replay-event"), "\(f)")
        let g = try #require(of("g.yaml").first)
        #expect("\(g.line):\(g.column)" == "9:51" && g.message.contains("unknown endpoint property 'persisted_att'"), "\(g)")
        let h = try #require(of("h.yaml").first)
        #expect("\(h.line):\(h.column)" == "9:3" && h.message.contains("unknown key 'winer'"), "\(h)")
        let i = try #require(of("i.yaml").first)
        #expect(i.severity == .warning && "\(i.line):\(i.column)" == "9:7", "\(i)")
        #expect(i.message.contains("cannot be rechecked") && i.message.contains("postgres.draft_history"), "\(i)")
        #expect(i.description.contains(":9:7: warning: "))
        let j = of("j.yaml").map(\.message)
        #expect(j.contains { $0.contains("needs 'fields'") } && j.contains { $0.contains("unknown dataset 'redis.nowhere'") }, "\(j)")
        #expect(problems.filter { $0.severity == .error }.count == 5, "\(problems)")
        #expect(throws: ConcordError.self) { try RuleSet.load(directory: dir) }
        // Without the errors, the rules load, and the warning travels with them.
        for name in ["f.yaml", "g.yaml", "h.yaml", "j.yaml"] { try FileManager.default.removeItem(at: dir.appendingPathComponent(name)) }
        let loaded = try RuleSet.load(directory: dir)
        #expect(loaded.warnings.count == 1)
        #expect(loaded.recheckUnavailable(rule: "x.not-recheckable", hasRun: true) != nil)
        // The catalog itself: every rule can be rechecked.
        let catalog = try RuleSet.load(directory: RuleFixtureTests.rulesDir)
        #expect(catalog.warnings.isEmpty, "\(catalog.warnings)")
        for r in catalog.rules { #expect(catalog.recheckUnavailable(rule: r.id, hasRun: true) == nil, "\(r.id)") }
    }

    @Test func lookupFieldsMustBeAskable() throws {
        let dir = try rulesDir(["a.yaml": """
            version: 1
            id: x.a
            severity: error
            store: graph
            description: d
            check: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }
            repair: { action: manual }
            """], datasets: """
              redis.prefs:
                store: redis
                type: hash
                pattern: "tenant:{tenant}:prefs:{userId}"
                fields: [theme]
                lookup: { id: [theme] }

            """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, problems) = RuleSet.check(directory: dir)
        #expect(problems.count == 1 && problems[0].message.contains("lookup.id 'theme'") && problems[0].message.contains("tenant, userId"), "\(problems)")
    }

    /// A rule over another label and key pattern is a file edit: a new dataset
    /// in datasets.yaml and a rule file, no code.
    @Test func aRuleOverAnotherLabelIsAFileEdit() throws {
        let dir = try rulesDir(["comment.duplicate.yaml": """
            version: 1
            id: comment.duplicate
            severity: warning
            store: graph
            description: Two :Comment nodes with one id.
            message: "comment {key} is stored {evidence.count} times"
            check:
              kind: duplicate
              in: [ { dataset: graph.comments, key: id, workflowId: run } ]
            repair: { action: manual }
            """], datasets: """
              graph.comments:
                store: graph
                label: Comment
                properties: [id, run, text]

            """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = try RuleSet.load(directory: dir)
        #expect(rules.rules.map(\.id) == ["comment.duplicate"])
        #expect(rules.datasets["graph.comments"]?.source == .graphLabel("Comment"))
        let snapDir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("snap"))
        defer { try? FileManager.default.removeItem(at: snapDir) }
        let w = try SnapshotWriter(directory: snapDir)
        for c: JSON in [["id": "c1", "run": "r1", "text": "a"], ["id": "c1", "run": "r1", "text": "a"], ["id": "c2", "run": "r1", "text": "b"]] {
            try w.append(c, to: "graph.comments")
        }
        try w.finish()
        let report = try Auditor.audit(snapshot: try Snapshot(directory: snapDir), AuditRequest(rules: rules))
        #expect(report.findings.map(\.key) == ["c1"])
        #expect(report.findings.first?.message == "comment c1 is stored 2 times")
    }

    /// `reachable` over a chain far deeper than any recursion could go, with
    /// a detached branch: exactly the detached nodes, each once.
    @Test func reachableIsIterativeAndReportsEachNodeOnce() throws {
        let dir = try rulesDir(["x.yaml": """
            version: 1
            id: x.unreachable
            severity: error
            store: graph
            description: d
            check:
              kind: reachable
              nodes: { dataset: graph.nodes, key: id, workflowId: workflow_id }
              roots: [ { dataset: graph.runs, key: id } ]
              edges: [ { dataset: graph.edges, from: from.id, to: to.id } ]
            repair: { action: manual }
            """])
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = try RuleSet.load(directory: dir)
        let snapDir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("deep"))
        defer { try? FileManager.default.removeItem(at: snapDir) }
        let w = try SnapshotWriter(directory: snapDir)
        let depth = 60_000
        try w.append(["id": "run"], to: "graph.runs")
        func edge(_ a: String, _ b: String) throws { try w.append(["type": "PARENT_OF", "from": ["id": .string(a)], "to": ["id": .string(b)]], to: "graph.edges") }
        for i in 0..<depth {
            try w.append(["id": .string("n\(i)"), "workflow_id": "run"], to: "graph.nodes")
            try edge(i == 0 ? "run" : "n\(i - 1)", "n\(i)")
        }
        // A detached branch with a loop and a node listed twice, and an edge into the main chain (which stays reached).
        for id in ["d0", "d1", "d2", "d1"] { try w.append(["id": .string(id), "workflow_id": "run"], to: "graph.nodes") }
        try edge("d0", "d1"); try edge("d1", "d2"); try edge("d2", "d1"); try edge("d2", "n5")
        try w.finish()
        let report = try Auditor.audit(snapshot: try Snapshot(directory: snapDir), AuditRequest(rules: rules))
        #expect(report.findings.map(\.key) == ["d0", "d1", "d2"])
        #expect(report.findings.first?.evidence["roots"] == ["graph.runs"])
    }

    @Test func keyPatterns() throws {
        let p = try #require(KeyPattern("workflow:{workflowId}:events"))
        #expect(p.match("workflow:wr_1:events") == ["workflowId": "wr_1"])
        #expect(p.match("workflow:wr_1:status") == nil)
        #expect(p.match("workflow::events") == nil)
        #expect(p.glob == "workflow:*:events")
        #expect(KeyPattern("no-capture") == nil)
        // More than one capture: an inner capture ends at the first occurrence of the text after it.
        let t = try #require(KeyPattern("tenant:{tenant}:prefs:{userId}"))
        #expect(t.captures == ["tenant", "userId"])
        #expect(t.match("tenant:acme:prefs:u:7") == ["tenant": "acme", "userId": "u:7"])
        #expect(t.match("tenant:acme:prefs:") == nil)
        #expect(t.match("tenant:acme:other:u1") == nil)
        #expect(t.glob(fixing: ["userId": "u*1"]) == "tenant:*:prefs:u\\*1")
        #expect(t.key(["tenant": "acme", "userId": "u1"]) == "tenant:acme:prefs:u1")
        #expect(t.key(["tenant": "acme"]) == nil)
        #expect(KeyPattern("a:{x}{y}") == nil)
        #expect(KeyPattern("a:{x}:b:{x}") == nil)
        #expect(try #require(KeyPattern("{id}")).match("abc") == ["id": "abc"])
    }
}
