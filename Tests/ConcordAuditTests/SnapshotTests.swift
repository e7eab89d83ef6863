import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

@Suite struct SnapshotTests {
    func tempDir() -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("snap-\(UUID().uuidString)")
    }

    func write(_ dir: URL, nodes: Int = 25_000) throws -> [JSON] {
        let w = try SnapshotWriter(directory: dir)
        var written: [JSON] = []
        for i in 0..<nodes {
            let r: JSON = ["id": .string("ev_\(i)"), "content": .string("é😀 \"\(i)\"\n"), "timestamp": .int(Int64(i))]
            try w.append(r, to: "graph.nodes")
            if i < 3 { written.append(r) }
        }
        try w.append(["key": "persistence:queue", "raw": "not json"], to: "redis.queue")
        w.setStore("graph", readAt: Date(timeIntervalSince1970: 1_764_393_600), watermark: ["nodes": .int(Int64(nodes))])
        let manifest = try w.finish()
        #expect(manifest["format"] == "concord.snapshot/1")
        return written
    }

    @Test func roundTripsWithChecksums() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try write(dir)
        let snap = try Snapshot(directory: dir)
        #expect(snap.datasets == ["graph.nodes", "redis.queue"])
        #expect(snap.recordCount("graph.nodes") == 25_000)
        var seen: [JSON] = []
        let n = try snap.read("graph.nodes") { if seen.count < 3 { seen.append($0) } }
        #expect(n == 25_000)
        #expect(seen == first)
        #expect(snap.manifest["stores"]?["graph"]?["readAt"] == "2025-11-29T05:20:00.000Z")
        #expect(throws: ConcordError.self) { try snap.read("graph.edges") { _ in } }
    }

    @Test func aChangedByteIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try write(dir, nodes: 100)
        let file = dir.appendingPathComponent("graph.nodes.ndjson")
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: file)
        do {
            _ = try Snapshot(directory: dir)
            Issue.record("a damaged snapshot was accepted")
        } catch let e as ConcordError {
            #expect(e.code == .invalidInput)
            #expect(e.message.contains("graph.nodes.ndjson") && e.message.contains("checksum"))
        }
    }

    /// One byte changed anywhere — in any dataset file, in the manifest, in
    /// the manifest's checksum — and the snapshot is refused when opened,
    /// before any record is read or any finding reported.
    @Test func oneByteChangedAnywhereIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try SnapshotWriter(directory: dir, datasets: [])
        for i in 0..<200 { try w.append(["id": .string("ev_\(i)"), "content": .string("{\"a\": \(i)}")], to: "graph.nodes") }
        try w.append(TextRecord(base: ["key": "workflow:r:events", "entry": "1-0", "seq": 0, "workflowId": "r"], text: Array(#"{ "id" : "e" }"#.utf8), field: "event"),
                     to: "redis.streams")
        try w.finish()
        _ = try Snapshot(directory: dir)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files.contains("manifest.sha256") && files.contains("manifest.json"))
        var rng = SystemRandomNumberGenerator()
        var tried = 0
        for name in files {
            let url = dir.appendingPathComponent(name)
            let original = [UInt8](try Data(contentsOf: url))
            // The first and last byte of every file, and random ones between.
            let positions = Set([0, original.count - 1] + (0..<40).map { _ in Int.random(in: 0..<original.count, using: &rng) })
            for at in positions {
                var bytes = original
                bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
                try Data(bytes).write(to: url)
                #expect(throws: ConcordError.self, "byte \(at) of \(name) changed") { _ = try Snapshot(directory: dir) }
                tried += 1
            }
            try Data(original).write(to: url)
        }
        #expect(tried > 100)
        _ = try Snapshot(directory: dir)  // restored: accepted again
    }

    @Test func unfinishedMissingOrForeignSnapshotsAreRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try SnapshotWriter(directory: dir)
        try w.append(["a": 1], to: "x")
        #expect(throws: ConcordError.self) { try Snapshot(directory: dir) }  // no manifest yet
        try w.finish()
        #expect(throws: ConcordError.self) { try SnapshotWriter(directory: dir) }  // never overwrite
        try FileManager.default.removeItem(at: dir.appendingPathComponent("x.ndjson"))
        #expect(throws: ConcordError.self) { try Snapshot(directory: dir) }
        // Another tool's snapshot (no manifest.sha256) of a format this one does not know.
        try FileManager.default.removeItem(at: dir.appendingPathComponent(Snapshot.manifestSumFile))
        try Data(#"{"format":"concord.snapshot/9","datasets":{}}"#.utf8).write(to: dir.appendingPathComponent("manifest.json"))
        do {
            _ = try Snapshot(directory: dir)
            Issue.record("an unknown format was accepted")
        } catch let e as ConcordError {
            #expect(e.message.contains("unsupported format"))
        }
        #expect(throws: ConcordError.self) { try SnapshotWriter(directory: tempDir()).append([:], to: "../escape") }
    }
}

/// Stream entries as other producers store them, through a snapshot and back: `raw` is the stored text
/// byte for byte, whether the line carries it verbatim (JSON on one line) or escaped beside the canonical
/// value (line breaks, not JSON).
@Suite struct SnapshotVerbatimTests {
    static let texts: [String] = [
        #"{"id":"c1","type":"message","parentId":"wr","timestamp":1,"payload":{},"metadata":{"workflowId":"wr"}}"#,
        #"{"type": "message", "id": "p2", "payload": {"s": "caf\u00e9 \/ \"q\" \ud83d\ude00", "n": 1.50, "e": 1e3}, "metadata": {"workflowId": "wr", "extra": [1, 2, {"k": null}]}}"#,
        "  {\"id\":\"ws3\",\t\"type\":\"x\"}\t ",
        #"{"a":",\"event\":1,\"x\":}","id":"tricky4","b":"}"}"#,
        "{\n  \"id\": \"pretty5\",\r\n  \"type\": \"message\"\n}",
        #"{"id": "truncated"#,
        #"[1,2,3]"#,
        "{\"id\":\"big7\",\"payload\":\"" + String(repeating: "é😀x", count: 60_000) + "\"}",
    ]

    @Test func storedTextComesBackByteForByte() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("snap-verbatim-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules"))
        let w = try SnapshotWriter(directory: dir, datasets: Array(rules.datasets.specs.values))
        // A key holding the very bytes the reader looks for must not confuse it.
        let keys = ["workflow:wr:events", #"workflow:a,"event":b:events"#]
        for (i, t) in Self.texts.enumerated() {
            let base: [String: JSON] = ["key": .string(keys[i % 2]), "entry": .string("\(i)-0"), "seq": .int(Int64(i)), "run": .string("wr")]
            try w.append(TextRecord(base: base, text: Array(t.utf8), field: "event"), to: "redis.streams")
        }
        for d in rules.datasets.specs.keys where d != "redis.streams" { try w.touch(d) }
        try w.finish()
        let file = try String(contentsOf: dir.appendingPathComponent("redis.streams.ndjson"), encoding: .utf8)
        let lines = file.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == Self.texts.count)
        // One-line JSON is in the file as it was stored, once.
        for i in [0, 1, 2, 3, 6, 7] {
            #expect(lines[i].contains(SnapshotLine.verbatimKey) && lines[i].hasSuffix(",\"event\":" + Self.texts[i] + "}"), "line \(i)")
        }
        #expect(!lines[4].contains(SnapshotLine.verbatimKey) && !lines[5].contains(SnapshotLine.verbatimKey))
        // Read back whole: `raw` is the stored text, `event` its value, no marker left.
        let snap = try Snapshot(directory: dir)
        var read: [JSON] = []
        try snap.read("redis.streams") { read.append($0) }
        #expect(read.count == Self.texts.count)
        for (i, r) in read.enumerated() {
            #expect((r["raw"]?.stringValue ?? "") == Self.texts[i] && r["raw"]?.stringValue?.utf8.count == Self.texts[i].utf8.count, "raw of \(i)")
            #expect(r["event"] == ((try? JSON.parse(Self.texts[i])) ?? .null), "event of \(i)")
            #expect(r[SnapshotLine.verbatimKey] == nil)
            #expect(r["key"]?.stringValue == keys[i % 2])
        }
        // The rules' own reading (projected lines): a malformed entry's evidence is its stored text, byte for byte
        // (every text here misses some field an event needs).
        let report = try Auditor.audit(snapshot: snap, AuditRequest(rules: rules, graceMs: 0))
        let evidence = report.findings.filter { $0.rule == "event.malformed" }.compactMap { $0.evidence["raw"]?.stringValue }
        // (Counted, not compared as sets: a failure would print 200 KB of bytes.)
        let evidenceBytes = Set(evidence.map { Array($0.utf8) })
        #expect(evidence.count == Self.texts.count && Self.texts.filter { !evidenceBytes.contains(Array($0.utf8)) }.isEmpty,
                "texts without their evidence: \(Self.texts.indices.filter { !evidenceBytes.contains(Array(Self.texts[$0].utf8)) })")
        // A rule of a user's own reading `raw` of entries that pass every schema: projected lines give it too.
        let own = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestStores.repositoryRoot.appendingPathComponent("Rules/datasets.yaml"), to: own.appendingPathComponent("datasets.yaml"))
        try """
            version: 1
            id: stream.raw-length
            severity: info
            store: redis
            description: Every stream entry, with its stored text.
            message: "{key}"
            check:
              kind: filter
              in:
                - dataset: redis.streams
                  where: "len(raw) > 0"
                  key: "key + '#' + entry"
                  values: { raw: raw }
            repair:
              action: manual
              reason: a test rule
            """.write(to: own.appendingPathComponent("stream.raw-length.yaml"), atomically: true, encoding: .utf8)
        let mine = try Auditor.audit(snapshot: snap, AuditRequest(rules: try RuleSet.load(directory: own), graceMs: 0))
        let raws = mine.findings.compactMap { $0.evidence["raw"]?.stringValue }
        let rawBytes = Set(raws.map { Array($0.utf8) })
        #expect(raws.count == Self.texts.count && Self.texts.filter { !rawBytes.contains(Array($0.utf8)) }.isEmpty,
                "texts whose raw did not come back: \(Self.texts.indices.filter { !rawBytes.contains(Array(Self.texts[$0].utf8)) })")
    }
}
