import Foundation

/// The sync's counters, shared with the metrics endpoint (thread-safe).
public final class SyncMetrics: @unchecked Sendable {
    // @unchecked: every field is read and written under `lock`.
    private let lock = NSLock()
    private var counters: [String: Int64] = [:]
    private var gauges: [String: Double] = [:]
    /// Recent queue→confirm lags in ms (a ring of the last 100,000).
    private var lags: [Int64] = []
    private var lagIndex = 0
    private let lagCapacity = 100_000

    public init() {}

    public func add(_ name: String, _ n: Int64 = 1) { lock.withLock { counters[name, default: 0] += n } }
    public func set(_ name: String, _ v: Double) { lock.withLock { gauges[name] = v } }
    public func counter(_ name: String) -> Int64 { lock.withLock { counters[name] ?? 0 } }

    public func recordLag(_ ms: Int64) {
        lock.withLock {
            if lags.count < lagCapacity { lags.append(ms) } else { lags[lagIndex] = ms; lagIndex = (lagIndex + 1) % lagCapacity }
        }
    }

    /// The lag at quantile `q` (0…1) over the recent window, in ms.
    public func lagQuantile(_ q: Double) -> Int64? {
        let sorted = lock.withLock { lags.sorted() }
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }

    public func resetLags() { lock.withLock { lags.removeAll(); lagIndex = 0 } }

    /// Prometheus text exposition.
    public func prometheus() -> String {
        let (c, g) = lock.withLock { (counters, gauges) }
        var out = ""
        let help: [String: String] = [
            "processed": "Events written to the graph and confirmed.",
            "deadlettered": "Entries moved to persistence:deadletter.",
            "retried": "Store operations retried after a failure.",
            "recovered": "Entries found in persistence:processing at start and processed.",
            "placeholders": "Events written whose parent had not arrived yet.",
            "publications_synced": "Published drafts written to their run in the graph.",
        ]
        for (name, v) in c.sorted(by: { $0.key < $1.key }) {
            out += "# HELP concord_sync_\(name)_total \(help[name] ?? name)\n# TYPE concord_sync_\(name)_total counter\n"
            out += "concord_sync_\(name)_total \(v)\n"
        }
        for (name, v) in g.sorted(by: { $0.key < $1.key }) {
            out += "# TYPE concord_sync_\(name) gauge\nconcord_sync_\(name) \(v)\n"
        }
        for q in [0.5, 0.9, 0.99] {
            if let v = lagQuantile(q) { out += "concord_sync_lag_ms{quantile=\"\(q)\"} \(v)\n" }
        }
        return out
    }
}
