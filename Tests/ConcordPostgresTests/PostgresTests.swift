import ConcordCore
import ConcordJSON
import ConcordPostgres
import ConcordTestSupport
import Foundation
import Testing

@Suite struct PostgresTests {
    func connect() throws -> PostgresConnection { try PostgresConnection(url: TestStores.postgresURL) }

    @Test func roundTripsEveryType() throws {
        let pg = try connect()
        let r = try pg.query(
            "SELECT $1::text, $2::int8, $3::bool, $4::jsonb, $5::timestamptz, $6::float8, NULL::text, $7::int4",
            ["héllo 😀", Int64.min, true, JSON.object(["b": [1, 2], "a": "x"]),
             PostgresTimestamp(milliseconds: 1_764_393_600_123), 2.5, Int32.max])
        let row = r[0]
        #expect(row.string(0) == "héllo 😀")
        #expect(row.int(1) == Int64.min)
        #expect(row.bool(2) == true)
        #expect(try row.json(3) == JSON.object(["a": "x", "b": [1, 2]]))
        #expect(row.timestamp(4) == 1_764_393_600_123)
        #expect(row.double(5) == 2.5)
        #expect(row.isNull(6) && row.string(6) == nil)
        #expect(row.int(7) == Int64(Int32.max))
        let nullParam = try pg.query("SELECT $1::text IS NULL", [Optional<String>.none])
        #expect(nullParam[0].bool(0) == true)
    }

    @Test func timestampsBeforeEpochAndWithOffsets() throws {
        let pg = try connect()
        let r = try pg.query("SELECT '1969-12-31 23:59:59.5+00'::timestamptz, '2026-11-29 05:42:26.123456+02:30'::timestamptz")
        #expect(r[0].timestamp(0) == -500)
        let expected = try pg.query("SELECT (extract(epoch from '2026-11-29 05:42:26.123+02:30'::timestamptz) * 1000)::int8")
        #expect(r[0].timestamp(1) == expected[0].int(0))
    }

    /// Rows read as records keep the server's microseconds: two drafts a few µs apart still order.
    @Test func recordsKeepMicroseconds() throws {
        let pg = try connect()
        let r = try pg.query("""
            SELECT '2026-11-29 05:42:26.123456+00'::timestamptz AS a, '2026-11-29 05:42:26.123457+00'::timestamptz AS b,
                   '2026-11-29 05:42:26.123+00'::timestamptz AS c, '1969-12-31 23:59:59.999999+00'::timestamptz AS d
            """)
        let o = r[0].jsonObject()
        #expect(o["a"] == .double(1_795_930_946_123.456) && o["b"] == .double(1_795_930_946_123.457))
        #expect(o["c"] == .int(1_795_930_946_123))
        #expect(o["d"] == .double(-0.001))
        #expect(r[0].timestamp(0) == 1_795_930_946_123 && r[0].timestamp(3) == -1)
        // The text form reads back as the same number (snapshots keep it exactly).
        #expect(try JSON.parse(o["a"]!.encoded()) == o["a"])
    }

    @Test func syntaxErrorCarriesSQLStateAndQuery() throws {
        let pg = try connect()
        do {
            try pg.query("SELEC 1")
            Issue.record("bad SQL succeeded")
        } catch let e as ConcordError {
            #expect(e.serverCode == "42601")
            #expect(e.query == "SELEC 1")
            #expect(e.store == "postgres")
            #expect("\(e)".contains("syntax error"))
        }
        // The connection stays usable after an error.
        #expect(try pg.query("SELECT 1")[0].int(0) == 1)
    }

    @Test func wrongPasswordIsAClearAuthErrorWithoutThePassword() throws {
        let url = TestStores.postgresPasswordURL.replacingOccurrences(of: "concord-test-password", with: "wrong-secret")
        do {
            _ = try PostgresConnection(url: url)
            Issue.record("connected with a wrong password")
        } catch let e as ConcordError {
            #expect(e.code == .authentication)
            #expect("\(e)".contains("authentication failed"))
            #expect(!"\(e)".contains("wrong-secret"))
        }
        // The right password works.
        let ok = try PostgresConnection(url: TestStores.postgresPasswordURL)
        #expect(try ok.query("SELECT current_user")[0].string(0) == "concord_pw")
    }

    @Test func connectionRefusedFailsWithinTheTimeout() throws {
        let start = Date()
        do {
            _ = try PostgresConnection(url: "postgresql://postgres@127.0.0.1:1/x", connectTimeout: 2)
            Issue.record("connected to a closed port")
        } catch let e as ConcordError {
            #expect(e.code == .connection)
            #expect("\(e)".contains("127.0.0.1"))
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func copyHundredThousandRowsInAndOut() throws {
        let pg = try connect()
        let table = TestStores.unique("copy_test")
        try pg.execute("CREATE TABLE \(table) (id int8 PRIMARY KEY, name text, doc jsonb, note text)")
        defer { _ = try? pg.execute("DROP TABLE \(table)") }
        let n = 100_000
        let stored = try pg.copyIn("COPY \(table) FROM STDIN") { w in
            for i in 0..<n {
                try w.writeRow([String(i), "name\t\(i)\nline2\\", #"{"i":\#(i)}"#, i % 7 == 0 ? nil : "ü"])
            }
        }
        #expect(stored == n)
        #expect(try pg.query("SELECT count(*), count(note) FROM \(table)")[0].int(0) == Int64(n))
        #expect(try pg.query("SELECT name FROM \(table) WHERE id = 42")[0].string(0) == "name\t42\nline2\\")
        var lines = 0
        var bytes = 0
        let chunks = try pg.copyOut("COPY \(table) TO STDOUT") { chunk in
            lines += chunk.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            bytes += chunk.count
        }
        #expect(chunks == n)
        #expect(lines == n)
        #expect(bytes > n * 10)
    }

    @Test func streamsLargeResultsRowByRow() throws {
        let pg = try connect()
        var count = 0
        var sum: Int64 = 0
        let rows = try pg.stream("SELECT g, repeat('x', 100) FROM generate_series(1, $1::int) g", [200_000]) { row in
            count += 1
            sum += row.int(0)!
        }
        #expect(rows == 200_000 && count == 200_000)
        #expect(sum == 200_000 * 200_001 / 2)
        // An error thrown by the consumer stops the stream and leaves the connection usable.
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try pg.stream("SELECT g FROM generate_series(1, 1000000) g") { row in if row.int(0)! == 10 { throw Stop() } }
        }
        #expect(try pg.query("SELECT 2")[0].int(0) == 2)
    }

    @Test func transactionsCommitRollBackAndIsolate() throws {
        let pg = try connect()
        let table = TestStores.unique("tx_test")
        try pg.execute("CREATE TABLE \(table) (v int)")
        defer { _ = try? pg.execute("DROP TABLE \(table)") }
        try pg.transaction { try pg.execute("INSERT INTO \(table) VALUES ($1)", [1]) }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try pg.transaction { try pg.execute("INSERT INTO \(table) VALUES ($1)", [2]); throw Boom() }
        }
        #expect(try pg.query("SELECT count(*) FROM \(table)")[0].int(0) == 1)

        // REPEATABLE READ READ ONLY sees one snapshot while another connection writes.
        let other = try connect()
        try pg.transaction(isolation: .repeatableRead, readOnly: true) {
            #expect(try pg.query("SELECT count(*) FROM \(table)")[0].int(0) == 1)
            try other.execute("INSERT INTO \(table) VALUES (3)")
            #expect(try pg.query("SELECT count(*) FROM \(table)")[0].int(0) == 1)
            #expect(throws: ConcordError.self) { try pg.execute("INSERT INTO \(table) VALUES (4)") }
        }
        #expect(try pg.query("SELECT count(*) FROM \(table)")[0].int(0) == 2)

        // A savepoint rolls back only its own work.
        try pg.transaction {
            try pg.execute("INSERT INTO \(table) VALUES (5)")
            _ = try? pg.savepoint { try pg.execute("INSERT INTO \(table) VALUES (6)"); throw Boom() }
        }
        #expect(try pg.query("SELECT count(*) FROM \(table) WHERE v IN (5, 6)")[0].int(0) == 1)
    }

    @Test func listenAndNotify() throws {
        let listener = try connect()
        let sender = try connect()
        let channel = TestStores.unique("chan")
        try listener.listen(channel)
        #expect(try listener.notifications(timeout: 0.05).isEmpty)
        try sender.notify(channel, payload: "draft:d_1 'quoted' 😀")
        let got = try listener.notifications(timeout: 5)
        #expect(got.map(\.payload) == ["draft:d_1 'quoted' 😀"])
        #expect(got.first?.channel == channel)
    }

    @Test func nulBytesAreRejectedClearlyAndLargeValuesSurvive() throws {
        let pg = try connect()
        // PostgreSQL text cannot hold NUL; in JSON it is escaped and survives.
        let withNul = JSON.object(["s": .string("a\u{0}b😀")])
        let encoded = try pg.query("SELECT $1::text", [withNul.encoded()])[0].string(0)!
        #expect(try JSON.parse(encoded) == withNul)
        // A raw NUL is refused with a clear error instead of being cut short.
        do {
            try pg.query("SELECT $1::text", ["a\u{0}b"])
            Issue.record("a NUL byte was accepted")
        } catch let e as ConcordError {
            #expect(e.message.contains("NUL"))
        }
        let mib = String(repeating: "😀", count: 256 * 1024)  // 1 MiB
        #expect(try pg.query("SELECT $1::text", [mib])[0].string(0) == mib)
    }
}
