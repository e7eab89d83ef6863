import ConcordCore
import ConcordRedis
import Foundation

/// `concord-bench serve`: `concord serve`'s event stream under load, in one run.
///
/// - Fan-out: 100 SSE clients (raw sockets, a thread each) on one run while a producer writes 5,000
///   events/s for 10 s through the producers' write path (MULTI: XADD, PUBLISH, RPUSH). Each event
///   carries its send time; each client notes when it read it. Delivered events/s, p50/p99/max delivery
///   latency, and whether every client got every event once, in order. Target: ≥ 5,000 events/s to
///   100 clients with p99 ≤ 50 ms.
/// - wrk against `GET /runs/{id}` and `GET /runs/{id}/events?live=false` (1,000 events of history).
func serveBench(redisBase: String, falkor: String, postgres: String) throws {
    let redisURL = redisBase + "/15"
    let redis = try RedisConnection(url: redisURL)
    _ = try redis.run("FLUSHDB")
    let graph = falkor + "/concord_bench_serve"
    let server = try ServeProcess(arguments: ["--redis", redisURL, "--graph", graph, "--postgres", postgres, "--max-clients", "2000"])
    defer { server.stop() }
    let run = "wr_bench_serve"
    let key = "workflow:\(run):events"

    func event(_ i: Int) -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let ns = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        let parent = i == 0 ? run : "b_\(i - 1)"
        return #"{"id":"b_\#(i)","timestamp":\#(1_764_393_600_000 + i),"type":"message","parentId":"\#(parent)","payload":{"i":\#(i),"sentNs":\#(ns),"text":"fan-out bench event"},"metadata":{"workflowId":"\#(run)","userId":"u_b","source":"bench","version":"1"}}"#
    }
    func publish(_ range: Range<Int>) throws {
        var cmds: [[any RedisArgument]] = []
        for i in range {
            let e = event(i)
            cmds += [["MULTI"], ["XADD", key, "MAXLEN", "~", 200_000, "*", "event", e], ["PUBLISH", "workflow:\(run)", e], ["RPUSH", "persistence:queue", e], ["EXEC"]]
        }
        for r in try redis.pipeline(cmds) where r.errorMessage != nil { throw ConcordError(.server, "publish: \(r.errorMessage!)") }
    }

    // History: 1,000 events before anyone connects.
    let history = 1_000
    try publish(0..<history)

    // Fan-out.
    let clientsCount = 100, rate = 5_000, seconds = 10
    let live = rate * seconds
    let clients = try (0..<clientsCount).map { _ in try SSEBenchClient(port: server.port, path: "/runs/\(run)/events") }
    for c in clients { c.start() }
    let settle = Date().addingTimeInterval(30)
    while clients.contains(where: { $0.received < history }) && Date() < settle { Thread.sleep(forTimeInterval: 0.05) }
    for c in clients { c.resetLatencies() }
    let started = Date()
    var i = history
    let perTick = rate / 100  // every 10 ms
    while i < history + live {
        try publish(i..<(i + perTick))
        i += perTick
        let due = started.addingTimeInterval(Double(i - history) / Double(rate))
        if due.timeIntervalSinceNow > 0 { Thread.sleep(until: due) }
    }
    let produced = Date().timeIntervalSince(started)
    let deadline = Date().addingTimeInterval(60)
    while clients.contains(where: { $0.received < history + live }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    let drained = Date().timeIntervalSince(started)
    for c in clients { c.stop() }
    var latencies: [Int64] = []
    for c in clients { latencies += c.latencies }
    latencies.sort()
    func q(_ p: Double) -> Double { latencies.isEmpty ? .nan : Double(latencies[min(latencies.count - 1, Int(Double(latencies.count - 1) * p))]) / 1e6 }
    let complete = clients.filter { $0.received == history + live && $0.inOrder }.count
    let delivered = clients.reduce(0) { $0 + max(0, $1.received - history) }
    let p99 = q(0.99)
    print("\n## concord serve: SSE fan-out (\(clientsCount) clients on one run, \(rate) events/s for \(seconds) s, \(history) events of history first)\n")
    print("| measure | value |\n|---|---:|")
    print("| events produced (live) | \(live) in \(String(format: "%.2f", produced)) s |")
    print("| events delivered (all clients) | \(delivered) = \(String(format: "%.0f", Double(delivered) / drained)) events/s until the last client had the last event (\(String(format: "%.2f", drained)) s) |")
    print("| clients with every event once, in order | \(complete) of \(clientsCount) |")
    print("| delivery latency p50 / p99 / max | \(String(format: "%.1f / %.1f / %.1f", q(0.5), p99, q(1))) ms |")
    print("| target: ≥ 5,000 events/s to 100 clients, p99 ≤ 50 ms | \(complete == clientsCount && p99 <= 50 ? "met" : "NOT met") |")

    // wrk.
    guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        print("\n(wrk is not installed: apt-get install wrk)")
        return
    }
    // A run the stores know: its status hash and the stream above.
    _ = try redis.run("HSET", "workflow:\(run):status", "state", "running", "contentStatus", "none")
    _ = try redis.run("XTRIM", key, "MAXLEN", history)
    print("\n## concord serve under wrk (2 threads, 10 s)\n")
    print("| endpoint | connections | requests/s | latency p50 / p99 | transfer/s |\n|---|---:|---:|---|---:|")
    for (path, connections) in [("/runs/\(run)", 32), ("/runs/\(run)/events?live=false", 32), ("/healthz", 32)] {
        let out = try Bench.captureCommand(wrk, ["-t2", "-c\(connections)", "-d10s", "--latency", "http://127.0.0.1:\(server.port)\(path)"])
        func field(_ prefix: String) -> String {
            out.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) } ?? "?"
        }
        let shown = path.replacingOccurrences(of: run, with: "{id}")
        let errors = out.contains("Non-2xx") ? " (non-2xx!)" : ""
        print("| `GET \(shown)`\(errors) | \(connections) | \(field("Requests/sec:")) | \(field("50%")) / \(field("99%")) | \(field("Transfer/sec:")) |")
    }
    _ = try redis.run("FLUSHDB")
}

/// `concord serve` (release) as a child process on a free loopback port.
final class ServeProcess {
    let process = Process()
    let port: Int

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Bench.concord)
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--log-level", "warning"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        var text = Data()
        while !text.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text.append(chunk)
        }
        let line = String(decoding: text, as: UTF8.self)
        guard let colon = line.range(of: "127.0.0.1:"), let p = Int(line[colon.upperBound...].prefix { $0.isNumber }) else {
            throw ConcordError(.usage, "concord serve did not start: \(line)")
        }
        port = p
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

/// One SSE client on a socket and a thread: counts events, checks their order, notes each one's delivery latency.
final class SSEBenchClient: @unchecked Sendable {
    // @unchecked: the counters are written by the client's thread and read after `stop` (or as progress, racy but monotonic).
    private let fd: Int32
    private let path: String
    private(set) var received = 0
    private(set) var inOrder = true
    private(set) var latencies: [Int64] = []
    private var keepLatencies = false
    private var nextIndex = 0
    private var stopped = false

    init(port: Int, path: String) throws {
        self.path = path
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw ConcordError(.connection, "cannot connect to 127.0.0.1:\(port)") }
        latencies.reserveCapacity(60_000)
    }

    func resetLatencies() { latencies.removeAll(keepingCapacity: true); keepLatencies = true }

    func start() {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let t = Thread { [self] in loop() }
        t.start()
    }

    func stop() { stopped = true; shutdown(fd, Int32(SHUT_RDWR)) }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var carry: [UInt8] = []
        let marker = Array(#""sentNs":"#.utf8), index = Array(#"{"i":"#.utf8)
        while !stopped {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let now = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
            carry += buf[0..<n]
            // Whole lines only; the rest waits for the next read.
            guard let lastNewline = carry.lastIndex(of: 0x0A) else { continue }
            var i = 0
            while i <= lastNewline {
                guard let nl = carry[i...lastNewline].firstIndex(of: 0x0A) else { break }
                let line = carry[i..<nl]
                if line.starts(with: Array("data: ".utf8)) {
                    if let at = Self.find(index, in: line), let value = Self.number(after: at + index.count, in: line) {
                        if value != nextIndex { inOrder = false }
                        nextIndex = Int(value) + 1
                        received += 1
                    }
                    if keepLatencies, let at = Self.find(marker, in: line), let sent = Self.number(after: at + marker.count, in: line) {
                        latencies.append(now - sent)
                    }
                }
                i = nl + 1
            }
            carry.removeFirst(lastNewline + 1)
        }
    }

    private static func find(_ needle: [UInt8], in hay: ArraySlice<UInt8>) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.startIndex
        while i + needle.count <= hay.endIndex {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    private static func number(after i: Int, in hay: ArraySlice<UInt8>) -> Int64? {
        var j = i, v: Int64 = 0, any = false
        while j < hay.endIndex, hay[j] >= 0x30, hay[j] <= 0x39 { v = v * 10 + Int64(hay[j] - 0x30); j += 1; any = true }
        return any ? v : nil
    }
}
