import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// Which way an audit with a state reads the stores.
public enum AuditMode: String, Sendable {
    /// Every record (and the state saved for the next incremental audit).
    case full
    /// Only what changed since the saved state, plus what must be judged again.
    case incremental
}

extension Auditor {
    /// Clock skew allowed between producers and this audit: a run is re-read
    /// until this long past its longest time window.
    public static let settlingSkewMs: Int64 = 60_000

    /// An audit that keeps a state for the next one.
    ///
    /// First the per-run signatures of every store are taken (before any
    /// record is read, so a change made while reading shows next time). A
    /// full audit then reads everything. An incremental audit compares the
    /// signatures with the saved state and reads completely, by point
    /// lookups, only the runs that changed, are new or gone, are still
    /// settling (younger than the rules' longest time window when they last
    /// changed), or had findings; the ids of a dataset split by id likewise;
    /// the queues and fixed sets whole; the sorted sets' changed members.
    /// Every key those records carry is then looked for elsewhere (the same
    /// event id under another run, a draft's history, a confirmation), and
    /// any run found that way is read completely too, until nothing new turns
    /// up. What cannot be proved unchanged this way makes it a full audit,
    /// and the report says why (`incremental.fullBecause`).
    public static func audit(live reader: LiveReader, _ request: AuditRequest, recheck: Bool, mode: AuditMode, state store: AuditStateStore,
                             snapshot: SnapshotWriter? = nil) throws -> AuditReport {
        let (request, notRun) = Auditor.leavingOut(stores: reader.github == nil ? ["github"] : [], from: request, because: "no GitHub is configured")
        var report = try audit(reader, request, recheck: recheck, mode: mode, state: store, snapshot: snapshot)
        if let notRun { report.extra["rulesNotRun"] = notRun }
        return report
    }

    static func audit(_ reader: LiveReader, _ request: AuditRequest, recheck: Bool, mode: AuditMode, state store: AuditStateStore,
                      snapshot: SnapshotWriter?) throws -> AuditReport {
        let started = Date()
        var request = request
        let now = request.nowMs ?? Timestamp.milliseconds(started)
        request.nowMs = now
        let scope = AuditState.scope(request.partition)
        let partial = (request.partition?.count ?? 1) > 1
        let specs = request.datasets

        reader.partition = partial ? request.partition : nil
        let t0 = Date()
        // The saved state is read while the stores are signed.
        let loaded = Locked<Result<AuditState?, Error>>(.success(nil))
        let loading = DispatchGroup()
        if mode == .incremental {
            DispatchQueue.global().async(group: loading) { loaded.withLock { $0 = Result { try store.load(scope: scope) } } }
        }
        let signatures: StoreSignatures
        do { defer { reader.partition = nil }; signatures = try reader.signatures(specs, catalog: request.rules.datasets.specs) }
        let signing = Date().timeIntervalSince(t0)
        loading.wait()

        var previous: AuditState?
        var fullBecause: String?
        if mode == .full {
            fullBecause = "--full"
        } else {
            previous = try loaded.value.get()
            fullBecause = try whyFull(previous, request, signatures, reader, store: store)
        }
        if snapshot != nil, fullBecause == nil { fullBecause = "--save-snapshot needs every record" }

        var report: AuditReport
        var audited: Set<String>, auditedIds: Set<String>
        var info: [String: JSON] = [:]
        var runKeys: [String: Set<String>] = [:]
        var youngest: [String: Int64] = [:]
        if let fullBecause {
            report = try audit(live: reader, request, recheck: recheck, snapshot: snapshot) { engine in
                runKeys = engine.keysByRun()
                youngest = engine.youngest()
            }
            audited = Set(signatures.runs.keys)
            auditedIds = Set(signatures.ids.keys)
            info["fullBecause"] = .string(fullBecause)
        } else {
            let r = try incremental(reader, request, recheck: recheck, previous: previous!, signatures)
            report = r.report
            runKeys = r.keys
            youngest = r.youngest
            audited = r.runs
            auditedIds = r.ids
            info = r.info
        }
        report.timings["signatures"] = signing
        report.timings["total"] = Date().timeIntervalSince(started)
        report.extra["mode"] = .string(fullBecause == nil ? AuditMode.incremental.rawValue : AuditMode.full.rawValue)
        info["state"] = .string(store.description)
        info["runs"] = .int(Int64(signatures.runs.count))
        info["signatureSeconds"] = .double((signing * 1000).rounded() / 1000)
        info["signatureSecondsByStore"] = .object(signatures.seconds.mapValues { .double(($0 * 1000).rounded() / 1000) })
        report.extra["incremental"] = .object(info)

        // The state the next incremental audit starts from.
        var state = AuditState(scope: scope, auditId: report.auditId, rulesDigest: stateDigest(request.rules), graceMs: request.graceMs, evaluatedAt: now)
        func marks(_ current: [String: String], _ old: [String: AuditState.RunMark], _ read: Set<String>, all: Bool) -> [String: AuditState.RunMark] {
            var out: [String: AuditState.RunMark] = [:]
            for (unit, sig) in current {
                let before = old[unit]
                let wasRead = all || read.contains(unit)
                out[unit] = .init(signature: sig, auditedAt: wasRead ? now : before?.auditedAt ?? now,
                                  youngest: wasRead ? youngest[unit] : before?.youngest)
            }
            return out
        }
        state.runs = marks(signatures.runs, previous?.runs ?? [:], audited, all: fullBecause != nil)
        state.ids = marks(signatures.ids, previous?.ids ?? [:], auditedIds, all: fullBecause != nil)
        state.runless = signatures.runless
        state.members = signatures.zsets.mapValues { Array($0) }
        state.findings = report.findings.map { ($0.rule, $0.key, $0.workflowId) }
        // Keys per run: as read now for the runs read, as before for the others (runs gone are dropped).
        for run in signatures.runs.keys {
            if let k = runKeys[run] { state.keys[run] = k.sorted() } else if fullBecause == nil, !audited.contains(run), let k = previous?.keys[run] { state.keys[run] = k }
        }
        try store.save(state)
        return report
    }

    /// The rule files' digest and the rules selected (`--rule`): a state is for one exact rule set.
    static func stateDigest(_ rules: RuleSet) -> String {
        SHA256.hex(rules.digest + "\u{0}" + rules.rules.map(\.id).sorted().joined(separator: ","))
    }

    /// Why the saved state cannot carry an incremental audit (nil: it can).
    static func whyFull(_ previous: AuditState?, _ request: AuditRequest, _ signatures: StoreSignatures, _ reader: LiveReader,
                        store: AuditStateStore) throws -> String? {
        guard let previous else { return "no audit state for \(AuditState.scope(request.partition)) in \(store.description)" }
        if previous.rulesDigest != stateDigest(request.rules) { return "the rules changed since \(previous.auditId) (or another --rule selection)" }
        if previous.graceMs != request.graceMs { return "grace changed since \(previous.auditId) (\(previous.graceMs) ms → \(request.graceMs) ms)" }
        if previous.evaluatedAt > request.nowMs! { return "the audit state (\(previous.auditId)) is newer than this audit's time" }
        if case .failure(let e) = request.rules.settlingWindow(grace: request.graceMs) {
            return "rule \(e.rule) reads the clock other than by comparing age(…) with a constant, so what changes with time alone cannot be told"
        }
        for spec in request.datasets {
            guard case .redisZSet(let key) = spec.source, previous.members[spec.name] == nil else { continue }
            return "no members of \(key) in the audit state"
        }
        return nil
    }

    /// Reads what the state cannot vouch for and audits it.
    static func incremental(_ reader: LiveReader, _ request: AuditRequest, recheck: Bool, previous: AuditState, _ signatures: StoreSignatures) throws
        -> (report: AuditReport, runs: Set<String>, ids: Set<String>, keys: [String: Set<String>], youngest: [String: Int64], info: [String: JSON])
    {
        let started = Date()
        let now = request.nowMs!
        let ctx = EvalContext(now: now, grace: request.graceMs)
        let window = (try? request.rules.settlingWindow(grace: request.graceMs).get()) ?? request.graceMs
        let settledAfter = window + settlingSkewMs
        func mine(_ run: String) -> Bool { request.partition.map { $0.count <= 1 || $0.contains(run: run) } ?? true }

        // Why each run is read again.
        var why: [String: String] = [:]
        func units(_ current: [String: String], _ old: [String: AuditState.RunMark]) -> [String: String] {
            var out: [String: String] = [:]
            for (unit, sig) in current {
                if let before = old[unit] {
                    if before.signature != sig { out[unit] = "changed" } else if before.settling(window: settledAfter) { out[unit] = "settling" }
                } else {
                    out[unit] = "new"
                }
            }
            for unit in old.keys where current[unit] == nil { out[unit] = "gone" }
            return out
        }
        why = units(signatures.runs, previous.runs)
        let idWhy = units(signatures.ids, previous.ids)
        for f in previous.findings {
            if let run = f.workflowId, mine(run), why[run] == nil { why[run] = "open finding" }
        }
        var keys = Set(idWhy.keys).union(previous.findings.map(\.key))
        // What a changed run held before: a deleted event's confirmation is found by its id.
        for (run, reason) in why where reason != "settling" { keys.formUnion(previous.keys[run] ?? []) }

        let specs = request.datasets
        let byRun = specs.filter { $0.runField != nil }
        let byId = specs.filter { spec in
            guard spec.runField == nil else { return false }
            if case .redisZSet = spec.source { return true }
            return spec.partitionKey != nil
        }
        let whole = specs.filter { s in s.runField == nil && !byId.contains { $0.name == s.name } }

        let engine = AuditEngine(rules: request.rules, context: ctx)
        let counts = CountingSink(engine)
        let t0 = Date()
        // Queues and fixed sets: whole (small).
        _ = try reader.read(whole, into: counts)
        // Sorted sets: every member added, removed or re-scored since (compared whole when signed) is looked up by its id.
        var zsetInfo: [String: JSON] = [:]
        for (dataset, now) in signatures.zsets {
            let changed = now.symmetricDifference(previous.members[dataset] ?? [])
            keys.formUnion(changed.map(StoreSignatures.member))
            zsetInfo[dataset] = ["changed": .int(Int64(changed.count))]
        }
        try reader.runless(byRun.filter { signatures.runless[$0.name] != nil }, into: counts)

        var phase: [String: Double] = [:]
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let t = Date()
            defer { phase[name, default: 0] += Date().timeIntervalSince(t) }
            return try body()
        }
        var done: Set<String> = [], probed: Set<String> = []
        var next = Set(why.keys)
        var related = 0, rounds = 0
        while true {
            rounds += 1
            let runs = next.subtracting(done).filter(mine)
            try timed("runs") {
                for chunk in Array(runs).sorted().chunked(2000) { try reader.lookup(byRun, runs: Set(chunk), ids: [], into: counts) }
            }
            done.formUnion(runs)
            // Every key read so far, looked for where else it lives.
            let fresh = engine.keys(of: Set(specs.map(\.name))).union(keys).subtracting(probed)
            keys = []
            if fresh.isEmpty { break }
            probed.formUnion(fresh)
            try timed("ids") {
                for chunk in Array(fresh).sorted().chunked(2000) { try reader.lookup(byId, runs: [], ids: Set(chunk), into: counts) }
            }
            var elsewhere: Set<String> = []
            try timed("probe") {
                for chunk in Array(fresh).sorted().chunked(2000) { elsewhere.formUnion(try reader.runsHolding(byRun, ids: Set(chunk))) }
            }
            next = elsewhere.subtracting(done).filter(mine)
            for run in next where why[run] == nil { why[run] = "related"; related += 1 }
        }
        let t1 = Date()
        var result = engine.evaluate()
        let runKeys = engine.keysByRun().filter { done.contains($0.key) }
        let youngest = engine.youngest()
        let t2 = Date()

        // A finding outside the runs read whole (no run, or a run only reached by a key) is completed by point lookups.
        let candidates = request.partition.map { p in result.findings.filter(p.contains) } ?? result.findings
        var recheckInfo: JSON = ["performed": false]
        var info: [String: JSON] = [:]
        let c = try confirm(candidates, checking: { f in recheck || f.workflowId.map { !done.contains($0) } ?? true },
                            reader: reader, request, ctx, reassign: true)
        result.findings = c.kept
        if recheck { recheckInfo = c.json(recheck: true) } else { info["completion"] = c.json(recheck: false) }
        let t3 = Date()

        var byReason: [String: Int] = [:]
        for (run, reason) in why where done.contains(run) { byReason[reason, default: 0] += 1 }
        info["reaudited"] = .int(Int64(done.count))
        info["byReason"] = .object(byReason.mapValues { .int(Int64($0)) })
        info["ids"] = .int(Int64(idWhy.count))
        info["keysProbed"] = .int(Int64(probed.count))
        info["rounds"] = .int(Int64(rounds))
        info["since"] = ["auditId": .string(previous.auditId), "evaluatedAt": .int(previous.evaluatedAt)]
        info["settlingWindowMs"] = .int(window)
        info["phaseSeconds"] = .object(phase.mapValues { .double(($0 * 1000).rounded() / 1000) })

        var stores: [String: JSON] = [:]
        for (dataset, n) in counts.counts {
            let store = request.rules.datasets[dataset]?.store ?? ""
            var s = stores[store]?.objectValue ?? [:]
            var records = s["records"]?.objectValue ?? [:]
            records[dataset] = .int(Int64(n))
            s["records"] = .object(records)
            stores[store] = .object(s)
        }
        let report = report(request, result, started: started, now: now, source: "live", stores: stores, recheck: recheckInfo,
                            timings: ["read": t1.timeIntervalSince(t0), "evaluate": t2.timeIntervalSince(t1), "recheck": t3.timeIntervalSince(t2)])
        let ids = Set(signatures.ids.keys).intersection(probed)
        info["sortedSets"] = .object(zsetInfo)
        return (report, done, ids, runKeys, youngest, info)
    }
}

/// Passes records on and counts them per dataset across several reads.
final class CountingSink: RecordSink, @unchecked Sendable {
    let inner: any RecordSink
    private let lock = NSLock()
    private var n: [String: Int] = [:]

    init(_ inner: any RecordSink) { self.inner = inner }

    func append(_ record: JSON, to dataset: String) throws { try inner.append(record, to: dataset) }
    func append(_ record: TextRecord, to dataset: String) throws { try inner.append(record, to: dataset) }
    func append(line: UnsafeRawBufferPointer, to dataset: String) throws { try inner.append(line: line, to: dataset) }

    func finished(_ dataset: String, records: Int) throws {
        lock.lock()
        n[dataset, default: 0] += records
        let total = n[dataset]!
        lock.unlock()
        try inner.finished(dataset, records: total)
    }

    var counts: [String: Int] { lock.lock(); defer { lock.unlock() }; return n }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
