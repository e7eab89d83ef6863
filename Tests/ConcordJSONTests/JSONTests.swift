import ConcordCore
import ConcordJSON
import Testing

@Suite struct JSONTests {
    @Test func roundTripsEveryType() throws {
        let text = #"{"a":null,"b":true,"c":false,"d":-9223372036854775808,"e":9223372036854775807,"f":1.5,"g":"x","h":[1,[2,{}]],"i":{}}"#
        let v = try JSON.parse(text)
        #expect(v["a"] == .null)
        #expect(v["b"] == .bool(true))
        #expect(v["d"] == .int(Int64.min))
        #expect(v["e"] == .int(Int64.max))
        #expect(v["f"] == .double(1.5))
        #expect(v["h"]?[1]?[1] == .object([:]))
        #expect(v.encoded() == text)
        #expect(try JSON.parse(v.encoded()) == v)
    }

    @Test func canonicalFormIgnoresFormattingAndKeyOrder() throws {
        let a = try JSON.parse("{ \"b\" : [1, 2],\n \"a\": {\"y\": 1, \"x\": \"é\"} }")
        let b = try JSON.parse(#"{"a":{"x":"\u00e9","y":1},"b":[1,2]}"#)
        #expect(a == b)
        #expect(a.encoded() == #"{"a":{"x":"é","y":1},"b":[1,2]}"#)
    }

    /// An object encoded with one value given as bytes is exactly its canonical encoding (less the omitted key).
    @Test func encodingWithAPreEncodedValueIsCanonical() throws {
        let event = try JSON.parse(#"{ "b" : [1, 2.5, "é"], "a": {"z": null} }"#)
        let record: JSON = ["key": "workflow:r:events", "event": event, "raw": "text", "seq": 3, "é": true, "": 0]
        var bytes: [UInt8] = []
        event.encode(into: &bytes)
        var out: [UInt8] = []
        record.encode(into: &out, encoded: bytes, forKey: "event")
        #expect(String(decoding: out, as: UTF8.self) == record.encoded())
        out.removeAll()
        record.encode(into: &out, encoded: bytes, forKey: "event", omitting: "raw")
        guard case .object(var o) = record else { return }
        o.removeValue(forKey: "raw")
        #expect(String(decoding: out, as: UTF8.self) == JSON.object(o).encoded())
    }

    @Test func keepsIntegersAndDoublesApart() throws {
        #expect(try JSON.parse("1") == .int(1))
        #expect(try JSON.parse("1.0") == .double(1.0))
        #expect(JSON.double(1.0).encoded() == "1.0")
        #expect(JSON.double(0.1).encoded() == "0.1")
        #expect(try JSON.parse(JSON.double(1e-7).encoded()) == .double(1e-7))
        #expect(try JSON.parse(JSON.double(123456789.123).encoded()) == .double(123456789.123))
    }

    @Test func stringsWithNulEmojiAndControlCharacters() throws {
        let s = "nul\u{0}tab\tnl\nquote\"back\\slash😀中文\u{1}"
        let encoded = JSON.string(s).encoded()
        #expect(encoded.contains("\\u0000"))
        #expect(encoded.contains("\\u0001"))
        #expect(try JSON.parse(encoded) == .string(s))
    }

    @Test func largeValues() throws {
        let big = String(repeating: "é", count: 512 * 1024)  // 1 MiB of UTF-8
        let v: JSON = ["payload": .string(big), "list": .array((0..<10_000).map { .int(Int64($0)) })]
        #expect(try JSON.parse(v.encoded()) == v)
    }

    @Test(arguments: [
        ("{\"a\": 1,}", 1, 9),
        ("[1, 2\n, oops]", 2, 6),
        ("{\"a\":\n\n  tru}", 3, 5),
    ])
    func malformedInputReportsLineAndColumn(text: String, line: Int, column: Int) {
        do {
            _ = try JSON.parse(text)
            Issue.record("parsed malformed JSON: \(text)")
        } catch let e as ConcordError {
            #expect(e.code == .invalidInput)
            #expect(e.context["line"] == String(line), "\(e)")
            #expect(e.context["column"] == String(column), "\(e)")
            #expect(e.message.contains("line \(line)"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func emptyInputIsAnError() {
        #expect(throws: ConcordError.self) { try JSON.parse("") }
        #expect(throws: ConcordError.self) { try JSON.parse("   ") }
    }

    @Test func paths() throws {
        let v = try JSON.parse(#"{"metadata":{"workflowId":"wr_1"},"items":[{"n":1}]}"#)
        #expect(v.value(atPath: "metadata.workflowId") == .string("wr_1"))
        #expect(v.value(atPath: "items.0.n") == .int(1))
        #expect(v.value(atPath: "metadata.missing") == nil)
    }
}
