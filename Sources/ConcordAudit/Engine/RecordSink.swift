import ConcordCore
import ConcordJSON
import Foundation

/// Where records read from a store or a snapshot go: the audit engine, a
/// snapshot writer, or both. Each dataset is fed from one thread at a time;
/// different datasets may be fed concurrently.
public protocol RecordSink: AnyObject, Sendable {
    func append(_ record: JSON, to dataset: String) throws
    /// A record that holds JSON text as the store keeps it (a stream entry,
    /// a list element). By default the record built whole; a sink that reads
    /// a few fields parses only those.
    func append(_ record: TextRecord, to dataset: String) throws
    /// One record as JSON text (a snapshot's line); throws when it is not JSON.
    func append(line: UnsafeRawBufferPointer, to dataset: String) throws
    /// Called once per dataset when it has been read completely.
    func finished(_ dataset: String, records: Int) throws
}

extension RecordSink {
    public func append(_ record: TextRecord, to dataset: String) throws { try append(record.record, to: dataset) }
    public func append(line: UnsafeRawBufferPointer, to dataset: String) throws {
        try append(SnapshotLine.resolved(JSON.parse(line), line: line), to: dataset)
    }
}

/// A record whose member `field` is JSON text: `base`, plus the text parsed
/// under `field` (null if not JSON, or if there is no text) and, verbatim,
/// as `raw` — so evidence and repair preconditions carry exactly the bytes
/// the store holds.
public struct TextRecord {
    public var base: [String: JSON]
    public var text: [UInt8]?
    public var field: String

    public init(base: [String: JSON], text: [UInt8]?, field: String) {
        self.base = base
        self.text = text
        self.field = field
    }

    /// The whole record.
    public var record: JSON {
        var o = base
        guard let text else {
            o[field] = .null
            o["raw"] = .null
            return .object(o)
        }
        o[field] = (try? JSON.parse(text)) ?? .null
        o["raw"] = .string(String(decoding: text, as: UTF8.self))
        return .object(o)
    }
}

extension AuditEngine: RecordSink {
    public func append(_ record: JSON, to dataset: String) throws { ingest(record, dataset: dataset) }
    public func finished(_ dataset: String, records: Int) throws { setCount(dataset, records) }

    /// Parses only what the rules read of every record (`projections`); the
    /// whole record is built only for a record a schema check finds wrong.
    public func append(_ record: TextRecord, to dataset: String) throws {
        guard let memo = memos[dataset] else { return }
        guard let text = record.text, case .members(let wanted)? = projections[dataset] else { return ingest(record.record, dataset: dataset) }
        var o = record.base
        if let p = wanted[record.field] {
            o[record.field] = text.withUnsafeBytes { JSON.parse($0, projection: p, tape: &memo.scratch.tape) } ?? .null
        }
        if wanted["raw"] != nil { o["raw"] = .string(String(decoding: text, as: UTF8.self)) }
        ingest(.object(o), dataset: dataset) { record.record }
    }

    public func append(line: UnsafeRawBufferPointer, to dataset: String) throws {
        guard let memo = memos[dataset] else { return }
        guard let projection = projections[dataset], var projected = JSON.parse(line, projection: projection, tape: &memo.scratch.tape) else {
            // not JSON: jansson's error, with line and column
            return ingest(SnapshotLine.resolved(try JSON.parse(line), line: line), dataset: dataset)
        }
        // `raw` wanted, and the element's text is in the line verbatim (the projection asks for the marker then).
        if case .object(let o) = projected, o[SnapshotLine.verbatimKey] != nil { projected = SnapshotLine.resolved(projected, line: line) }
        ingest(projected, dataset: dataset) { (try? JSON.parse(line)).map { SnapshotLine.resolved($0, line: line) } ?? .null }
    }
}

extension SnapshotWriter: RecordSink {
    public func finished(_ dataset: String, records: Int) throws { try touch(dataset) }
}

/// Feeds several sinks.
public final class TeeSink: RecordSink {
    let sinks: [any RecordSink]
    public init(_ sinks: [any RecordSink]) { self.sinks = sinks }
    public func append(_ record: JSON, to dataset: String) throws { for s in sinks { try s.append(record, to: dataset) } }
    public func append(_ record: TextRecord, to dataset: String) throws { for s in sinks { try s.append(record, to: dataset) } }
    public func finished(_ dataset: String, records: Int) throws { for s in sinks { try s.finished(dataset, records: records) } }
}

/// Records per second per store on a terminal; nothing when stderr is not one.
public final class ReadProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private let started = Date()
    private var lastPrint = Date.distantPast
    public let enabled: Bool

    public init(enabled: Bool = isatty(2) == 1) { self.enabled = enabled }

    public func add(_ store: String, _ n: Int = 1) {
        guard enabled else { return }
        lock.lock()
        counts[store, default: 0] += n
        let now = Date()
        let due = now.timeIntervalSince(lastPrint) > 0.5
        if due { lastPrint = now }
        let snapshot = counts
        lock.unlock()
        if due { render(snapshot, now) }
    }

    private func render(_ counts: [String: Int], _ now: Date) {
        let secs = max(now.timeIntervalSince(started), 0.001)
        let text = counts.keys.sorted().map { "\($0) \(counts[$0]!) (\(Int(Double(counts[$0]!) / secs))/s)" }.joined(separator: "  ")
        FileHandle.standardError.write(Data(("\r\u{1B}[2Kreading: " + text).utf8))
    }

    public func done() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

/// Reads a snapshot directory into a sink, two datasets at a time, the largest
/// files first (so the two big ones — a deployment's streams and event nodes —
/// run side by side, not one after the small ones).
public enum SnapshotSource {
    public static func read(_ snapshot: Snapshot, datasets: Set<String>, into sink: any RecordSink) throws {
        func size(_ name: String) -> Int {
            let path = snapshot.directory.appendingPathComponent(name + ".ndjson").path
            return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        }
        let sizes = Dictionary(uniqueKeysWithValues: datasets.map { ($0, size($0)) })
        let names = datasets.sorted { (sizes[$0]!, $1) > (sizes[$1]!, $0) }
        let missing = names.filter { !snapshot.datasets.contains($0) }
        if !missing.isEmpty {
            throw ConcordError(.invalidInput, "the snapshot in \(snapshot.directory.path) lacks dataset(s) the rules read: \(missing.joined(separator: ", "))")
        }
        let errors = Locked<[Error]>([])
        let next = Locked(0)
        @Sendable func take() -> Int? {
            next.withLock { n in
                guard n < names.count else { return nil }
                n += 1
                return n - 1
            }
        }
        DispatchQueue.concurrentPerform(iterations: min(2, max(names.count, 1))) { _ in
            while let i = take() {
                do {
                    let n = try snapshot.readLines(names[i]) { try sink.append(line: $0, to: names[i]) }
                    try sink.finished(names[i], records: n)
                } catch { errors.withLock { $0.append(error) } }
            }
        }
        if let e = errors.value.first { throw e }
    }
}

/// Passes on only the records of one partition: a record of a dataset split
/// by run (`lookup.run`) whose run falls in another partition is dropped;
/// records with no run, and datasets every partition reads whole, pass. The
/// count handed on for a dataset is of the records kept.
public final class PartitionFilter: RecordSink, @unchecked Sendable {
    final class Counter { var kept = 0 }
    let inner: any RecordSink
    let partition: Partition
    let runFields: [String: String]
    let counters: [String: Counter]

    public init(_ inner: any RecordSink, _ partition: Partition, _ specs: [DatasetSpec]) {
        self.inner = inner
        self.partition = partition
        var runs: [String: String] = [:], counters: [String: Counter] = [:]
        for s in specs {
            counters[s.name] = Counter()
            if let r = s.splitField { runs[s.name] = r }
        }
        runFields = runs
        self.counters = counters
    }

    public func append(_ record: JSON, to dataset: String) throws {
        if let path = runFields[dataset], let run = record.value(atPath: path)?.keyText, !partition.contains(run: run) { return }
        counters[dataset]?.kept += 1
        try inner.append(record, to: dataset)
    }

    public func append(_ record: TextRecord, to dataset: String) throws {
        // The run is most often one of the key's captures: decided without parsing.
        guard let path = runFields[dataset], !path.contains("."), path != record.field, path != "raw" else { return try append(record.record, to: dataset) }
        if let run = record.base[path]?.keyText, !partition.contains(run: run) { return }
        counters[dataset]?.kept += 1
        try inner.append(record, to: dataset)
    }

    public func finished(_ dataset: String, records: Int) throws {
        try inner.finished(dataset, records: counters[dataset]?.kept ?? records)
    }



    /// Records kept, per dataset (after every dataset has finished).
    public var kept: [String: Int] { counters.mapValues(\.kept) }
}
