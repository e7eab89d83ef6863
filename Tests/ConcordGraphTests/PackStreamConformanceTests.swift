import ConcordCore
@testable import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// PackStream checked against the official Neo4j Python driver's codec, not
/// against itself: vectors the driver packs must decode to the same values and
/// re-encode to the same bytes here, and bytes packed here must decode and
/// re-encode unchanged there.
@Suite struct PackStreamConformanceTests {
    static let script = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests/Python/packstream_codec.py").path

    /// The same spelled-out form the Python script prints.
    static func tagged(_ v: PackStreamValue) -> JSON {
        switch v {
        case .null: return ["null"]
        case .bool(let b): return ["bool", .bool(b)]
        case .int(let i): return ["int", .string(String(i))]
        case .float(let d): return ["float", .string(hex(withUnsafeBytes(of: d.bitPattern.bigEndian) { Array($0) }))]
        case .string(let s): return ["string", .string(s)]
        case .bytes(let b): return ["bytes", .string(hex(b))]
        case .list(let l): return ["list", .array(l.map(tagged))]
        case .map(let entries): return ["map", .array(entries.map { [.string($0.key), tagged($0.value)] })]
        case .structure(let tag, let fields): return ["struct", .int(Int64(tag)), .array(fields.map(tagged))]
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count / 2)
        var hi: UInt8 = 0
        for (i, c) in s.utf8.enumerated() {
            let v = c <= 57 ? c - 48 : c - 87
            if i % 2 == 0 { hi = v } else { out.append(hi << 4 | v) }
        }
        return out
    }

    @Test func decodesAndReencodesTheDriversVectors() throws {
        let run = try TestStores.run(TestStores.python, [Self.script, "vectors"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = String(decoding: run.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count >= 90)
        for line in lines {
            let vector = try JSON.parse(String(line))
            let name = vector["name"]?.stringValue ?? "?"
            let bytes = Self.unhex(vector["hex"]?.stringValue ?? "")
            var reader = PackStreamReader(bytes)
            let value = try reader.read()
            #expect(reader.isAtEnd, "\(name): trailing bytes")
            #expect(Self.tagged(value) == vector["value"], "\(name): decoded value differs from the driver's")
            var writer = PackStreamWriter()
            try writer.write(value)
            #expect(writer.bytes == bytes, "\(name): re-encoding differs from the driver's bytes")
            // Structures convert to graph values without error.
            _ = try value.graphValue()
        }
    }

    /// Values built here; the driver must read them and pack them back identically.
    static func swiftValues() -> [PackStreamValue] {
        var v: [PackStreamValue] = []
        let ints: [Int64] = [0, -1, -16, -17, 127, 128, -128, -129, 32767, 32768, -32768, -32769,
                             2_147_483_647, 2_147_483_648, -2_147_483_648, -2_147_483_649, .max, .min]
        v += ints.map { .int($0) }
        v += [0.0, -0.0, 1.5, .pi, 1e308, 5e-324, .infinity, -.infinity].map { .float($0) }
        v += [.null, .bool(true), .bool(false)]
        v += [0, 15, 16, 255, 256, 65535, 65536].map { .string(String(repeating: "ä", count: $0 / 2) + String(repeating: "z", count: $0 % 2)) }
        v.append(.string("nul\u{0}😀中文\"\\"))
        v += [0, 255, 256, 65536].map { n in .bytes((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 13) }) }
        v += [0, 15, 16, 256, 65536].map { n in .list((0..<n).map { .int(Int64($0)) }) }
        v += [0, 15, 16, 300].map { n in .map((0..<n).map { PackStreamEntry("key\($0)", .string("v\($0)")) }) }
        var deep: PackStreamValue = .string("leaf")
        for i in 0..<50 { deep = i % 2 == 0 ? .list([deep]) : .map([PackStreamEntry("d", deep)]) }
        v.append(deep)
        v.append(.structure(tag: 0x4E, fields: [.int(1), .list([.string("Node")]), .map([PackStreamEntry("id", "e1")]), .string("4:x:1")]))
        v.append(.structure(tag: 0x45, fields: [.int(1), .int(2), .int(3), .int(4)]))
        v.append(.structure(tag: 0x58, fields: [.int(4326), .float(1.5), .float(2.5)]))
        return v
    }

    @Test func theDriverReadsWhatWeWrite() throws {
        let values = Self.swiftValues()
        let hexes: [JSON] = try values.map { v in
            var w = PackStreamWriter()
            try w.write(v)
            return .string(Self.hex(w.bytes))
        }
        let run = try TestStores.run(TestStores.python, [Self.script, "roundtrip"], input: Data(JSON.array(hexes).encoded().utf8))
        #expect(run.status == 0, "\(run.stderr)")
        let results = try JSON.parse(String(decoding: run.stdout, as: UTF8.self)).arrayValue ?? []
        #expect(results.count == values.count)
        for (i, r) in results.enumerated() where i < values.count {
            #expect(r["hex"] == hexes[i], "value \(i): the driver re-packed different bytes")
            #expect(r["value"] == Self.tagged(values[i]), "value \(i): the driver read a different value")
        }
    }

    @Test func chunksLargeMessages() throws {
        let big = PackStreamValue.string(String(repeating: "x", count: 200_000))
        let framed = try BoltMessage.frame(.structure(tag: BoltMessage.run, fields: [big, .map([]), .map([])]))
        // Walk the chunks: every one at most 65,535 bytes, then the 0x0000 end marker.
        var i = 0
        var body: [UInt8] = []
        var chunks = 0
        while true {
            let size = Int(framed[i]) << 8 | Int(framed[i + 1])
            i += 2
            if size == 0 { break }
            #expect(size <= 65_535)
            body += framed[i..<(i + size)]
            i += size
            chunks += 1
        }
        #expect(i == framed.count)
        #expect(chunks == 4)
        var reader = PackStreamReader(body)
        guard case .structure(_, let fields) = try reader.read() else { Issue.record("not a structure"); return }
        #expect(fields.first == big)
    }

    @Test func truncatedAndUnknownInputIsAClearError() {
        var r = PackStreamReader([0xD0, 0x05, 0x61])
        #expect(throws: ConcordError.self) { try r.read() }
        var u = PackStreamReader([0xE7])
        #expect(throws: ConcordError.self) { try u.read() }
    }
}
