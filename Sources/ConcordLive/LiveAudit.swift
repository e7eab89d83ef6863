import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

extension Auditor {
    /// Audits the live stores: reads them (optionally writing a snapshot on
    /// the way), runs the rules, and — with `recheck` — re-reads each
    /// candidate finding's records by point lookups and keeps only the
    /// findings the fresh records still show (drops what healed meanwhile).
    public static func audit(live reader: LiveReader, _ request: AuditRequest, recheck: Bool, snapshot: SnapshotWriter? = nil,
                             inspect: ((AuditEngine) -> Void)? = nil) throws -> AuditReport {
        let (request, notRun) = leavingOut(stores: reader.github == nil ? ["github"] : [], from: request, because: "no GitHub is configured")
        let started = Date()
        let now = request.nowMs ?? Timestamp.milliseconds(started)
        let ctx = EvalContext(now: now, grace: request.graceMs)
        // A partition reads its runs' records only; what it finds is then completed by point lookups
        // (a confirmation's node, an event id under another run) before it is reported.
        let partial = (request.partition?.count ?? 1) > 1
        reader.partition = partial ? request.partition : nil
        defer { reader.partition = nil }
        let t0 = Date()
        var t1 = t0
        // The engine lives for the read and the evaluation only: the recheck reads the candidates' runs
        // into engines of its own, and a million events' cells need not stay beside them.
        var (result, reads): (AuditEngine.Result, [String: LiveReader.StoreRead]) = try {
            let engine = AuditEngine(rules: request.rules, context: ctx)
            let sink: any RecordSink = snapshot.map { TeeSink([engine, $0]) } ?? engine
            // A partition reads the sets looked up by id (the confirmations) once its own records are known.
            let later = partial ? request.datasets.filter(\.holdsBackInPartitions) : []
            var reads = try reader.read(request.datasets.filter { !later.map(\.name).contains($0.name) }, into: sink)
            if !later.isEmpty { try readShare(of: later, reader, request, engine: engine, into: sink, reads: &reads) }
            if let snapshot {
                try snapshot.finish(reads: reads, createdAt: started, evaluatedAt: now)
            }
            t1 = Date()
            let result = engine.evaluate()
            inspect?(engine)
            return (result, reads)
        }()
        let t2 = Date()
        var recheckInfo: JSON = ["performed": false]
        var extra: [String: JSON] = [:]
        if (recheck || partial), !result.findings.isEmpty {
            let candidates = request.partition.map { p in result.findings.filter(p.contains) } ?? result.findings
            let c = try confirm(candidates, checking: { _ in true }, reader: reader, request, ctx, reassign: partial)
            result.findings = c.kept
            if !recheck {
                // Not a recheck (the same moment, not a fresh one): the partition's reads completed.
                extra["partitionCompletion"] = c.json(recheck: false)
            } else {
                recheckInfo = c.json(recheck: true)
            }
        } else if recheck {
            recheckInfo = ["performed": true, "candidates": 0, "healed": 0, "unavailable": 0]
        }
        let t3 = Date()
        let stores = Dictionary(uniqueKeysWithValues: reads.map { ($0.key, $0.value.json) })
        if partial {
            var read = extra["partitionCompletion"].map { ["completion": $0] } ?? [:]
            read["whole"] = .array(request.datasets.filter { !$0.isPartitioned }.map { .string($0.name) })
            read["split"] = .array(request.datasets.filter(\.isPartitioned).map { .string($0.name) })
            extra = ["partitionRead": .object(read)]
        }
        var r = report(request, result, started: started, now: now, source: "live", stores: stores, recheck: recheckInfo,
                       timings: ["read": t1.timeIntervalSince(t0), "evaluate": t2.timeIntervalSince(t1), "recheck": t3.timeIntervalSince(t2)])
        r.extra = extra
        if let notRun { r.extra["rulesNotRun"] = notRun }
        return r
    }

    /// A partition's share of the sets every partition reads whole (the
    /// confirmations), read after its own records: the members its records
    /// name; of the others, those whose id falls in this partition and that
    /// no record of any run holds (a confirmation of an event that exists
    /// nowhere). The rest belong to the partition of the run that holds them,
    /// whose records name them. Only the undecided are held while reading.
    static func readShare(of specs: [DatasetSpec], _ reader: LiveReader, _ request: AuditRequest, engine: AuditEngine, into sink: any RecordSink,
                          reads: inout [String: LiveReader.StoreRead]) throws {
        guard let partition = request.partition else { return }
        let share = ShareSink(sink, engine: engine, partition: partition, idPaths: specs.reduce(into: [:]) { $0[$1.name] = $1.lookup["id"]?.first })
        let more = try reader.read(specs, into: share)
        let split = request.datasets.filter { $0.runField != nil }
        for spec in specs {
            let unnamed = share.unnamed[spec.name] ?? []
            // Each dataset asked only for the ids the ones before it did not hold (most are events: the nodes hold them).
            var held: Set<String> = []
            var open = Set(unnamed.map(\.id))
            for dataset in split where !open.isEmpty {
                for chunk in Array(open).sorted().chunked(5000) { held.formUnion(try reader.holders([dataset], ids: Set(chunk)).ids) }
                open.subtract(held)
            }
            var n = share.fed[spec.name] ?? 0
            for (id, text) in unnamed where !held.contains(id) { try sink.append(try JSON.parse(Array(text.utf8)), to: spec.name); n += 1 }
            try sink.finished(spec.name, records: n)
            reads[spec.store, default: more[spec.store]!].records[spec.name] = n
        }
    }

    /// What re-reading candidates by point lookups kept and dropped.
    struct Confirmation {
        var kept: [Finding] = []
        var dropped: [Finding] = []
        var unavailable = 0
        var checked = 0

        func json(recheck: Bool) -> JSON {
            guard recheck else {
                return ["candidates": .int(Int64(checked)), "dropped": .int(Int64(dropped.count)), "unavailable": .int(Int64(unavailable))]
            }
            return ["performed": true, "candidates": .int(Int64(checked)), "healed": .int(Int64(dropped.count)),
                    "unavailable": .int(Int64(unavailable)),
                    "healedFindings": .array(dropped.prefix(100).map { ["rule": .string($0.rule), "key": .string($0.key)] })]
        }
    }

    /// Re-reads the records of the candidates `checking` selects, by point
    /// lookups, and keeps those the records still show (the others pass as
    /// they are). A candidate that is not shown again is dropped only if its
    /// rule's records could be read again; otherwise it stays, marked. With
    /// `reassign`, a kept finding takes the run the complete read gives it,
    /// and leaves if that run is another partition's.
    static func confirm(_ candidates: [Finding], checking: (Finding) -> Bool, reader: LiveReader, _ request: AuditRequest, _ ctx: EvalContext,
                        reassign: Bool) throws -> Confirmation {
        let toCheck = candidates.filter(checking)
        var out = Confirmation(checked: toCheck.count)
        let confirmed = toCheck.isEmpty ? [:] : try recheckFindings(toCheck, reader: reader, request, ctx)
        let checkedIds = Set(toCheck.map(\.id))
        // Why a rule's finding (with or without a run) cannot be rechecked: analysed once per rule and case.
        var limits: [String: String?] = [:]
        func whyUnrecheckable(_ f: Finding) -> String? {
            let key = "\(f.rule)\u{0}\(f.workflowId != nil)"
            if let known = limits[key] { return known }
            let why = request.rules.recheckUnavailable(rule: f.rule, hasRun: f.workflowId != nil)
            limits[key] = .some(why)
            return why
        }
        for var f in candidates {
            guard checkedIds.contains(f.id) else { out.kept.append(f); continue }
            if let fresh = confirmed[f.id] {
                // The complete read tells the finding's run where a partial read told it wrongly (a draft's
                // history read by another partition looked missing): it goes to that run's partition.
                if reassign, f.workflowId != fresh.workflowId {
                    f.workflowId = fresh.workflowId
                    f.message = fresh.message
                    if let p = request.partition, !p.contains(f) { continue }
                }
                out.kept.append(f)
            } else if let why = whyUnrecheckable(f) {
                f.recheckUnavailable = why
                out.kept.append(f)
                out.unavailable += 1
            } else {
                out.dropped.append(f)
            }
        }
        return out
    }

    /// The candidates that a fresh point read of their records still shows, by id, as that read shows them.
    /// Candidates are rechecked in batches of at most 500 findings whose runs hold about 20,000 stream entries
    /// together (a run's findings together; a bigger run alone): each batch's runs are read whole into an engine of
    /// its own, so the runs' size bounds what is held — with runs of thousands of events, 500 candidates held most of
    /// a store at once.
    static func recheckFindings(_ candidates: [Finding], reader: LiveReader, _ request: AuditRequest, _ ctx: EvalContext) throws -> [String: Finding] {
        var confirmed: [String: Finding] = [:]
        let sizes = try reader.runSizes(request.datasets, runs: Array(Set(candidates.compactMap(\.workflowId))))
        var batches: [[Finding]] = [], batchRuns = Set<String>(), held = 0
        for f in candidates.enumerated().sorted(by: { ($0.element.workflowId ?? "", $0.offset) < ($1.element.workflowId ?? "", $1.offset) }).map(\.element) {
            let new = f.workflowId.flatMap { batchRuns.contains($0) ? nil : $0 }
            let size = new.map { sizes[$0] ?? 0 } ?? 0
            if batches.isEmpty || batches[batches.count - 1].count >= 500 || (held > 0 && held + size > 20_000) {
                batches.append([])
                batchRuns = []
                held = 0
            }
            batches[batches.count - 1].append(f)
            if let new { batchRuns.insert(new) }
            held += size
        }
        for slice in batches {
            var runs: Set<String> = [], ids: Set<String> = []
            for f in slice {
                ids.insert(f.key)
                if let w = f.workflowId { runs.insert(w) }
                for m in f.evidence["members"]?.arrayValue ?? [] { if let s = m.stringValue { ids.insert(s) } }
                if let p = f.evidence["parent"]?.stringValue { ids.insert(p) }
                if let l = f.evidence["lookedUp"]?.stringValue { ids.insert(l); runs.insert(l) }
            }
            let engine = AuditEngine(rules: try request.rules.selecting(Array(Set(slice.map(\.rule)))), context: ctx)
            try reader.lookup(request.datasets.filter { engine.datasets.contains($0.name) }, runs: runs, ids: ids, into: engine)
            let still = Dictionary(engine.evaluate().findings.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for f in slice { if let fresh = still[f.id] { confirmed[f.id] = fresh } }
        }
        return confirmed
    }
}

/// Decides, record by record, a partition's share of a set read whole (see `Auditor.readShare`).
final class ShareSink: RecordSink, @unchecked Sendable {
    let inner: any RecordSink
    let engine: AuditEngine
    let partition: Partition
    let idPaths: [String: String]
    var fed: [String: Int] = [:]
    /// Records still undecided, as their canonical text (a fifth of the memory of the parsed value).
    var unnamed: [String: [(id: String, text: String)]] = [:]

    init(_ inner: any RecordSink, engine: AuditEngine, partition: Partition, idPaths: [String: String]) {
        self.inner = inner
        self.engine = engine
        self.partition = partition
        self.idPaths = idPaths
    }

    func append(_ record: JSON, to dataset: String) throws {
        guard let path = idPaths[dataset], let id = record.value(atPath: path)?.keyText, !engine.mentions(id) else {
            try inner.append(record, to: dataset)
            fed[dataset, default: 0] += 1
            return
        }
        if partition.contains(run: id) { unnamed[dataset, default: []].append((id, record.encoded())) }
    }

    func finished(_ dataset: String, records: Int) throws {}  // the caller finishes once the undecided are settled
}
