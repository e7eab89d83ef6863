import ConcordGraph
import ConcordTestSupport
import Testing

@Suite struct SmokeTests {
    @Test func boltAgainstFalkorDB() throws {
        let g = try BoltStore(url: TestStores.boltURL, ioTimeout: 10)
        print("version", try g.serverVersion())
        let r = try g.run("UNWIND range(1, 5) AS i RETURN i, 'x' + toString(i) AS s, {a: i} AS m")
        print(r.columns, r.records.map(\.values))
        let w = try g.run("CREATE (n:Smoke {v: $v}) RETURN n", parameters: ["v": "hé\"llo"])
        print(w.records, w.summary)
        do { try g.run("RETURN nosuchfn(1)") } catch { print("ERR", error) }
        print(try g.run("RETURN 1").records)
    }
}
