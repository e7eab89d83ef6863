import ConcordFuzzChecks
import ConcordTestSupport
import Foundation
import Testing

/// `make test` replays every fuzz corpus (the seeds and every input the
/// fuzzer once broke a parser with): each must satisfy its target's properties.
@Suite struct CorpusReplayTests {
    static let corpus = TestStores.repositoryRoot.appendingPathComponent("Fuzz/corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusHolds(_ target: FuzzTarget) throws {
        let dir = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(!names.isEmpty, "no corpus for \(target.rawValue)")
        for name in names {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            do { try FuzzChecks.check(target, [UInt8](data)) } catch {
                Issue.record("\(target.rawValue)/\(name): \(error)")
            }
        }
    }
}
