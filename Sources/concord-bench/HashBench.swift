import ConcordCore
import ConcordCrypto
import Foundation

/// SHA-256 as Concord computes it (snapshot and archive checksums, plan digests, run buckets),
/// beside `sha256sum` hashing the same file in the same run.
@MainActor func hashBench() throws {
    let dir = try Bench.workDirectory("hash")
    let file = dir.appendingPathComponent("blob")
    let size = 256 << 20
    var bytes = [UInt8](repeating: 0, count: size)
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in 0..<size { x ^= x << 13; x ^= x >> 7; x ^= x << 17; bytes[i] = UInt8(truncatingIfNeeded: x) }
    try Data(bytes).write(to: file)
    var rows: [BenchRow] = []
    var hex = ""
    let streamed = try Bench.time {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var h = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { h.update($0) } }
        hex = h.hexDigest()
    }
    let floor = try Bench.timeCommand(Bench.which("sha256sum"), [file.path])
    rows.append(BenchRow(name: "SHA-256 of a 256 MiB file, 1 MiB reads (records = MiB)", records: 256, seconds: streamed,
                         floorName: "sha256sum", floorSeconds: floor))
    var n = 0
    let buckets = Bench.time { for i in 0..<1_000_000 { n &+= RunBucket.of("wr_\(i)") } }
    rows.append(BenchRow(name: "run buckets (SHA-256 of a short id)", records: 1_000_000, seconds: buckets, floorName: "—", floorSeconds: nil))
    try? FileManager.default.removeItem(at: dir)
    Bench.printTable("Hashing (digest \(hex.prefix(12))…, \(n % 10) ignore)", rows)
}
