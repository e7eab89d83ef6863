import ConcordAudit
import ConcordCore
import ConcordJSON
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
