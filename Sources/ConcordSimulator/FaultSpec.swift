import ConcordFlow
import ConcordCore

/// The fault kinds the simulator injects, one per rule of the catalog, and
/// how many of each (`--faults "missing-node=3,cycle=1"`, `all=2`, or a rate
/// of the runs, `payload-mismatch=5%`).
public struct FaultSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case missingNode = "missing-node"
        case duplicateNode = "duplicate-node"
        case duplicateInQueue = "duplicate-in-queue"
        case wrongParent = "wrong-parent"
        case crossWorkflowEdge = "cross-workflow-edge"
        case outOfOrder = "out-of-order"
        case streamOrderInversion = "stream-order-inversion"
        case cycle
        case stuckInQueue = "stuck-in-queue"
        case malformedEntry = "malformed-entry"
        case confirmedNotPersisted = "confirmed-not-persisted"
        case persistedNotConfirmed = "persisted-not-confirmed"
        case payloadMismatch = "payload-mismatch"
        case publishedNotSynced = "published-not-synced"
        case graphPublishedWithoutDraft = "graph-published-without-draft"
        case redisStatusMismatch = "redis-status-mismatch"
        case historyGap = "history-gap"
        case draftMissingRun = "draft-missing-run"
        case missingRun = "missing-run"
        case runStateMismatch = "run-state-mismatch"
    }

    public enum Amount: Sendable, Equatable {
        case count(Int)
        case percent(Double)

        public func resolve(runs: Int) -> Int {
            switch self {
            case .count(let n): return n
            case .percent(let p): return Int((Double(runs) * p / 100).rounded(.up))
            }
        }
    }

    public var amounts: [(Kind, Amount)]

    public static func == (a: FaultSpec, b: FaultSpec) -> Bool {
        a.amounts.map(\.0) == b.amounts.map(\.0) && a.amounts.map(\.1) == b.amounts.map(\.1)
    }

    public init(amounts: [(Kind, Amount)]) { self.amounts = amounts }

    /// Parses `kind=N[,kind=P%]…`; `all` stands for every kind.
    public init(parsing text: String) throws {
        var out: [(Kind, Amount)] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw Self.bad("'\(part)' is not kind=amount") }
            let amount: Amount
            if kv[1].hasSuffix("%"), let p = Double(kv[1].dropLast()), p >= 0, p <= 100 {
                amount = .percent(p)
            } else if let n = Int(kv[1]), n >= 0 {
                amount = .count(n)
            } else {
                throw Self.bad("'\(kv[1])' is not a count or a percentage")
            }
            if kv[0] == "all" {
                out += Kind.allCases.map { ($0, amount) }
            } else if let kind = Kind(rawValue: kv[0]) {
                out.removeAll { $0.0 == kind }
                out.append((kind, amount))
            } else {
                throw Self.bad("unknown fault kind '\(kv[0])'")
            }
        }
        amounts = out
    }

    static func bad(_ message: String) -> ConcordError {
        ConcordError(.usage, "bad --faults: \(message). Kinds: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), or all")
    }
}
