import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordPostgres
import ConcordRedis
import ConcordRepair
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// A user's own stores and rules, by files only: a Redis hash cache of a
/// PostgreSQL table (keys with two captures), a Redis set of active users,
/// and an :Event chain hanging off its :FlowRun by STARTS_WITH/NEXT (with a
/// property on NEXT). Found, repaired by the generic actions, undone.
@Suite struct UserRulesTests {
    static let datasets = UserDatasets.prefs + """
          redis.active:
            store: redis
            type: set
            key: active-users
            lookup: { id: [member] }
          graph.flowruns:
            store: graph
            label: FlowRun
            properties: [id]
            lookup: { id: [id], run: [id] }
          graph.events:
            store: graph
            label: Event
            properties: [id, run, seq]
            lookup: { id: [id], run: [run] }
          graph.starts:
            store: graph
            relationship: STARTS_WITH
            endpoints: [id, run]
            lookup: { id: [to.id], run: [to.run] }
          graph.next:
            store: graph
            relationship: NEXT
            endpoints: [id, run]
            properties: [gapMs]
            lookup: { id: [to.id, from.id], run: [to.run] }

        """

    static let rules: [String: String] = [
        "prefs.cache-stale.yaml": """
            version: 1
            id: prefs.cache-stale
            severity: warning
            store: redis
            description: The preferences cache holds other values than PostgreSQL.
            message: "user {key}: the cache says {evidence.right.theme}, PostgreSQL {evidence.left.theme}"
            check:
              kind: compare
              left:
                dataset: postgres.prefs
                key: user_id
                values: { theme: preferences.theme, fontSize: "string(preferences.fontSize)", all: preferences }
              right:
                dataset: redis.prefs
                key: userId
                values: { theme: theme, fontSize: fontSize, all: all }
              differs: "keys(left.all) == keys(right.all) and values(left.all) != values(right.all)"
              report: right
            repair:
              action: set-field
              dataset: redis.prefs
              fields: [theme, fontSize]
              winner: postgres.prefs
            """,
        "prefs.cache-extra-fields.yaml": """
            version: 1
            id: prefs.cache-extra-fields
            severity: warning
            store: redis
            description: The cache entry has other fields than the preferences.
            check:
              kind: compare
              left: { dataset: postgres.prefs, key: user_id, values: { all: preferences } }
              right: { dataset: redis.prefs, key: userId, values: { all: all } }
              differs: "keys(left.all) != keys(omit(right.all, 'nothing'))"
              report: right
            repair: { action: delete-record, dataset: redis.prefs, fields: [legacy], winner: postgres.prefs }
            """,
        "prefs.cache-orphan.yaml": """
            version: 1
            id: prefs.cache-orphan
            severity: warning
            store: redis
            description: A cache entry for a user PostgreSQL does not have.
            check:
              kind: missing
              from: { dataset: redis.prefs, key: userId }
              absentFrom: [ { dataset: postgres.prefs, key: user_id } ]
            repair: { action: delete-record, dataset: redis.prefs }
            """,
        "active.unknown-user.yaml": """
            version: 1
            id: active.unknown-user
            severity: info
            store: redis
            description: An active user PostgreSQL does not have.
            check:
              kind: missing
              from: { dataset: redis.active, key: member }
              absentFrom: [ { dataset: postgres.prefs, key: user_id } ]
            repair: { action: delete-record, dataset: redis.active }
            """,
        "events.unreachable.yaml": """
            version: 1
            id: events.unreachable
            severity: error
            store: graph
            description: An :Event that no STARTS_WITH/NEXT path from a :FlowRun reaches.
            check:
              kind: reachable
              nodes: { dataset: graph.events, key: id, workflowId: run, values: { seq: seq } }
              roots: [ { dataset: graph.flowruns, key: id } ]
              edges:
                - { dataset: graph.starts, from: from.id, to: to.id }
                - { dataset: graph.next, from: from.id, to: to.id }
            repair: { action: delete-record, dataset: graph.events }
            """,
        "next.negative-gap.yaml": """
            version: 1
            id: next.negative-gap
            severity: warning
            store: graph
            description: A NEXT relationship whose gap is negative.
            check:
              kind: filter
              in: [ { dataset: graph.next, where: "gapMs < 0", key: to.id, workflowId: to.run, values: { gapMs: gapMs } } ]
            repair: { action: manual, reason: only the producer knows the right order }
            """,
    ]

    func rulesDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("userrules"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = try String(contentsOf: TestStores.repositoryRoot.appendingPathComponent("Rules/datasets.yaml"), encoding: .utf8)
        try Data((base + Self.datasets).utf8).write(to: dir.appendingPathComponent("datasets.yaml"))
        for (name, text) in Self.rules { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    /// Every record the rules read, as canonical text per dataset (to compare before and after).
    func state(_ f: AuditFixture, _ rules: RuleSet) throws -> [String: [String]] {
        final class Collect: RecordSink, @unchecked Sendable {
            let lock = NSLock()
            var out: [String: [String]] = [:]
            func append(_ record: JSON, to dataset: String) throws { lock.withLock { out[dataset, default: []].append(record.encoded()) } }
            func finished(_ dataset: String, records: Int) throws {}
        }
        let c = Collect()
        _ = try f.reader().read(AuditRequest(rules: rules).datasets, into: c)
        return c.out.mapValues { $0.sorted() }
    }

    @Test func aUsersOwnRulesFindRepairAndUndo() throws {
        let f = try AuditFixture(db: 23)
        let dir = try rulesDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (checked, problems) = RuleSet.check(directory: dir)
        #expect(problems.isEmpty, "\(problems)")
        let rules = try RuleSet.load(directory: dir)
        #expect(checked.rules.count == 6)

        try f.postgres.execute("""
            INSERT INTO user_preferences (user_id, preferences) VALUES
            ('u1', '{"theme": "dark", "fontSize": 14}'), ('u2', '{"fontSize": 12, "theme": "light"}'),
            ('u3', '{"theme": "dark", "fontSize": 16}'), ('u5', '{"theme": "dark", "fontSize": 10}')
            """)
        try f.redis.run("HSET", "tenant:acme:prefs:u1", "theme", "dark", "fontSize", "14")
        try f.redis.run("HSET", "tenant:acme:prefs:u2", "theme", "dark", "fontSize", "12")
        try f.redis.run("HSET", "tenant:beta:prefs:u4", "theme", "solarized", "fontSize", "9")
        try f.redis.run("HSET", "tenant:acme:prefs:u5", "theme", "dark", "fontSize", "10", "legacy", "yes")
        try f.redis.run("SADD", "active-users", "u1", "u2", "u9")
        try f.graph.run("""
            CREATE (r1:FlowRun {id: 'fr1'})-[:STARTS_WITH]->(a1:Event {id: 'a1', run: 'fr1', seq: 1})-[:NEXT {gapMs: 5}]->(a2:Event {id: 'a2', run: 'fr1', seq: 2}),
                   (r2:FlowRun {id: 'fr2'})-[:STARTS_WITH]->(b1:Event {id: 'b1', run: 'fr2', seq: 1})-[:NEXT {gapMs: -3}]->(b2:Event {id: 'b2', run: 'fr2', seq: 2}),
                   (c1:Event {id: 'c1', run: 'fr2', seq: 3})-[:NEXT {gapMs: 4}]->(c2:Event {id: 'c2', run: 'fr2', seq: 4})
            """)
        let before = try state(f, rules)

        let audit = try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true)
        let expected: Set<String> = ["prefs.cache-stale u2", "prefs.cache-extra-fields u5", "prefs.cache-orphan u4", "active.unknown-user u9",
                                     "events.unreachable c1", "events.unreachable c2", "next.negative-gap b2"]
        #expect(LiveAuditTests.keys(audit.findings) == expected, "\(audit.findings.map { "\($0.rule) \($0.key)" })")
        #expect(audit.recheck["unavailable"]?.intValue == 0 && audit.recheck["healed"]?.intValue == 0)

        let stores = RepairStores(postgres: f.postgres, redis: f.redis, graph: f.graph)
        let plan = try Planner(stores: stores, rules: rules).plan(report: audit.json(), file: "report")
        #expect(Set(plan.operations.map { "\($0.action) \($0.key)" }) == [
            "set-field u2", "set-field u5", "delete-record u4", "delete-record u9", "delete-record c1", "delete-record c2", "manual b2",
        ])
        let results = try Applier(stores: stores, plan: plan, operator: "test").apply()
        for r in results where r.operation.action != "manual" {
            #expect(r.outcome == .applied, "\(r.operation.action) \(r.operation.key): \(r.outcome) \(r.reason ?? "")")
        }
        #expect(try f.redis.hgetall("tenant:acme:prefs:u2") == ["theme": "light", "fontSize": "12"])
        #expect(try f.redis.run("EXISTS", "tenant:beta:prefs:u4").int == 0)
        #expect(try f.redis.hgetall("tenant:acme:prefs:u5") == ["theme": "dark", "fontSize": "10"])  // only the orphan field went
        #expect(try f.redis.run("SISMEMBER", "active-users", "u9").int == 0)
        let repaired = try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true)
        #expect(LiveAuditTests.keys(repaired.findings) == ["next.negative-gap b2"])

        // Undo, from the journal alone: `concord undo` writes the inverse plan, `concord apply` runs it;
        // every before-image comes back, edges and their properties included.
        let inverse = plan.inverse(applied: Set(results.filter { $0.outcome == .applied }.map(\.operation.id)))
        #expect(inverse.operations.count == 6 && !inverse.operations.contains { $0.store == .manual })
        let undoFile = dir.appendingPathComponent("undo.json")
        let storeArgs = ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs + ["--rules", dir.path]
        let undo = try TestStores.run(TestStores.concord, ["undo", plan.planId, "--output", undoFile.path] + storeArgs)
        #expect(undo.status == 0, "\(undo.stderr)")
        let undoPlan = try RepairPlan(file: undoFile.path)
        #expect(undoPlan.operations.map(\.id).sorted() == inverse.operations.map(\.id).sorted())
        let undone = try TestStores.run(TestStores.concord, ["apply", undoFile.path, "--yes", "--operator", "test", "--output-dir", dir.path] + storeArgs)
        #expect(undone.status == 0, "\(String(decoding: undone.stdout, as: UTF8.self)) \(undone.stderr)")
        #expect(String(decoding: undone.stdout, as: UTF8.self).contains("6 applied, 0 skipped, 0 failed"))
        #expect(try state(f, rules) == before)
        // Nothing to undo twice over: a plan id the journal does not have is a clear error.
        let unknown = try TestStores.run(TestStores.concord, ["undo", "plan-nonexistent", "--output", undoFile.path] + storeArgs)
        #expect(unknown.status == 2 && unknown.stderr.contains("no plan plan-nonexistent"), "\(unknown.stderr)")
        #expect(try f.graph.run("MATCH (:Event {id: 'c1'})-[n:NEXT]->(:Event {id: 'c2'}) RETURN n.gapMs").records.map { $0[0].intValue } == [4])
        let again = try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true)
        #expect(LiveAuditTests.keys(again.findings) == expected)

        // A record changed after the plan is not overwritten by the undo either.
        try f.redis.run("HSET", "tenant:acme:prefs:u2", "theme", "sepia")
        let second = try Planner(stores: stores, rules: rules).plan(report: again.json(), file: "report")
        try f.redis.run("HSET", "tenant:acme:prefs:u2", "theme", "contrast")
        let skipped = try Applier(stores: stores, plan: second, operator: "test").apply().filter { $0.operation.key == "u2" }
        #expect(skipped.map(\.outcome) == [.skipped] && skipped[0].reason?.contains("contrast") == true, "\(skipped.map { $0.reason ?? "" })")
    }
}

/// The rule language's repair vocabulary and the repair module's actions are the same set.
@Suite struct RepairRegistryTests {
    @Test func everyActionARuleCanNameIsImplemented() throws {
        #expect(Set(RepairRegistry.actions.keys) == Set(RepairVocabulary.actions.keys))
        // Plans and journals name operation kinds: the names are part of the contract (docs/interface.md), so a
        // kind renamed or dropped would leave plans and journals nobody can apply or undo.
        let text = try String(contentsOf: TestStores.repositoryRoot.appendingPathComponent("docs/interface.md"), encoding: .utf8)
        let block = try #require(text.range(of: "```operations\n").flatMap { start in
            text.range(of: "```", range: start.upperBound..<text.endIndex).map { String(text[start.upperBound..<$0.lowerBound]) }
        })
        let documented = Set(block.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        #expect(Set(RepairRegistry.operations.keys) == documented,
                "registered, not documented: \(Set(RepairRegistry.operations.keys).subtracting(documented).sorted()); documented, not registered: \(documented.subtracting(RepairRegistry.operations.keys).sorted())")
        // Stores run in order: graph, Redis, PostgreSQL, then the manual steps.
        func op(_ store: String, _ action: String) -> RepairOperation {
            RepairOperation(findingId: "f", rule: "r", store: RepairStore(rawValue: store)!, action: action, key: "k", params: .null, precondition: .null, before: .null, after: .null)
        }
        let phases = [op("graph", "create-run"), op("graph", "replay-event"), op("graph", "relink-parent"), op("redis", "confirm-event"),
                      op("redis", "dead-letter"), op("postgres", "set-field"), op("manual", "manual")].map(RepairRegistry.phase)
        #expect(phases == phases.sorted() && Set(phases).count == phases.count)
        // A plan's operation names its store and action from these sets; anything else is refused when it is read.
        var j = op("graph", "replay-event").json.objectValue ?? [:]
        #expect(try RepairOperation(json: .object(j)).store == .graph)
        j["store"] = "mongo"
        #expect(throws: ConcordError.self) { try RepairOperation(json: .object(j)) }
        j["store"] = "graph"
        j["action"] = "replay-events"
        #expect(throws: ConcordError.self) { try RepairOperation(json: .object(j)) }
    }
}

/// Redis strings and sets by key pattern, as another service writes them: JSON text with spaces and
/// escapes, plain text, a value that is not JSON; read in full and by the recheck's lookups, repaired.
@Suite struct RedisStringAndSetTests {
    @Test func stringsAndSetsByPatternAreAuditedRecheckedAndRepaired() throws {
        let f = try AuditFixture(db: 25)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("strrules"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try String(contentsOf: TestStores.repositoryRoot.appendingPathComponent("Rules/datasets.yaml"), encoding: .utf8)
        try Data((base + """
              redis.sessions:
                store: redis
                type: string
                pattern: "session:{tenant}:{userId}"
                as: doc
                lookup: { id: [userId] }
              redis.roles:
                store: redis
                type: set
                pattern: "roles:{userId}"
                lookup: { id: [userId] }
              postgres.prefs:
                store: postgres
                table: user_preferences
                columns: [user_id, preferences]
                lookup: { id: [user_id] }

            """).utf8).write(to: dir.appendingPathComponent("datasets.yaml"))
        try Data("""
            version: 1
            id: session.bad-json
            severity: warning
            store: redis
            description: A session that is not a JSON object with a user.
            check:
              kind: filter
              in: [ { dataset: redis.sessions, where: "type(doc) != 'object' or doc.user != userId", key: userId, values: { text: value } } ]
            repair: { action: delete-record, dataset: redis.sessions }

            """.utf8).write(to: dir.appendingPathComponent("session.bad-json.yaml"))
        try Data("""
            version: 1
            id: session.theme-stale
            severity: info
            store: redis
            description: The session caches another theme than the preferences.
            check:
              kind: compare
              left: { dataset: postgres.prefs, key: user_id, values: { value: "preferences.theme" } }
              right: { dataset: redis.sessions, where: "type(doc) == 'string'", key: userId, values: { value: value } }
              fields: [value]
              report: right
            repair: { action: set-field, dataset: redis.sessions, fields: [value] }

            """.utf8).write(to: dir.appendingPathComponent("session.theme-stale.yaml"))
        try Data("""
            version: 1
            id: roles.admin-without-prefs
            severity: warning
            store: redis
            description: A user with roles but no preferences row.
            check:
              kind: missing
              from: { dataset: redis.roles, where: "member == 'admin'", key: userId }
              absentFrom: [ { dataset: postgres.prefs, key: user_id } ]
            repair: { action: delete-record, dataset: redis.roles }

            """.utf8).write(to: dir.appendingPathComponent("roles.admin-without-prefs.yaml"))
        let rules = try RuleSet.load(directory: dir)
        #expect(rules.warnings.isEmpty, "\(rules.warnings)")

        try f.postgres.execute(#"INSERT INTO user_preferences (user_id, preferences) VALUES ('u1', '{"theme": "dark"}'), ('u2', '{"theme": "light"}')"#)
        try f.redis.run("SET", "session:acme:u1", #"{ "user" : "u1", "note" : "caf\u00e9" }"#)     // fine
        try f.redis.run("SET", "session:acme:u2", #""dark""#)                                       // a JSON string: stale theme
        try f.redis.run("SET", "session:beta:u3", "not json at all")                                // bad
        try f.redis.run("SET", "session:beta:u4", #"{"user": "someone-else"}"#)                     // bad
        try f.redis.run("SADD", "roles:u1", "admin", "editor")
        try f.redis.run("SADD", "roles:u7", "admin")                                                // no prefs
        try f.redis.run("SADD", "roles:u8", "viewer")                                               // not an admin

        let audit = try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true)
        #expect(LiveAuditTests.keys(audit.findings) == ["session.bad-json u3", "session.bad-json u4", "session.bad-json u2",
                                                        "session.theme-stale u2", "roles.admin-without-prefs u7"],
                "\(audit.findings.map { "\($0.rule) \($0.key)" })")
        #expect(audit.recheck["healed"]?.intValue == 0 && audit.recheck["unavailable"]?.intValue == 0)
        #expect(audit.findings.first { $0.key == "u3" }?.evidence["text"] == "not json at all")

        let stores = RepairStores(postgres: f.postgres, redis: f.redis, graph: f.graph)
        // The stale theme first (set-field on a string), on its own plan.
        let themePlan = try Planner(stores: stores, rules: rules).plan(report: audit.json(), file: "report", only: ["session.theme-stale", "roles.admin-without-prefs"])
        let themed = try Applier(stores: stores, plan: themePlan, operator: "test").apply()
        #expect(themed.allSatisfy { $0.outcome == .applied }, "\(themed.map { "\($0.operation.action) \($0.operation.key) \($0.outcome) \($0.reason ?? "")" })")
        #expect(try f.redis.run("GET", "session:acme:u2").string == "light")
        #expect(try f.redis.run("EXISTS", "roles:u7").int == 0 && f.redis.run("EXISTS", "roles:u1").int == 1)
        let bad = try Planner(stores: stores, rules: rules).plan(report: try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true).json(),
                                                                 file: "report", only: ["session.bad-json"])
        let deleted = try Applier(stores: stores, plan: bad, operator: "test").apply()
        #expect(Set(deleted.filter { $0.outcome == .applied }.map(\.operation.key)) == ["u2", "u3", "u4"])
        #expect(try f.redis.run("EXISTS", "session:beta:u3", "session:beta:u4", "session:acme:u2").int == 0)
        #expect(try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true).findings.isEmpty)
        // And back: the inverse restores the strings byte for byte.
        let undone = try Applier(stores: stores, plan: bad.inverse(applied: Set(deleted.map(\.operation.id))), operator: "test").apply()
        #expect(undone.allSatisfy { $0.outcome == .applied })
        #expect(try f.redis.run("GET", "session:beta:u3").string == "not json at all")
    }
}
