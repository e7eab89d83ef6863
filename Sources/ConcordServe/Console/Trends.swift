import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Samples the persistence queue for the console's trends: every `interval` seconds one row in PostgreSQL
/// (`concord_console_samples`: waiting, processing, dead letters, the oldest waiting entry's age), rows older
/// than a day removed. PostgreSQL rather than memory or Redis: the samples outlive a restart of `serve`,
/// several `serve`s share them, and a day is 1,440 rows.
struct QueueSampler: Service {
    static let table = """
        CREATE TABLE IF NOT EXISTS concord_console_samples (
          at         timestamptz NOT NULL DEFAULT clock_timestamp(),
          queue      bigint NOT NULL,
          processing bigint NOT NULL,
          deadletter bigint NOT NULL,
          lag_ms     bigint
        )
        """
    let stores: ServeStores
    let interval: Double
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var created = false
            while !Task.isCancelled {
                do {
                    if !created { try await stores.postgres.run { pg in try pg.execute(Self.table) }; created = true }
                    try await sample()
                } catch {
                    logger.warning("queue sample failed: \(error)")
                }
                try await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
            }
        }
    }

    func sample() async throws {
        let q = try await QueueReading.read(stores)
        try await stores.postgres.run { pg in
            try pg.execute("INSERT INTO concord_console_samples (queue, processing, deadletter, lag_ms) VALUES ($1, $2, $3, $4)",
                           [q.queue, q.processing, q.deadletter, q.oldestWaitingMs])
            try pg.execute("DELETE FROM concord_console_samples WHERE at < clock_timestamp() - interval '24 hours'")
        }
    }
}

/// The persistence queue now, in one pipeline of O(1)/O(log n) reads: what the overview shows and the sampler keeps.
struct QueueReading {
    var queue: Int64 = 0, processing: Int64 = 0, deadletter: Int64 = 0, confirmed: Int64 = 0
    var confirmedLastMinute: Int64 = 0
    /// The age of the queue's head, its oldest entry (the sync takes from the left).
    var oldestWaitingMs: Int64?

    static func read(_ stores: ServeStores) async throws -> QueueReading {
        let now = Timestamp.milliseconds(Date())
        let r = try await stores.redis.run { r in
            try r.pipeline([["LLEN", RedisKeys.queue], ["LLEN", RedisKeys.processing], ["LLEN", RedisKeys.deadletter], ["ZCARD", RedisKeys.confirmed],
                            ["ZCOUNT", RedisKeys.confirmed, String(now - 60_000), "+inf"], ["LINDEX", RedisKeys.queue, 0]])
        }
        var q = QueueReading(queue: r[0].int ?? 0, processing: r[1].int ?? 0, deadletter: r[2].int ?? 0, confirmed: r[3].int ?? 0,
                             confirmedLastMinute: r[4].int ?? 0)
        if let text = r[5].string, let ts = (try? JSON.parse(text))?["timestamp"]?.intValue { q.oldestWaitingMs = max(0, now - ts) }
        return q
    }
}

/// Bar charts as inline SVG, drawn on the server: no script, no external asset, every bar labelled with
/// its value so that nothing depends on colour.
enum SVGChart {
    static func bars(id: String, title: String, labels: [String], values: [Double], format: (Double) -> String,
                     links: [String?]? = nil, width: Int = 640, height: Int = 150) -> String {
        let n = max(values.count, 1)
        let top = max(values.max() ?? 0, 1)
        let barW = Double(width - 40) / Double(n)
        var svg = "<svg id=\"\(HTML.escape(id))\" class=\"chart\" role=\"img\" aria-labelledby=\"\(HTML.escape(id))-title\" width=\"\(width)\" height=\"\(height + 34)\" viewBox=\"0 0 \(width) \(height + 34)\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<title id=\"\(HTML.escape(id))-title\">\(HTML.escape(title))</title>"
        svg += "<line x1=\"30\" y1=\"\(height)\" x2=\"\(width - 5)\" y2=\"\(height)\" stroke=\"#1d2430\" stroke-width=\"1\"/>"
        for (i, v) in values.enumerated() {
            let h = v <= 0 ? 0 : max(2, (v / top) * Double(height - 20))
            let x = 32 + Double(i) * barW
            let bar = "<rect class=\"bar\" x=\"\(fmt(x))\" y=\"\(fmt(Double(height) - h))\" width=\"\(fmt(max(1, barW - 3)))\" height=\"\(fmt(h))\" fill=\"#4a6fa5\"><title>\(HTML.escape(labels[i])): \(HTML.escape(format(v)))</title></rect>"
            if let link = links?[i] { svg += "<a href=\"\(HTML.escape(link))\">\(bar)</a>" } else { svg += bar }
            if barW >= 18 {
                svg += "<text x=\"\(fmt(x + barW / 2 - 1.5))\" y=\"\(fmt(Double(height) - h - 3))\" font-size=\"10\" text-anchor=\"middle\">\(HTML.escape(format(v)))</text>"
            }
        }
        if let first = labels.first, let last = labels.last {
            svg += "<text x=\"32\" y=\"\(height + 14)\" font-size=\"10\">\(HTML.escape(first))</text>"
            svg += "<text x=\"\(width - 5)\" y=\"\(height + 14)\" font-size=\"10\" text-anchor=\"end\">\(HTML.escape(last))</text>"
        }
        return svg + "</svg>"
    }

    static func fmt(_ d: Double) -> String { String(format: "%.1f", d) }
}

extension Console {
    /// Findings per rule over the last audits, their duration and records read; the queue and the sync's lag
    /// over the last day (the sampler's rows).
    func trendsPage(_ s: ConsoleSession) async throws -> Response {
        let audits = Array(index.audits.prefix(20).reversed())
        var perRule: [String: [Double]] = [:]
        var durations: [Double] = [], records: [Double] = [], labels: [String] = [], files: [String] = []
        // The index read each report once (cached by file version): nothing is parsed again here.
        for (i, a) in audits.enumerated() {
            labels.append(String(a.finishedAt.prefix(16)))
            files.append(a.file)
            durations.append(a.seconds)
            records.append(Double(a.recordsRead))
            for (id, n) in a.perRule { perRule[id, default: Array(repeating: 0, count: audits.count)][i] = Double(n) }
        }
        var body = "<h1>Trends</h1><p class=\"muted\">Is consistency getting better or worse? The last \(labels.count) audit(s), oldest first; the queue over the last day.</p>"
        let links = files.map { "/console/audits/" + HTML.segment($0) }
        body += "<h2>Findings per rule</h2>"
        let shown = perRule.filter { $0.value.contains { $0 > 0 } }.sorted { $0.key < $1.key }
        if shown.isEmpty { body += "<p id=\"no-findings\">No rule found anything in these audits.</p>" }
        for (rule, values) in shown {
            body += "<h3>\(HTML.escape(rule))</h3>"
            body += SVGChart.bars(id: "rule-" + rule, title: "\(rule): findings per audit", labels: labels, values: Array(values.prefix(labels.count)),
                                  format: { String(Int($0)) }, links: links, height: 60)
        }
        body += "<h2>Audit duration</h2>" + SVGChart.bars(id: "durations", title: "audit duration in seconds", labels: labels, values: durations,
                                                         format: { String(format: "%.1f s", $0) }, links: links)
        body += "<h2>Records read</h2>" + SVGChart.bars(id: "records", title: "records read per audit", labels: labels, values: records,
                                                      format: { $0 >= 10_000 ? String(format: "%.0fk", $0 / 1000) : String(Int($0)) }, links: links)
        let samples: [(at: String, queue: Double, lag: Double)] = try await stores.postgres.run { pg in
            try pg.execute(QueueSampler.table)
            return try pg.query("""
                SELECT to_char(at AT TIME ZONE 'UTC', 'HH24:MI'), queue, coalesce(lag_ms, 0) FROM concord_console_samples
                WHERE at > clock_timestamp() - interval '24 hours' ORDER BY at
                """).rows.map { ($0.string(0) ?? "", Double($0.int(1) ?? 0), Double($0.int(2) ?? 0)) }
        }
        // At most 96 bars (every 15 minutes of a day): the highest of each slice, which is what an operator looks for.
        let step = max(1, samples.count / 96)
        let slices = stride(from: 0, to: samples.count, by: step).map { Array(samples[$0..<min($0 + step, samples.count)]) }
        let sLabels = slices.map { $0.first!.at }
        body += "<h2>Persistence queue, last 24 hours (UTC; \(samples.count) sample(s))</h2>"
        body += samples.isEmpty ? "<p id=\"no-samples\" class=\"muted\">No samples yet: concord serve samples the queue every minute.</p>"
            : SVGChart.bars(id: "queue-depth", title: "entries waiting in persistence:queue", labels: sLabels, values: slices.map { $0.map(\.queue).max() ?? 0 },
                            format: { String(Int($0)) })
                + "<h2>The sync's lag, last 24 hours</h2>"
                + SVGChart.bars(id: "sync-lag", title: "age of the oldest waiting entry", labels: sLabels, values: slices.map { $0.map(\.lag).max() ?? 0 },
                                format: { DurationText.format(milliseconds: Int64($0)) })
        return HTML.response(HTML.page("Trends", session: s, body))
    }
}
