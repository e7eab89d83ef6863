import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// Writes a snapshot directory (INTERFACE.md "The snapshot directory"):
/// one NDJSON file per dataset (one JSON object per line, canonical form —
/// but for a Redis element's stored text, written verbatim where it fits on
/// one line: see `SnapshotLine`) and
/// a `manifest.json` with format `concord.snapshot/1`, when each store was read,
/// its watermark, record counts and a sha256 per file.
///
/// Records are streamed to disk as they come; nothing is held in memory but a
/// write buffer per dataset. The manifest is written last, so a directory
/// without one is an unfinished snapshot.
/// Different datasets may be written from different threads at once; one
/// dataset from one thread at a time.
public final class SnapshotWriter: @unchecked Sendable {
    public let directory: URL
    private var files: [String: DatasetFile] = [:]
    private var stores: [String: JSON] = [:]
    private let lock = NSLock()

    final class DatasetFile {
        let handle: FileHandle
        var hash = SHA256()
        var buffer: [UInt8] = []
        /// The parsed value of a Redis element, encoded (reused per record).
        var scratch: [UInt8] = []
        var tape = JSONTape()
        var records = 0
        init(handle: FileHandle) { self.handle = handle }

        func flush() throws {
            guard !buffer.isEmpty else { return }
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Per dataset, the field a Redis element is parsed into: a record's
    /// `raw` (the stored text) is left out of the file when it is exactly
    /// the canonical encoding of that field, since reading it back gives the
    /// same bytes (`coalesce(raw, canonical(event))`); text written any other
    /// way (spaces, key order, escapes, not JSON) is kept byte for byte.
    private let parsedField: [String: String]

    /// Creates `directory` (it must not hold a snapshot already). `datasets`
    /// are the specs of what will be written (for the `raw` compaction).
    public init(directory: URL, datasets: [DatasetSpec] = []) throws {
        self.directory = directory
        var parsed: [String: String] = [:]
        for d in datasets {
            switch d.source {
            case .redisStream(_, _, let name), .redisList(_, let name): parsed[d.name] = name
            default: break
            }
        }
        parsedField = parsed
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent("manifest.json").path) {
            throw ConcordError(.usage, "\(directory.path) already holds a snapshot; choose an empty directory")
        }
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Appends one record to `dataset` (a name such as `graph.nodes`).
    public func append(_ record: JSON, to dataset: String) throws {
        guard Snapshot.isValidDatasetName(dataset) else {
            throw ConcordError(.usage, "bad dataset name '\(dataset)': use letters, digits, '.', '_' and '-'")
        }
        let file = try self.file(dataset)
        if let name = parsedField[dataset], case .string(let raw)? = record["raw"], let parsed = record[name], !parsed.isNull {
            // The parsed value is encoded once: compared with the stored text, then written as part of the record.
            file.scratch.removeAll(keepingCapacity: true)
            parsed.encode(into: &file.scratch)
            var same = raw.utf8.count == file.scratch.count
            if same {
                var text = raw
                same = text.withUTF8 { t in file.scratch.withUnsafeBytes { t.isEmpty || memcmp($0.baseAddress!, t.baseAddress!, t.count) == 0 } }
            }
            record.encode(into: &file.buffer, encoded: file.scratch, forKey: name, omitting: same ? "raw" : nil)
        } else {
            record.encode(into: &file.buffer)
        }
        try endLine(file)
    }

    /// A Redis element as its text: canonicalized on the tape, no values built
    /// (the same line as `append(record.record, …)` writes).
    public func append(_ record: TextRecord, to dataset: String) throws {
        guard let text = record.text, parsedField[dataset] == record.field, Snapshot.isValidDatasetName(dataset) else {
            return try append(record.record, to: dataset)
        }
        let file = try self.file(dataset)
        guard text.withUnsafeBytes({ file.tape.scan($0) }) else { return try append(record.record, to: dataset) }  // not JSON
        if SnapshotLine.fitsOnOneLine(text) {
            // Written once, as stored: read back as the record's `raw`, byte for byte (SnapshotLine).
            SnapshotLine.write(base: record.base, field: record.field, text: text, into: &file.buffer)
            return try endLine(file)
        }
        file.scratch.removeAll(keepingCapacity: true)
        file.tape.canonical(at: 0, into: &file.scratch)
        var o = record.base
        o[record.field] = .null  // written as the canonical bytes
        if file.scratch != text { o["raw"] = .string(String(decoding: text, as: UTF8.self)) }
        JSON.object(o).encode(into: &file.buffer, encoded: file.scratch, forKey: record.field)
        try endLine(file)
    }

    private func endLine(_ file: DatasetFile) throws {
        file.buffer.append(0x0A)
        file.records += 1
        if file.buffer.count >= 1 << 20 {
            file.buffer.withUnsafeBytes { file.hash.update($0) }
            try file.flush()
        }
    }

    /// Records when a store was read and its watermark.
    public func setStore(_ store: String, readAt: Date, watermark: JSON, extra: [String: JSON] = [:]) {
        lock.lock(); defer { lock.unlock() }
        var entry: [String: JSON] = ["readAt": .string(Timestamp.rfc3339(readAt)), "watermark": watermark]
        for (k, v) in extra { entry[k] = v }
        stores[store] = .object(entry)
    }

    /// Makes sure `dataset` has a file, even with no records.
    public func touch(_ dataset: String) throws { _ = try file(dataset) }

    private func file(_ dataset: String) throws -> DatasetFile {
        lock.lock(); defer { lock.unlock() }
        if let f = files[dataset] { return f }
        let url = directory.appendingPathComponent(dataset + ".ndjson")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ConcordError(.usage, "cannot create \(url.path)")
        }
        let f = DatasetFile(handle: try FileHandle(forWritingTo: url))
        files[dataset] = f
        return f
    }

    /// Flushes every dataset and writes the manifest. Returns the manifest.
    @discardableResult
    public func finish(createdAt: Date = Date(), extra: [String: JSON] = [:]) throws -> JSON {
        lock.lock(); defer { lock.unlock() }
        var datasets: [String: JSON] = [:]
        for (name, f) in files {
            f.buffer.withUnsafeBytes { f.hash.update($0) }
            try f.flush()
            try f.handle.close()
            datasets[name] = ["file": .string(name + ".ndjson"), "records": .int(Int64(f.records)), "sha256": .string(f.hash.hexDigest())]
        }
        var manifest: [String: JSON] = [
            "format": .string(Snapshot.format), "createdAt": .string(Timestamp.rfc3339(createdAt)),
            "stores": .object(stores), "datasets": .object(datasets),
        ]
        for (k, v) in extra { manifest[k] = v }
        let json = JSON.object(manifest)
        let bytes = Array((json.encoded() + "\n").utf8)
        try Data(bytes).write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
        try Data(Snapshot.manifestSumLine(SHA256.hex(bytes)).utf8).write(to: directory.appendingPathComponent(Snapshot.manifestSumFile), options: .atomic)
        return json
    }
}
