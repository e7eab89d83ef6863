import ConcordCore
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

@Suite struct RedisTests {
    func connect() throws -> RedisConnection { try TestStores.redis(TestStores.redisURL) }

    @Test func everyReplyType() throws {
        let r = try connect()
        let k = TestStores.unique("types")
        defer { _ = try? r.run("DEL", k, k + ":l") }
        #expect(try r.run("SET", k, "v") == .status("OK"))
        #expect(try r.run("GET", k) == .bulk(Array("v".utf8)))
        #expect(try r.run("GET", k + ":none") == .null)
        #expect(try r.run("INCR", k + ":n") == .integer(1))
        _ = try r.run("DEL", k + ":n")
        if case .error(let e) = try r.command(["LPUSH", k, "x"]) { #expect(e.hasPrefix("WRONGTYPE")) } else {
            Issue.record("expected WRONGTYPE")
        }
        _ = try r.run("RPUSH", k + ":l", "a", "b")
        #expect(try r.run("LRANGE", k + ":l", 0, -1) == .array([.bulk(Array("a".utf8)), .bulk(Array("b".utf8))]))
        // Nested arrays: XRANGE returns [[id, [field, value]]].
        let s = k + ":s"
        defer { _ = try? r.run("DEL", s) }
        _ = try r.run("XADD", s, "*", "event", "{}")
        let x = try r.run("XRANGE", s, "-", "+")
        #expect(x.array?.first?.array?[1].array?.count == 2)
        #expect(throws: ConcordError.self) { try r.run("NOSUCHCOMMAND") }
    }

    @Test func binarySafeValuesWithNulEmojiAndOneMebibyte() throws {
        let r = try connect()
        let k = TestStores.unique("bin")
        defer { _ = try? r.run("DEL", k, k + ":big") }
        let bytes: [UInt8] = [0, 1, 0, 255, 0x0A, 0x0D] + Array("😀中文".utf8) + [0]
        _ = try r.run("SET", k, bytes)
        #expect(try r.run("GET", k).bytes == bytes)
        var big = [UInt8](repeating: 0, count: 1 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 31) }
        _ = try r.run("SET", k + ":big", big)
        #expect(try r.run("GET", k + ":big").bytes == big)
        // A key name with NUL is binary-safe too.
        let odd = k + "\u{0}key"
        _ = try r.run("SET", odd, "x")
        #expect(try r.run("GET", odd).string == "x")
        _ = try r.run("DEL", odd)
    }

    @Test func hundredThousandPipelinedCommands() throws {
        let r = try connect()
        let k = TestStores.unique("pipe")
        defer { _ = try? r.run("DEL", k) }
        let n = 100_000
        let replies = try r.pipeline((0..<n).map { ["RPUSH", k, "item-\($0)"] })
        #expect(replies.count == n)
        #expect(replies.last == .integer(Int64(n)))
        #expect(replies.enumerated().allSatisfy { $0.element == .integer(Int64($0.offset + 1)) })
        var seen = 0
        var inOrder = true
        let total = try r.lrange(k, batch: 7_000) { batch in
            for item in batch {
                if item.string != "item-\(seen)" { inOrder = false }
                seen += 1
            }
        }
        #expect(total == n && seen == n && inOrder)
    }

    @Test func watchConflictAbortsExec() throws {
        let r = try connect()
        let other = try connect()
        let k = TestStores.unique("watch")
        defer { _ = try? r.run("DEL", k) }
        _ = try r.run("SET", k, "1")
        let aborted = try r.transaction(watch: [k], check: {
            _ = try other.run("SET", k, "changed-by-another-client")
            return true
        }, [["SET", k, "mine"]])
        #expect(aborted == nil)
        #expect(try r.run("GET", k).string == "changed-by-another-client")
        let done = try r.transaction(watch: [k], [["SET", k, "mine"], ["GET", k]])
        #expect(done == [.status("OK"), .bulk(Array("mine".utf8))])
        // A check that declines aborts without running anything.
        #expect(try r.transaction(watch: [k], check: { false }, [["SET", k, "never"]]) == nil)
        #expect(try r.run("GET", k).string == "mine")
    }

    @Test func commandRejectedWhileQueuingFailsTheTransaction() throws {
        let r = try connect()
        let k = TestStores.unique("execabort")
        do {
            _ = try r.transaction([["SET", k, "1"], ["SET"]])
            Issue.record("EXECABORT not reported")
        } catch let e as ConcordError {
            #expect(e.message.contains("wrong number of arguments"))
        }
        #expect(try r.run("EXISTS", k) == .integer(0))
    }

    @Test func iterationHelpersBatch() throws {
        let r = try connect()
        let p = TestStores.unique("iter")
        var cmds: [[any RedisArgument]] = []
        for i in 0..<2_500 { cmds.append(["SET", "\(p):k:\(i)", i]) }
        for i in 0..<25_000 { cmds.append(["XADD", "\(p):stream", "*", "event", "{\"n\":\(i)}"]) }
        for i in 0..<12_345 { cmds.append(["ZADD", "\(p):z", i, "m\(i)"]) }
        cmds.append(["HSET", "\(p):h", "state", "running", "contentStatus", "none"])
        _ = try r.pipeline(cmds)
        defer {
            var keys: [String] = []
            try? r.scan(match: "\(p):*") { keys += $0 }
            _ = try? r.pipeline(keys.map { ["DEL", $0] })
        }
        var found = Set<String>()
        try r.scan(match: "\(p):k:*", count: 100) { found.formUnion($0) }
        #expect(found.count == 2_500)
        var ids: [String] = []
        var payloadOK = true
        let entries = try r.xrange("\(p):stream", batch: 1_000) { batch in
            for e in batch {
                if e.field("event").map({ String(decoding: $0, as: UTF8.self) }) != "{\"n\":\(ids.count)}" { payloadOK = false }
                ids.append(e.id)
            }
        }
        #expect(entries == 25_000 && ids.count == 25_000 && Set(ids).count == 25_000 && payloadOK)
        var members = 0
        var sorted = true
        var last = -1.0
        try r.zrange("\(p):z", batch: 1_000) { batch in
            for (_, score) in batch { if score < last { sorted = false }; last = score; members += 1 }
        }
        #expect(members == 12_345 && sorted)
        #expect(try r.hgetall("\(p):h") == ["state": "running", "contentStatus": "none"])
    }

    @Test func selectsTheDatabaseInTheURL() throws {
        let r = try RedisConnection(url: "redis://127.0.0.1:56379/69")
        let k = TestStores.unique("db")
        _ = try r.run("SET", k, "in-69")
        defer { _ = try? r.run("DEL", k) }
        let zero = try RedisConnection(url: "redis://127.0.0.1:56379/0")
        #expect(try zero.run("GET", k) == .null)
        #expect(try r.run("GET", k).string == "in-69")
    }

    @Test func wrongPasswordIsAClearAuthError() throws {
        do {
            _ = try RedisConnection(url: "redis://:not-the-password@127.0.0.1:56379/0")
            Issue.record("AUTH accepted")
        } catch let e as ConcordError {
            #expect(e.code == .authentication)
            #expect(!"\(e)".contains("not-the-password"))
        }
    }

    @Test func connectionRefusedFailsClearlyWithinTheTimeout() throws {
        let start = Date()
        do {
            _ = try RedisConnection(url: "redis://127.0.0.1:1/0", connectTimeout: 2)
            Issue.record("connected to a closed port")
        } catch let e as ConcordError {
            #expect(e.code == .connection)
            #expect("\(e)".contains("127.0.0.1:1"))
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func reconnectsAfterTheServerDropsTheConnection() throws {
        let r = try connect()
        let admin = try connect()
        let name = TestStores.unique("victim")
        _ = try r.run("CLIENT", "SETNAME", name)
        let killed = try admin.run("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal", "USER", "default", "ID",
                                   try r.run("CLIENT", "ID").int!)
        #expect(killed.int == 1)
        // The first call sees the drop and says so; the next one reconnects (and re-selects the db).
        do {
            _ = try r.run("PING")
            Issue.record("a dropped connection went unnoticed")
        } catch let e as ConcordError {
            #expect(e.code == .connection)
        }
        #expect(try r.run("PING") == .status("PONG"))
        let db = try r.run("CLIENT", "INFO").string ?? ""
        #expect(db.contains("db=9") || !TestStores.redisURL.hasSuffix("/9"))
    }

    @Test func commandTimeoutIsReported() throws {
        let r = try TestStores.redis(TestStores.redisURL, commandTimeout: 0.3)
        let k = TestStores.unique("blocking")
        let start = Date()
        #expect(throws: ConcordError.self) { try r.run("BLPOP", k, 5) }
        #expect(Date().timeIntervalSince(start) < 3)
        #expect(try r.run("PING") == .status("PONG"))
    }
}
