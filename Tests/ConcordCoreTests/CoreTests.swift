import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingEqualsOneShot() {
        let text = String((0..<10_000).map { Character(UnicodeScalar(UInt8(32 + $0 % 90))) })
        var h = SHA256()
        var i = text.startIndex
        var step = 1
        while i < text.endIndex {
            let j = text.index(i, offsetBy: step, limitedBy: text.endIndex) ?? text.endIndex
            h.update(String(text[i..<j]))
            i = j
            step = step % 97 + 13
        }
        #expect(h.hexDigest() == SHA256.hex(text))
    }
}

@Suite struct DurationTests {
    @Test func parses() throws {
        #expect(try DurationText.milliseconds("5m") == 300_000)
        #expect(try DurationText.milliseconds("0s") == 0)
        #expect(try DurationText.milliseconds("0") == 0)
        #expect(try DurationText.milliseconds("250ms") == 250)
        #expect(try DurationText.milliseconds("1h30m") == 5_400_000)
        #expect(try DurationText.milliseconds("24h") == 86_400_000)
        #expect(try DurationText.milliseconds("7d") == 604_800_000)
    }

    @Test func rejectsNonsense() {
        #expect(throws: ConcordError.self) { try DurationText.milliseconds("5 parsecs") }
        #expect(throws: ConcordError.self) { try DurationText.milliseconds("m") }
        #expect(throws: ConcordError.self) { try DurationText.milliseconds("") }
    }

    @Test func formats() {
        #expect(DurationText.format(milliseconds: 300_000) == "5m")
        #expect(DurationText.format(milliseconds: 5_400_000) == "1h30m")
        #expect(DurationText.format(milliseconds: 1500) == "1500ms")
    }
}

@Suite struct RedactionTests {
    @Test func masksPasswords() {
        #expect(Redaction.mask("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db")
        #expect(Redaction.mask("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0")
        #expect(Redaction.mask("host=h password=secret user=u") == "host=h password=*** user=u")
        #expect(Redaction.mask("host=h password='a b c' user=u") == "host=h password=*** user=u")
        #expect(Redaction.mask("postgresql://h/db?password=secret&sslmode=off") == "postgresql://h/db?password=***&sslmode=off")
        #expect(!Redaction.mask("bolt://neo4j:p%40ss@h:7687").contains("p%40ss"))
        #expect(Redaction.mask("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379")
    }

    @Test func endpointDescriptionHidesPassword() throws {
        let e = try Endpoint(parsing: "redis://user:hunter2@127.0.0.1:6380/3", defaultPorts: ["redis": 6379])
        #expect(e.user == "user")
        #expect(e.password == "hunter2")
        #expect(e.port == 6380)
        #expect(e.path == "3")
        #expect(e.description == "redis://user:***@127.0.0.1:6380/3")
        #expect(!"\(e)".contains("hunter2"))
    }

    @Test func endpointDefaultsAndErrors() throws {
        let e = try Endpoint(parsing: "falkordb://localhost/events", defaultPorts: ["falkordb": 6379])
        #expect(e.host == "127.0.0.1" && e.port == 6379 && e.path == "events")
        #expect(throws: ConcordError.self) { try Endpoint(parsing: "mysql://h", defaultPorts: ["redis": 6379]) }
        #expect(throws: ConcordError.self) { try Endpoint(parsing: "redis://h:notaport", defaultPorts: ["redis": 6379]) }
        #expect(throws: ConcordError.self) { try Endpoint(parsing: "127.0.0.1:6379", defaultPorts: ["redis": 6379]) }
    }
}

@Suite struct BlockingTests {
    @Test func runsOffThePoolAndPassesResultsAndErrors() async throws {
        let v = try await Blocking.run { () -> Int in
            usleep(10_000)  // a blocking call
            return 42
        }
        #expect(v == 42)
        await #expect(throws: ConcordError.self) {
            try await Blocking.run { () -> Int in throw ConcordError(.usage, "boom") }
        }
        // Many blocking calls at once do not starve each other: each waits until all 16 are running at the same
        // time (up to 5 s: a thread per call has them all in within milliseconds; Dispatch's global queue took 18 s here). Run one after another, or on a pool capped
        // near the core count, the first calls never see the others and report it.
        let running = Locked(0)
        let together = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    try await Blocking.run { () -> Bool in
                        running.withLock { $0 += 1 }
                        let deadline = Date().addingTimeInterval(5)
                        while running.withLock({ $0 }) < 16 && Date() < deadline { usleep(1_000) }
                        return running.withLock { $0 } >= 16
                    }
                }
            }
            return try await group.reduce(true) { $0 && $1 }
        }
        #expect(together, "the 16 blocking calls never all ran at once")
    }
}

@Suite struct ErrorTests {
    /// A wrapped error says where it was caught and keeps its cause, store, server code and context.
    @Test func wrappingKeepsTheCauseAndTheContext() {
        let inner = ConcordError(.server, "expected ',' at line 3, column 7", store: "redis", serverCode: "ERR", context: ["line": "3"])
        let outer = inner.wrapped(in: "plan p.json", code: .invalidInput, context: ["file": "p.json"])
        #expect(outer.code == .invalidInput && outer.code.exitCode == 2)
        #expect(outer.message == "plan p.json: expected ',' at line 3, column 7")
        #expect(outer.context == ["line": "3", "file": "p.json"] && outer.store == "redis" && outer.serverCode == "ERR")
        #expect((outer.underlying as? ConcordError)?.message == inner.message)
        #expect((outer.rootCause as? ConcordError)?.code == .server)
        #expect(!outer.description.contains("caused by"))  // the cause's message is already in it, once
        struct Low: Error, CustomStringConvertible { var description: String { "EPIPE" } }
        let io = ConcordError(.connection, "write failed", underlying: Low())
        #expect(io.wrapped(in: "graph").description.contains("caused by: EPIPE"))
    }
}

@Suite struct TimestampTests {
    /// RFC 3339 read without ICU (whose parser died with SIGFPE on a long fraction, found by `make fuzz`).
    @Test func parsesRFC3339() {
        let now = Date(timeIntervalSince1970: 1_795_930_946.123)
        #expect(Timestamp.parse(Timestamp.rfc3339(now)).map(Timestamp.milliseconds) == 1_795_930_946_123)
        #expect(Timestamp.parse("2026-11-29T05:42:26Z").map(Timestamp.milliseconds) == 1_795_930_946_000)
        #expect(Timestamp.parse("2026-11-29T07:42:26.5+02:00").map(Timestamp.milliseconds) == 1_795_930_946_500)
        #expect(Timestamp.parse("2026-11-29 05:42:26.123456789z").map(Timestamp.milliseconds) == 1_795_930_946_123)
        #expect(Timestamp.parse("1969-12-31T23:59:59.000Z").map(Timestamp.milliseconds) == -1_000)
        #expect(Timestamp.parse("2026-11-30T01:00:00." + String(repeating: "2", count: 80) + "0Z") != nil)
        // Written and read the same way for every year 0–9999 (ICU wrote years before 1582 in the Julian calendar).
        for ms: Int64 in [-62_135_596_800_000, -62_167_219_200_000, -12_219_292_800_001, 0, 1, 253_402_300_799_999, -1] {
            let text = Timestamp.rfc3339(Date(timeIntervalSince1970: Double(ms) / 1000))
            #expect(Timestamp.parse(text).map(Timestamp.milliseconds) == ms, "\(ms) → \(text)")
        }
        #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: 1_795_930_946.123)) == "2026-11-29T05:42:26.123Z")
        for bad in ["", "2026-11-29", "2026-11-29T05:42:26", "2026-13-29T05:42:26Z", "2026-11-29T25:00:00Z", "2026-11-29T05:42:26.Z",
                    "2026-11-29T05:42:26Zjunk", "2026-11-29T05:42:26+0200", "٢٠٢٦-11-29T05:42:26Z", "2026-11-29T05:42:26.1+99:00"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}
