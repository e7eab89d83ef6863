import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordRepair
import Foundation

/// The parsers Concord runs on input others control, each with what must
/// hold for any input: a value or a clear error (a `ConcordError`, or an
/// `ExprError` with its offset inside the text), and for what parses, a round
/// trip that gives it back. `concord-fuzz` (libFuzzer, `make fuzz`) calls
/// these on generated inputs; `make test` replays the corpora in `Fuzz/corpus/`.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case json, event, expression, rules, packstream, bolt, resp, plan, manifest
}

/// A property that did not hold: a finding of the fuzzer.
public struct FuzzViolation: Error, CustomStringConvertible {
    public var target: FuzzTarget
    public var message: String
    public var description: String { "\(target.rawValue): \(message)" }
}

public enum FuzzChecks {
    /// Runs `target` on `data`; throws a `FuzzViolation` when a property fails.
    public static func check(_ target: FuzzTarget, _ data: [UInt8]) throws {
        let fail: Fail = { FuzzViolation(target: target, message: $0) }
        switch target {
        case .json: try json(data, fail)
        case .event: try event(data, fail)
        case .expression: try expression(data, fail)
        case .rules: try rules(data, fail)
        case .packstream: try packstream(data, fail)
        case .bolt: try bolt(data, fail)
        case .resp: try resp(data, fail)
        case .plan: try plan(data, fail)
        case .manifest: try manifest(data, fail)
        }
    }

    typealias Fail = (String) -> FuzzViolation

    /// Runs a parser: its value, or nil for a clear error (a `ConcordError`); any other error is a violation.
    static func clear<T>(_ fail: Fail, _ body: () throws -> T) throws -> T? {
        do { return try body() } catch is ConcordError { return nil } catch {
            throw fail("an error that is not a ConcordError: \(error)")
        }
    }

    // MARK: JSON: parse, canonical encoding, digest

    static func json(_ data: [UInt8], _ fail: Fail) throws {
        // The read path's tape parser accepts exactly what jansson accepts, with the same value and digest.
        var tape = JSONTape()
        let scanned = data.withUnsafeBytes { tape.scan($0) }
        let value: JSON
        do { value = try JSON.parse(data) } catch is ConcordError {
            if scanned { throw fail("the tape accepts what jansson refuses") }
            return
        } catch { throw fail("parse threw \(error)") }
        guard scanned else { throw fail("the tape refuses what jansson accepts") }
        try data.withUnsafeBytes { buf in
            _ = tape.scan(buf)
            guard tape.value(at: 0) == value else { throw fail("the tape's value differs from jansson's") }
            guard tape.digest(at: 0) == JSON.janssonDigest(ofText: String(decoding: data, as: UTF8.self)) else { throw fail("the tape's digest differs") }
        }
        let text = value.encoded()
        guard let again = try? JSON.parse(Array(text.utf8)) else { throw fail("its canonical encoding does not parse: \(text.prefix(200))") }
        guard again == value else { throw fail("parse(encode(x)) != x for \(text.prefix(200))") }
        guard again.encoded() == text else { throw fail("the canonical encoding is not stable") }
        guard again.digest == value.digest else { throw fail("the digest changed over a round trip") }
        // Another producer's form of the same value (keys reversed, spaces, newlines, \\u escapes): the same value and digest.
        let other = scrambled(value)
        guard let reread = try? JSON.parse(Array(other.utf8)) else { throw fail("a scrambled encoding does not parse: \(other.prefix(200))") }
        guard reread == value, reread.digest == value.digest, JSON.digest(ofText: other) == value.digest else {
            throw fail("key order or whitespace changed the value or its digest: \(other.prefix(200))")
        }
        // The digest of the text (walked on jansson's parse) is the digest of the value.
        if let s = String(validating: data, as: UTF8.self), let d = JSON.digest(ofText: s), d != value.digest {
            throw fail("digest(ofText:) \(d) != digest of the parsed value \(value.digest)")
        }
    }

    /// The value written as another producer might: keys in reverse order, spaces and newlines, non-ASCII as \\u escapes.
    static func scrambled(_ v: JSON) -> String {
        switch v {
        case .object(let o):
            let keys = o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).reversed()
            return "{\n" + keys.map { " " + escaped($0) + " : " + scrambled(o[$0]!) }.joined(separator: " ,\n") + "\n}"
        case .array(let a): return "[ " + a.map(scrambled).joined(separator: " , ") + " ]"
        case .string(let s): return escaped(s)
        default: return v.encoded()
        }
    }

    static func escaped(_ s: String) -> String {
        var out = "\""
        for u in s.utf16 {
            switch u {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x20..<0x7F: out.append(Character(Unicode.Scalar(UInt8(u))))
            default: out += String(format: "\\u%04x", u)
            }
        }
        return out + "\""
    }

    // MARK: Event validation as the sync and the audit apply it

    static func event(_ data: [UInt8], _ fail: Fail) throws {
        guard let json = try? JSON.parse(data) else { return }
        let e = try clear(fail, { try Event(validating: json) })
        // The audit (the catalog's event.malformed rule) and the sync (Event validation) agree on what an event is:
        // otherwise the sync dead-letters what the audit calls valid, or stores what it calls malformed.
        if let rules = catalogMalformed {
            let engine = AuditEngine(rules: rules, context: EvalContext(now: 1_764_000_000_000, grace: 300_000))
            engine.ingest(["key": "persistence:queue", "index": 0, "event": json, "raw": .string(String(decoding: data, as: UTF8.self))], dataset: "redis.queue")
            let malformed = !engine.evaluate().findings.isEmpty
            guard malformed == (e == nil) else {
                throw fail(malformed ? "the audit calls an event malformed that the sync accepts" : "the sync refuses an event the audit calls valid")
            }
        }
        guard let e else { return }
        guard let again = try? Event(validating: e.json), again == e else { throw fail("an event does not validate again from its own JSON") }
        guard let parsed = try? Event.parse(e.encoded), parsed == e else { throw fail("an event does not survive its canonical text") }
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The catalog's event.malformed rule (nil where the repository's Rules/ is not at hand).
    nonisolated(unsafe) static let catalogMalformed: RuleSet? = try? RuleSet.load(directory: repositoryRoot.appendingPathComponent("Rules")).selecting(["event.malformed"])

    // MARK: Expressions

    static func expression(_ data: [UInt8], _ fail: Fail) throws {
        // Text, then (after a NUL) a JSON record to evaluate it on.
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let text = String(decoding: parts[0], as: UTF8.self)
        let record = parts.count > 1 ? (try? JSON.parse(Array(parts[1]))) ?? .null : .null
        let e: Expr
        do { e = try Expr.parse(text) } catch {
            guard error.offset >= 0, error.offset <= text.count else { throw fail("error offset \(error.offset) outside the text of \(text.count) characters") }
            return
        }
        // What an expression prints reads back as itself.
        let printed = e.description
        guard let again = try? Expr.parse(printed) else { throw fail("its printed form does not parse: \(printed.prefix(200))") }
        guard again.description == printed else { throw fail("the printed form is not stable: \(printed.prefix(200))") }
        _ = e.evaluate([record], EvalContext(now: 1_764_000_000_000, grace: 300_000))
    }

    // MARK: Rule files (with the catalog's datasets, or datasets of their own)

    static let catalogDatasets: String = {
        (try? String(contentsOf: repositoryRoot.appendingPathComponent("Rules/datasets.yaml"), encoding: .utf8)) ?? "version: 1\ndatasets: {}\n"
    }()

    static func rules(_ data: [UInt8], _ fail: Fail) throws {
        // A rule file; after a NUL, the datasets file to read it with.
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let rule = String(decoding: parts[0], as: UTF8.self)
        let datasets = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : catalogDatasets
        let (set, diagnostics) = RuleSet.check(files: [("datasets.yaml", datasets), ("x.yaml", rule)], directory: "fuzz")
        for d in diagnostics {
            guard d.line >= 1, d.column >= 1, !d.message.isEmpty else { throw fail("a diagnostic without a position or message: \(d)") }
        }
        if diagnostics.contains(where: { $0.severity == .error }) { return }
        // A rule set that checks clean compiles into an engine and evaluates on nothing.
        guard set.rules.count == 1 else { throw fail("a clean check gave \(set.rules.count) rules") }
        let engine = AuditEngine(rules: set, context: EvalContext(now: 1_764_000_000_000, grace: 300_000))
        _ = engine.evaluate()
    }

    // MARK: PackStream and Bolt framing

    static func packstream(_ data: [UInt8], _ fail: Fail) throws {
        var reader = PackStreamReader(data)
        guard let value = try clear(fail, { try reader.read() }) else { return }
        var w1 = PackStreamWriter()
        guard (try? w1.write(value)) != nil else { return }  // e.g. a structure too large to write back: refused clearly
        var again = PackStreamReader(w1.bytes)
        guard let v2 = try? again.read(), again.isAtEnd else { throw fail("a value's own encoding does not read back") }
        var w2 = PackStreamWriter()
        try? w2.write(v2)
        guard w2.bytes == w1.bytes else { throw fail("PackStream encoding is not stable over a round trip") }
    }

    static func bolt(_ data: [UInt8], _ fail: Fail) throws {
        _ = try clear(fail, { try BoltWire.responses(in: data, maxMessage: 1 << 20) })
        guard let messages = try clear(fail, { try BoltWire.messages(in: data, maxMessage: 1 << 20) }), !messages.isEmpty else { return }
        // The same messages split at other chunk boundaries, with NOOPs between: the same bodies. Small
        // messages are split at every chunk size; others at a size taken from the input.
        let sizes = messages.allSatisfy { $0.count <= 64 } ? Array(1...64) : [max(1, Int(data[0]))]
        for size in sizes { try rechunk(messages, size, fail) }
    }

    static func rechunk(_ messages: [[UInt8]], _ size: Int, _ fail: Fail) throws {
        var rechunked: [UInt8] = [0, 0]
        for body in messages {
            var start = 0
            while start < body.count {
                let n = min(size, body.count - start)
                rechunked += [UInt8(n >> 8), UInt8(n & 0xFF)] + body[start..<(start + n)]
                start += n
            }
            rechunked += [0, 0]
        }
        guard (try? BoltWire.messages(in: rechunked, maxMessage: 1 << 20)) == messages else { throw fail("Bolt messages depend on where they are chunked") }
    }

    // MARK: RESP (the FalkorDB reader)

    static func resp(_ data: [UInt8], _ fail: Fail) throws {
        guard let reply = try clear(fail, { try RESPReader.parse(data).reply }) else { return }
        let bytes = serialize(reply)
        guard let (again, complete) = try? RESPReader.parse(bytes), complete, again == reply else { throw fail("a reply does not survive its own serialization") }
    }

    static func serialize(_ r: RedisReply) -> [UInt8] {
        switch r {
        case .status(let s): return Array("+\(s)\r\n".utf8)
        case .error(let s): return Array("-\(s)\r\n".utf8)
        case .integer(let i): return Array(":\(i)\r\n".utf8)
        case .null: return Array("$-1\r\n".utf8)
        case .bulk(let b): return Array("$\(b.count)\r\n".utf8) + b + [0x0D, 0x0A]
        case .array(let a): return Array("*\(a.count)\r\n".utf8) + a.flatMap(serialize)
        }
    }

    // MARK: Plan files and snapshot manifests

    static func plan(_ data: [UInt8], _ fail: Fail) throws {
        if let p = try clear(fail, { try RepairPlan(bytes: data, source: "fuzz") }) {
            guard let again = try? RepairPlan(bytes: Array(p.encoded().utf8), source: "fuzz"), again.checksum == p.checksum else {
                throw fail("a plan does not read back from its own encoding")
            }
        }
        // Past the checksum: the same content with a correct sha256 exercises the operations' parsing.
        guard case .object(var o)? = try? JSON.parse(data) else { return }
        o.removeValue(forKey: "sha256")
        o["sha256"] = .string(SHA256.hex(JSON.object(o).encoded()))
        _ = try clear(fail, { try RepairPlan(bytes: Array(JSON.object(o).encoded().utf8), source: "fuzz") })
    }

    static func manifest(_ data: [UInt8], _ fail: Fail) throws {
        guard let files = try clear(fail, { try Snapshot.manifest(data, path: "fuzz/manifest.json").files }) else { return }
        for f in files {
            // A file the reader would open is a plain name inside the snapshot directory.
            guard f.file.hasSuffix(".ndjson"), !f.file.contains("/"), !f.file.hasPrefix("."), Snapshot.isValidDatasetName(String(f.file.dropLast(7))) else {
                throw fail("the manifest names a file outside the snapshot: \(f.file)")
            }
        }
    }
}
