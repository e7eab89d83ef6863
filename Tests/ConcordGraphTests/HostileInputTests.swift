import ConcordCore
import ConcordGraph
import ConcordRedis
import Foundation
import Testing

/// What a broken or hostile server sends: a clear protocol error, never a
/// crash, an allocation the input chose, or unbounded recursion.
@Suite struct HostileInputTests {
    func violation(_ body: () throws -> Void) -> ConcordError? {
        do { try body() } catch let e as ConcordError { return e } catch { return nil }
        return nil
    }

    @Test func respLengthsAndNestingAreBounded() throws {
        #expect(try RESPReader.parse(Array("*2\r\n$3\r\nabc\r\n:-7\r\n".utf8)).reply == .array([.bulk(Array("abc".utf8)), .integer(-7)]))
        for text in ["$9223372036854775807\r\n", "$4294967296\r\nx", "*9223372036854775807\r\n", "*99999999999\r\n", "$3\r\nabcXY",
                     "$-9223372036854775808\r\n", ":12a\r\n", "?\r\n", "\r\n", "*1\r\n", "$999999999999999999999999\r\n"] {
            let e = violation { _ = try RESPReader.parse(Array(text.utf8)) }
            #expect(e?.code == .protocolViolation, "\(text.debugDescription): \(String(describing: e))")
        }
        let deep = Array(String(repeating: "*1\r\n", count: 100_000).utf8) + Array(":1\r\n".utf8)
        #expect(violation { _ = try RESPReader.parse(deep) }?.message.contains("nested deeper") == true)
        let ok = Array(String(repeating: "*1\r\n", count: RESPReader.maxDepth).utf8) + Array(":1\r\n".utf8)
        #expect(try RESPReader.parse(ok).complete)
    }

    @Test func packStreamDepthAndLengthsAreBounded() throws {
        // A string header claiming 4 GiB, a list header claiming 2^32 - 1 elements: refused without allocating.
        for bytes: [UInt8] in [[0xD2, 0xFF, 0xFF, 0xFF, 0xFF, 0x41], [0xD6, 0xFF, 0xFF, 0xFF, 0xFF], [0xDA, 0xFF, 0xFF, 0xFF, 0xFF], [0xCE, 0xFF, 0xFF, 0xFF, 0xFF]] {
            var r = PackStreamReader(bytes)
            #expect(violation { _ = try r.read() }?.code == .protocolViolation)
        }
        var deep = PackStreamReader([UInt8](repeating: 0x91, count: 1_000_000) + [0x01])
        #expect(violation { _ = try deep.read() }?.message.contains("nested deeper") == true)
        var fine = PackStreamReader([UInt8](repeating: 0x91, count: PackStreamReader.maxDepth - 1) + [0x01])
        #expect(try fine.read() != .null)
    }

    @Test func boltFramingIsBoundedAndSplitInvariant() throws {
        // SUCCESS {} as one chunk, then as one-byte chunks with NOOPs between: the same message.
        let body: [UInt8] = [0xB1, 0x70, 0xA0]
        let whole = [0, 3] + body + [0, 0]
        var split: [UInt8] = [0, 0]
        for b in body { split += [0, 1, b] }
        split += [0, 0]
        #expect(try BoltWire.messages(in: whole) == [body] && BoltWire.messages(in: split) == [body])
        #expect(try BoltWire.responses(in: whole).count == 1)
        // Endless chunks: refused at the cap, not buffered without bound.
        let chunk: [UInt8] = [0xFF, 0xFF] + [UInt8](repeating: 0x41, count: 0xFFFF)
        let flood = [UInt8]((0..<20).flatMap { _ in chunk })
        #expect(violation { _ = try BoltWire.messages(in: flood, maxMessage: 1 << 20) }?.message.contains("longer than") == true)
        #expect(violation { _ = try BoltWire.responses(in: [0, 2, 0xB1]) }?.code == .protocolViolation)
        #expect(violation { _ = try BoltWire.responses(in: [0, 1, 0x01, 0, 0]) }?.message.contains("not a structure") == true)
    }
}
