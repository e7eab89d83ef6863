import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

/// An archive of finished runs: their event streams, status hashes and confirmations (the datasets of those
/// roles) written to a checksummed snapshot directory, before `maintain archive` trims them from Redis.
/// `maintain restore-run` reads one back like any snapshot.
public enum RunArchive {
    /// Writes `runs` (and the confirmations of `ids`, their events) to `directory`, as `rules` name the datasets.
    public static func write(runs: [String], ids: Set<String>, rules: RuleSet, reader: LiveReader, to directory: URL, olderThan: String) throws {
        let specs = try [DatasetRole.eventStreams, .runStatus, .confirmed].map { try rules.datasets.require($0, by: "maintain archive") }
        let writer = try SnapshotWriter(directory: directory, datasets: specs)
        try reader.lookup(specs, runs: Set(runs), ids: ids, into: writer)
        for s in specs { try writer.touch(s.name) }
        try writer.finish(extra: ["archive": ["runs": .array(runs.map(JSON.string)), "olderThan": .string(olderThan)]])
    }
}
