import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// A snapshot directory opened for reading, its checksums verified first.
public struct Snapshot: Sendable {
    public static let format = "concord.snapshot/1"
    /// The manifest's checksum, as `sha256sum` writes it.
    public static let manifestSumFile = "manifest.sha256"
    static func manifestSumLine(_ hex: String) -> String { hex + "  manifest.json\n" }

    public let directory: URL
    public let manifest: JSON

    /// The dataset names in the snapshot.
    public var datasets: [String] { (manifest["datasets"]?.objectValue ?? [:]).keys.sorted() }

    /// Record count of `dataset` as the manifest states it.
    public func recordCount(_ dataset: String) -> Int { Int(manifest["datasets"]?[dataset]?["records"]?.intValue ?? 0) }

    /// Opens `directory`, refusing it when the manifest is missing or of an
    /// unknown format, or when any file's sha256 differs from the manifest.
    public init(directory: URL) throws {
        self.directory = directory
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw ConcordError(.invalidInput, "\(directory.path) is not a snapshot: no manifest.json (an unfinished snapshot has none)")
        }
        // The manifest's own checksum (`sha256sum -c manifest.sha256`), in snapshots written since it was added.
        let sumURL = directory.appendingPathComponent(Snapshot.manifestSumFile)
        if let sum = FileManager.default.contents(atPath: sumURL.path) {
            let actual = SHA256.hex([UInt8](data))
            guard String(decoding: sum, as: UTF8.self) == Snapshot.manifestSumLine(actual) else {
                throw ConcordError(.invalidInput, "manifest.json in \(directory.path) fails its checksum (\(Snapshot.manifestSumFile) does not hold \(actual.prefix(12))…): the snapshot was changed or damaged; refusing it")
            }
        }
        let (m, entries) = try Snapshot.manifest([UInt8](data), path: manifestURL.path)
        // Two files at a time (the largest first): a million events' snapshot is ~10 GB of NDJSON.
        let sizes = entries.map { ((try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent($0.file).path))?[.size] as? Int) ?? 0 }
        let order = entries.indices.sorted { sizes[$0] > sizes[$1] }
        let next = Locked(0)
        let failures = Locked<[(Int, Error)]>([])
        DispatchQueue.concurrentPerform(iterations: min(2, max(entries.count, 1))) { _ in
            while let k = next.withLock({ n -> Int? in n < order.count ? { n += 1; return order[n - 1] }() : nil }) {
                let (file, expected) = entries[k]
                do {
                    let actual = try Snapshot.sha256(of: directory.appendingPathComponent(file))
                    guard actual == expected else {
                        throw ConcordError(.invalidInput, "\(file) in \(directory.path) fails its checksum (manifest \(expected.prefix(12))…, file \(actual.prefix(12))…): the snapshot was changed or damaged; refusing it")
                    }
                } catch { failures.withLock { $0.append((k, error)) } }
            }
        }
        // The first failing file in the manifest's order, whichever thread found it first.
        if let first = failures.value.min(by: { $0.0 < $1.0 }) { throw first.1 }
        manifest = m
    }

    /// Reads a manifest's bytes: the manifest, and each dataset's file (always
    /// `<dataset>.ndjson`, a plain name inside the directory) with its stated sha256.
    public static func manifest(_ bytes: [UInt8], path: String) throws -> (manifest: JSON, files: [(file: String, sha256: String)]) {
        let m: JSON
        do { m = try JSON.parse(bytes) } catch let e as ConcordError {
            throw e.wrapped(in: path, code: .invalidInput, context: ["file": path])
        }
        guard m["format"]?.stringValue == Snapshot.format else {
            throw ConcordError(.invalidInput, "\(path): unsupported format \(m["format"]?.description ?? "(none)"); expected \(Snapshot.format)")
        }
        guard let datasets = m["datasets"]?.objectValue else {
            throw ConcordError(.invalidInput, "\(path): no datasets")
        }
        var files: [(file: String, sha256: String)] = []
        for (name, entry) in datasets.sorted(by: { $0.key < $1.key }) {
            guard let file = entry["file"]?.stringValue, let expected = entry["sha256"]?.stringValue,
                Snapshot.isValidDatasetName(name), file == name + ".ndjson",
                expected.count == 64, expected.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
            else { throw ConcordError(.invalidInput, "\(path): bad entry for dataset '\(name)'") }
            files.append((file, expected))
        }
        return (m, files)
    }

    /// Streams the records of `dataset`, one JSON object per line; a line
    /// that is not JSON is an error naming the file and line.
    @discardableResult
    public func read(_ dataset: String, _ body: (JSON) throws -> Void) throws -> Int {
        try readLines(dataset) { try body(SnapshotLine.resolved(try JSON.parse($0), line: $0)) }
    }

    /// Streams the lines of `dataset` as bytes (valid during the call), read
    /// in large pieces without copying a line; an error about a line's
    /// content (`invalidInput`) is given the file and line.
    @discardableResult
    public func readLines(_ dataset: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        guard manifest["datasets"]?[dataset] != nil else {
            throw ConcordError(.invalidInput, "the snapshot has no dataset '\(dataset)' (it has: \(datasets.joined(separator: ", ")))")
        }
        let url = directory.appendingPathComponent(dataset + ".ndjson")
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var line = 0
        var count = 0
        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            line += 1
            guard !bytes.isEmpty else { return }
            do { try body(bytes) } catch let e as ConcordError where e.code == .invalidInput {
                throw e.wrapped(in: "\(url.lastPathComponent):\(line)", code: .invalidInput, context: ["file": url.path, "line": "\(line)"])
            }
            count += 1
        }
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            pending.append(contentsOf: chunk)
            let consumed: Int = try pending.withUnsafeBytes { buf in
                var start = 0
                while let nl = memchr(buf.baseAddress! + start, 0x0A, buf.count - start) {
                    let end = buf.baseAddress!.distance(to: UnsafeRawPointer(nl))
                    try emit(UnsafeRawBufferPointer(rebasing: buf[start..<end]))
                    start = end + 1
                }
                return start
            }
            pending.removeSubrange(0..<consumed)
        }
        if !pending.isEmpty { try pending.withUnsafeBytes { try emit($0) } }
        return count
    }

    static func sha256(of url: URL) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw ConcordError(.invalidInput, "snapshot file \(url.path) is missing")
        }
        defer { try? handle.close() }
        var h = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { h.update($0) }
        }
        return h.hexDigest()
    }

    public static func isValidDatasetName(_ s: String) -> Bool {
        !s.isEmpty && !s.hasPrefix(".") && s.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-"
        }
    }
}
