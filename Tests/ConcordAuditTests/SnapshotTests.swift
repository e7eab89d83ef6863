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
