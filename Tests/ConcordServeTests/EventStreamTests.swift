import ConcordCore
import ConcordFlow
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

/// `GET /runs/{id}/events` against a real `concord serve`, real Redis and FalkorDB, and real SSE clients
/// (curl and httpx-sse).
@Suite struct EventStreamTests {
    /// The ids of the events a client received, in order.
    static func ids(_ r: JSON) -> [String] { r["events"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [] }

    /// Producers write 1,000 events/s while clients join at different moments (history then live):
    /// every client gets every event exactly once, in stream order — curl's raw stream included.
    @Test func historyThenLiveExactlyOnceWhileProducersWrite() throws {
        let f = try ServeFixture(db: 32)
        try f.start()
        let run = TestStores.unique("wr")
        let all = ServeFixture.events(run: run, count: 4_000)
        // 500 before anyone connects: history only the stream holds.
        try EventWriter(redis: f.redis).publish(Array(all[..<500]))
        let last = all.last!.id
        let url = "\(f.base)/runs/\(run)/events"
        let results = Locked<[Int: JSON]>([:])
        let curlOut = Locked<Data>(Data())
        let group = DispatchGroup()
        // Clients join at 0, 0.5, 1 … 2.5 s into the 3.5 s of producing: each switch lands mid-write.
        for k in 0..<6 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                Thread.sleep(forTimeInterval: 0.5 * Double(k))
                if let r = try? f.sseClient(["collect", url, "--until", last, "--timeout", "40"]) { results.withLock { $0[k] = r } }
            }
        }
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            Thread.sleep(forTimeInterval: 1.2)
            let r = try? TestStores.run("/usr/bin/curl", ["-sN", "--max-time", "12", url])
            curlOut.withLock { $0 = r?.stdout ?? Data() }
        }
        try ServeFixture.produce(Array(all[500...]), redisURL: f.redisURL, perSecond: 1_000)
        group.wait()

        let expected = all.map(\.id)
        let got = results.value
        #expect(got.count == 6)
        for (k, r) in got.sorted(by: { $0.key < $1.key }) {
            let ids = Self.ids(r)
            #expect(ids.count == expected.count, "client \(k): \(ids.count) events, \(Set(ids).count) distinct")
            #expect(ids == expected, "client \(k) got events out of order, twice or not at all")
            // The SSE ids are the stream's, strictly increasing.
            let sseIds = r["events"]!.arrayValue!.compactMap { $0["sse_id"]?.stringValue }
            #expect(zip(sseIds, sseIds.dropFirst()).allSatisfy { a, b in (a.split(separator: "-").map { Int($0)! }).lexicographicallyPrecedes(b.split(separator: "-").map { Int($0)! }) })
        }
        // curl: the raw stream parsed here, line by line.
        let text = String(decoding: curlOut.value, as: UTF8.self)
        let curlIds = text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap { try? JSON.parse(String($0.dropFirst(6)))["id"]?.stringValue }
        #expect(curlIds == expected, "curl: \(curlIds.count) events")
        #expect(text.hasPrefix(": run \(run)"))
        #expect(text.contains("event: workflowStarted\n"))
        #expect(try f.metric("concord_serve_sse_connections_total") == 7)
    }

    /// A client that reconnects with Last-Event-ID gets exactly the events after it — mid-history and mid-live.
    @Test func reconnectWithLastEventIdGetsExactlyTheRest() throws {
        let f = try ServeFixture(db: 33)
        try f.start()
        let run = TestStores.unique("wr")
        let all = ServeFixture.events(run: run, count: 1_500)
        try EventWriter(redis: f.redis).publish(Array(all[..<700]))
        let url = "\(f.base)/runs/\(run)/events"
        let last = all.last!.id
        let producer = Thread { try? ServeFixture.produce(Array(all[700...]), redisURL: f.redisURL, perSecond: 1_000) }
        producer.start()
        // First connection: 300 events (history), then it drops.
        let first = try f.sseClient(["collect", url, "--until", last, "--stop-after", "300"])
        let firstEvents = first["events"]!.arrayValue!
        #expect(firstEvents.count == 300)
        let resumeAt = firstEvents.last!["sse_id"]!.stringValue!
        // Second: resumes, takes 500 more (crossing into live), drops again.
        let second = try f.sseClient(["collect", url, "--until", last, "--stop-after", "500", "--last-event-id", resumeAt])
        let resumeAgain = second["events"]!.arrayValue!.last!["sse_id"]!.stringValue!
        // Third: the rest, to the last event.
        let third = try f.sseClient(["collect", url, "--until", last, "--last-event-id", resumeAgain, "--timeout", "30"])
        let ids = Self.ids(first) + Self.ids(second) + Self.ids(third)
        #expect(ids == all.map(\.id), "\(ids.count) events over three connections, \(Set(ids).count) distinct")
        // A Last-Event-ID that is neither form is refused, not guessed.
        #expect(try f.get("/runs/\(run)/events", headers: ["Last-Event-ID: yesterday"]).status == 400)
    }

    /// 200 clients on one run while events arrive: each gets all of them once, in order.
    @Test func twoHundredClientsOnOneRun() throws {
        let f = try ServeFixture(db: 34)
        try f.start()
        let run = TestStores.unique("wr")
        let all = ServeFixture.events(run: run, count: 1_200)
        try EventWriter(redis: f.redis).publish(Array(all[..<200]))
        let url = "\(f.base)/runs/\(run)/events"
        let out = Locked<JSON?>(nil)
        let clients = Thread { out.withLock { $0 = try? f.sseClient(["many", url, "--clients", "200", "--until", all.last!.id, "--timeout", "60"]) } }
        clients.start()
        // Let them connect, then produce the rest.
        for _ in 0..<100 where (try? f.metric("concord_serve_sse_clients")) ?? 0 < 200 { Thread.sleep(forTimeInterval: 0.1) }
        try ServeFixture.produce(Array(all[200...]), redisURL: f.redisURL, perSecond: 1_000)
        while out.value == nil && clients.isExecuting { Thread.sleep(forTimeInterval: 0.1) }
        for _ in 0..<600 where out.value == nil { Thread.sleep(forTimeInterval: 0.1) }
        let lists = try #require(out.value?["clients"]?.arrayValue)
        #expect(lists.count == 200)
        let expected = all.map(\.id)
        let complete = lists.filter { $0.arrayValue?.compactMap(\.stringValue) == expected }.count
        #expect(complete == 200, "\(complete) of 200 clients got every event exactly once, in order")
    }

    /// A client that stops reading is dropped (its queue passed --client-buffer, 8 MiB by default) while the
    /// others keep up. The others are curl (they read as fast as the server writes: a slow reader of our own
    /// would be dropped too, rightly); the default buffer gives them seconds of slack on a loaded CI machine,
    /// where a 256 KB one (0.1 s of this stream) was not enough for the server's own writers.
    @Test func aClientThatStopsReadingIsDroppedWhileOthersKeepUp() throws {
        let f = try ServeFixture(db: 35)
        try f.start()
        let run = TestStores.unique("wr")
        // 24 MB: the stalled client's socket buffers (a few MB) and its 8 MiB queue, twice over.
        let all = ServeFixture.events(run: run, count: 6_000, payloadBytes: 4_000)
        try EventWriter(redis: f.redis).publish(Array(all[..<1]))
        let url = "\(f.base)/runs/\(run)/events"
        // The stalled client: connects with a tiny receive buffer, sends its request, never reads.
        let stalled = try RawClient(port: Int(f.base.split(separator: ":").last!)!, receiveBuffer: 4096)
        try stalled.send("GET /runs/\(run)/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        // Two readers that keep up, each writing what it reads to a file.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("sse-readers"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let readers: [Process] = try (0..<2).map { i in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["-sN", "--max-time", "150", "-o", dir.appendingPathComponent("\(i).txt").path, url]
            try p.run()
            return p
        }
        defer { for p in readers where p.isRunning { p.terminate() } }
        for _ in 0..<100 where (try? f.metric("concord_serve_sse_clients")) ?? 0 < 3 { Thread.sleep(forTimeInterval: 0.1) }
        // 4 MB/s: the 8 MiB queue is two seconds of slack for a reader that keeps up.
        try ServeFixture.produce(Array(all[1...]), redisURL: f.redisURL, perSecond: 1_000)
        let last = "\"id\":\"\(all.last!.id)\""
        func ids(_ i: Int) -> [String] {
            let text = (try? String(contentsOf: dir.appendingPathComponent("\(i).txt"), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap { try? JSON.parse(String($0.dropFirst(6)))["id"]?.stringValue }
        }
        for _ in 0..<1_200 {
            let done = (0..<2).allSatisfy { ((try? String(contentsOf: dir.appendingPathComponent("\($0).txt"), encoding: .utf8)) ?? "").contains(last) }
            if done { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        for i in 0..<2 { #expect(ids(i) == all.map(\.id), "reader \(i) got \(ids(i).count) of \(all.count) events") }
        #expect(try f.metric("concord_serve_sse_disconnects_total{reason=\"too_slow\"}") == 1)
        // The stalled socket was closed by the server: draining it ends in EOF or a reset, well short of 24 MB.
        let drained = stalled.drain(timeout: 10)
        #expect(drained.closed, "the server kept the stalled connection open")
        #expect(drained.bytes < 6_000 * 4_000)
    }

    /// A trimmed stream: the events only the graph holds come first (`id: graph:<event id>`), then the stream;
    /// resuming at a graph id gets the rest of both.
    @Test func trimmedHistoryComesFromTheGraph() throws {
        let f = try ServeFixture(db: 36)
        let run = TestStores.unique("wr")
        let all = ServeFixture.events(run: run, count: 60)
        try EventWriter(redis: f.redis).publish(all)
        _ = try SyncEngine(redis: f.redis, graph: f.graph).drain()
        _ = try f.redis.run("XTRIM", RedisKeys.events(run), "MAXLEN", 25)
        try f.start()
        let url = "\(f.base)/runs/\(run)/events"
        let r = try f.sseClient(["collect", url, "--until", all.last!.id])
        #expect(Self.ids(r) == all.map(\.id))
        let sseIds = r["events"]!.arrayValue!.map { $0["sse_id"]!.stringValue! }
        #expect(sseIds.prefix(35).allSatisfy { $0.hasPrefix("graph:") })
        #expect(sseIds.dropFirst(35).allSatisfy { !$0.hasPrefix("graph:") })
        // The graph's copy is the same event (payload and all).
        let fromGraph = try JSON.parse(r["events"]![0]!["data"]!.stringValue!)
        #expect(fromGraph["payload"] == all[0].payload && fromGraph["parentId"]?.stringValue == run && fromGraph["type"]?.stringValue == "workflowStarted")
        // Resume inside the graph's part.
        let resumed = try f.sseClient(["collect", url, "--until", all.last!.id, "--last-event-id", sseIds[9]])
        #expect(Self.ids(resumed) == all[10...].map(\.id))
        // A stream id older than the trimmed stream: told so (`event: reset`), then everything.
        let stale = try f.sseClient(["collect", url, "--until", all.last!.id, "--last-event-id", "1-0"])
        #expect(stale["notices"]?[0]?["type"]?.stringValue == "reset")
        #expect(Self.ids(stale) == all.map(\.id))
    }

    /// Entries as other producers write them: pretty-printed JSON, a type holding a line break, not JSON at all,
    /// no `event` field. The framing holds; each arrives with its text intact.
    @Test func producerShapedEntriesKeepTheFraming() throws {
        let f = try ServeFixture(db: 37)
        try f.start(["--heartbeat", "0.3"])
        let run = TestStores.unique("wr")
        let key = RedisKeys.events(run)
        let pretty = "{\n  \"type\" : \"toolCall\",\n  \"id\" : \"\(run)_p\",\n  \"payload\" : { \"html\" : \"<script>alert(1)</script>\", \"s\": \"a\\nb\" }\n}"
        let injected = "{\"id\":\"\(run)_i\",\"type\":\"x\\ndata: forged\\n\\nid: 9-9\"}"
        let crlf = "{\"id\":\"\(run)_c\",\r\n\"type\":\"message\"}"
        _ = try f.redis.run("XADD", key, "*", "event", pretty)
        _ = try f.redis.run("XADD", key, "*", "event", injected)
        _ = try f.redis.run("XADD", key, "*", "event", "not json at all")
        _ = try f.redis.run("XADD", key, "*", "other", "no event field")
        _ = try f.redis.run("XADD", key, "*", "event", crlf)
        let r = try f.sseClient(["collect", "\(f.base)/runs/\(run)/events", "--until", "\(run)_c"])
        let events = r["events"]!.arrayValue!
        #expect(events.count == 5)
        #expect(events[0]["type"]?.stringValue == "toolCall")
        #expect(try JSON.parse(events[0]["data"]!.stringValue!) == JSON.parse(pretty))
        #expect(events[1]["type"]?.stringValue == "x data: forged  id: 9-9", "a type's line breaks must not become SSE fields")
        #expect(events[1]["id"]?.stringValue == "\(run)_i")
        #expect(events[2]["type"]?.stringValue == "malformed" && events[2]["data"]?.stringValue == "not json at all")
        #expect(events[3]["type"]?.stringValue == "malformed" && events[3]["data"]?.stringValue == "")
        #expect(events[4]["data"]?.stringValue == "{\"id\":\"\(run)_c\",\n\"type\":\"message\"}")
        // Heartbeats arrive as comments (curl shows them).
        let raw = try TestStores.run("/usr/bin/curl", ["-sN", "--max-time", "1.5", "\(f.base)/runs/\(run)/events"])
        #expect(String(decoding: raw.stdout, as: UTF8.self).contains(": keep-alive\n\n"))
    }

    /// The connection cap answers 503; SIGTERM ends every stream (`event: end`) and the server exits 0.
    @Test func connectionCapAndCleanShutdown() throws {
        let f = try ServeFixture(db: 38)
        try f.start(["--max-clients", "2"])
        let run = TestStores.unique("wr")
        try EventWriter(redis: f.redis).publish(ServeFixture.events(run: run, count: 3))
        let url = "\(f.base)/runs/\(run)/events"
        let outs = Locked<[JSON]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                if let r = try? f.sseClient(["collect", url, "--until", "never", "--timeout", "30"]) { outs.withLock { $0.append(r) } }
            }
        }
        for _ in 0..<100 where (try? f.metric("concord_serve_sse_clients")) ?? 0 < 2 { Thread.sleep(forTimeInterval: 0.1) }
        let third = try f.get("/runs/\(run)/events")
        #expect(third.status == 503)
        #expect(third.body.contains("limit of 2"))
        let started = Date()
        #expect(f.stop() == 0, "concord serve did not exit 0 on SIGTERM")
        #expect(Date().timeIntervalSince(started) < 8)
        group.wait()
        #expect(outs.value.count == 2)
        for r in outs.value {
            #expect(Self.ids(r).count == 3)
            #expect(r["ended"]?.stringValue == "end", "the client was not told the server is shutting down")
        }
    }

    /// `GET /runs/{id}` across the stores, 404 for a run no store knows; `/healthz`; `/metrics` with the sync's
    /// metrics when `--sync` runs it in the same process; `?live=false` ends after the history.
    @Test func runViewHealthMetricsAndTheSyncInProcess() throws {
        let f = try ServeFixture(db: 39)
        try f.start(["--sync"])
        let run = TestStores.unique("wr")
        let evs = ServeFixture.events(run: run, count: 12)
        try EventWriter(redis: f.redis).publish(evs)
        _ = try f.redis.run("HSET", RedisKeys.status(run), "state", "running", "contentStatus", "none")
        var j = JSON.null
        for _ in 0..<100 {
            j = try JSON.parse(f.get("/runs/\(run)").body)
            if j["graph"]?["events"]?.intValue == 12 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(j["state"]?.stringValue == "running")
        #expect(j["redis"]?["streamEntries"]?.intValue == 12)
        #expect(j["graph"]?["events"]?.intValue == 12, "the in-process sync did not write the events to the graph")
        #expect(j["postgres"]?["drafts"]?.intValue == 0)
        #expect(try f.get("/runs/\(TestStores.unique("nobody"))").status == 404)
        let health = try f.get("/healthz")
        #expect(health.status == 200 && health.body.contains("\"postgres\": \"ok\""))
        let history = try TestStores.run("/usr/bin/curl", ["-sN", "--max-time", "10", "\(f.base)/runs/\(run)/events?live=false"])
        let text = String(decoding: history.stdout, as: UTF8.self)
        #expect(text.components(separatedBy: "\nid: ").count - 1 == 12 && text.hasSuffix("event: end\ndata: {\"reason\":\"history only (live=false)\"}\n\n"))
        let metrics = try f.get("/metrics").body
        #expect(metrics.contains("concord_sync_processed_total 12"))
        #expect(metrics.contains("# TYPE concord_serve_sse_clients gauge"))
        #expect(metrics.contains("concord_serve_http_requests_total{route=\"/healthz\"} 1"))
        #expect(f.stop() == 0)
    }
}

/// A bare TCP client for what no HTTP client library does: stop reading.
final class RawClient: @unchecked Sendable {
    let fd: Int32

    init(port: Int, receiveBuffer: Int32) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var size = receiveBuffer
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw POSIXError(.EIO) }
    }

    /// Reads until EOF or an error (closed) or `timeout` seconds without data.
    func drain(timeout: Double) -> (bytes: Int, closed: Bool) {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var total = 0
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { total += n; continue }
            if n == 0 { return (total, true) }
            return (total, errno == ECONNRESET)
        }
    }
}
