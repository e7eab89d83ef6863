import ConcordCore
import ConcordJSON
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// `concord maintain queue stats` and `deadletter list/show` on queues other producers filled.
@Suite struct MaintainCommandTests {
    static var concord: String { TestStores.concord }

    @Test func queueStatsAndDeadLetters() throws {
        let f = try AuditFixture(db: 64)
        let stores = ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs
        let old = nowMilliseconds() - 600_000
        // Waiting: two events of one run written the way another producer writes them, one of another run.
        try f.redis.run("RPUSH", "persistence:queue",
                        #"{ "type" : "note", "timestamp" : \#(old), "id" : "q1", "parentId" : "wr_a", "payload" : {}, "metadata" : { "workflowId" : "wr_a", "userId" : "u" } }"#,
                        #"{"id":"q2","timestamp":\#(old + 1000),"type":"note","parentId":"q1","payload":{"é":"\u00e9"},"metadata":{"workflowId":"wr_a","userId":"u"}}"#,
                        #"{"id":"q3","timestamp":\#(old + 2000),"type":"note","parentId":"wr_b","payload":{},"metadata":{"workflowId":"wr_b","userId":"u"}}"#)
        // Dead letters: one as the sync writes them, one another writer left as plain text.
        try f.redis.run("RPUSH", "persistence:deadletter", #"{"raw":"{\"id\": \"truncated","error":"not JSON: unexpected end","at":\#(old)}"#, "just text, no JSON")

        let stats = try TestStores.run(Self.concord, ["maintain", "queue", "stats", "--format", "json"] + stores)
        #expect(stats.status == 0, "\(stats.stderr)")
        let s = try JSON.parse([UInt8](stats.stdout))
        #expect(s["queue"]?["length"]?.intValue == 3)
        #expect((s["queue"]?["oldestAgeMs"]?.intValue ?? 0) >= 600_000)
        #expect(s["deadletter"]?["length"]?.intValue == 2)
        #expect(s["runs"]?[0]?["workflowId"]?.stringValue == "wr_a" && s["runs"]?[0]?["waiting"]?.intValue == 2)
        let text = String(decoding: try TestStores.run(Self.concord, ["maintain", "queue", "stats"] + stores).stdout, as: UTF8.self)
        #expect(text.contains("queue       3 entries, oldest 10m") && text.contains("wr_a  2"), "\(text)")

        // The older spelling still prints JSON on stdout; the note that it is deprecated goes to stderr.
        let list = try TestStores.run(Self.concord, ["maintain", "deadletter", "list", "--json"] + stores)
        #expect(list.stderr.contains("--json is deprecated; use --format json"), "\(list.stderr)")
        let l = try JSON.parse([UInt8](list.stdout))
        #expect(l["total"]?.intValue == 2)
        #expect(l["entries"]?[0]?["raw"]?.stringValue == #"{"id": "truncated"#)
        #expect(l["entries"]?[1]?["raw"]?.stringValue == "just text, no JSON")
        let shown = try TestStores.run(Self.concord, ["maintain", "deadletter", "show", "0"] + stores)
        #expect(try JSON.parse([UInt8](shown.stdout))["error"]?.stringValue == "not JSON: unexpected end")
        let missing = try TestStores.run(Self.concord, ["maintain", "deadletter", "show", "9"] + stores)
        #expect(missing.status == 2 && missing.stderr.contains("no dead-letter entry at index 9"))
        withExtendedLifetime(f) {}
    }
}
