import ConcordFlow
import ConcordJSON
import ConcordModel

/// A deterministic workload: runs, their events (chains with some branching),
/// and drafts with their review outcome. Everything follows from the seed and
/// the base time.
public struct Workload: Sendable {
    public struct Run: Sendable {
        public var id: String
        public var userId: String
        public var startedAt: Int64
        public var events: [Event]  // in production order; events[0] is workflowStarted
        public var drafts: [DraftPlan]
    }

    public struct DraftPlan: Sendable {
        public enum Outcome: Sendable { case published, discarded, pending }
        public var draft: Draft
        public var revisions: [String]
        public var outcome: Outcome
    }

    public var runs: [Run]

    static let middleTypes = ["llmResponse", "toolCall", "toolCallResult", "reasoning", "message", "status", "workflowState"]
    static let words = ["graph", "draft", "review", "naïve", "café", "Straße", "日本語", "данные", "😀", "🚀", "ok", "merge",
                        "queue", "événement", "pull request", "comment", "\"quoted\"", "back\\slash", "tab\there", "line\nbreak"]

    /// Builds `runs` runs of `eventsPerRun` events each, starting at `baseTime`
    /// ms, one event every `spacing` ms within a run.
    public static func generate(seed: UInt64, runs count: Int, eventsPerRun: Int, baseTime: Int64, spacing: Int64 = 40) -> Workload {
        var rng = SeededRandom(seed: seed)
        var runs: [Run] = []
        runs.reserveCapacity(count)
        for r in 0..<count {
            let runId = "wr_\(seed)_\(r)"
            let user = "u_\(Int.random(in: 1...50, using: &rng))"
            let start = baseTime + Int64(r) * 7 + Int64.random(in: 0..<1000, using: &rng)
            var events: [Event] = []
            let n = max(2, eventsPerRun)
            for i in 0..<n {
                let id = "ev_\(seed)_\(r)_\(i)"
                let ts = start + Int64(i) * spacing + Int64.random(in: 0..<spacing / 2, using: &rng)
                let type: String
                if i == 0 { type = "workflowStarted" } else if i == n - 1 {
                    let end = Int.random(in: 0..<10, using: &rng)
                    type = end < 7 ? "workflowCompleted" : end < 9 ? "error" : "workflowCancelled"
                } else {
                    type = middleTypes.randomElement(using: &rng)!
                }
                // Mostly a chain; one event in eight branches off an earlier one (a tree).
                let parent: String
                if i == 0 { parent = runId } else if i > 2 && Int.random(in: 0..<8, using: &rng) == 0 {
                    parent = events[Int.random(in: 1..<(i - 1), using: &rng)].id
                } else { parent = events[i - 1].id }
                events.append(Event(id: id, timestamp: ts, type: type, parentId: parent,
                                    payload: payload(type: type, index: i, rng: &rng),
                                    metadata: EventMetadata(workflowId: runId, userId: user)))
            }
            var drafts: [DraftPlan] = []
            if Int.random(in: 0..<10, using: &rng) < 6 {
                let kinds: [Draft.ContentType] = [.comment, .pullRequest]
                let kind = kinds.randomElement(using: &rng)!
                var metadata: [String: JSON] = ["githubIssueId": .int(Int64.random(in: 1...5000, using: &rng)), "githubRepo": "acme/widgets",
                                                "userId": .string(user), "timestamp": .int(start)]
                // A pull request is opened from a branch the workflow pushed (docs/data-model.md).
                if kind == .pullRequest { metadata["headBranch"] = .string("concord/dr_\(seed)_\(r)") }
                let d = Draft(
                    id: "dr_\(seed)_\(r)", workflowRunId: runId, contentType: kind,
                    content: text(words: Int.random(in: 20...200, using: &rng), rng: &rng), status: .draft,
                    metadata: .object(metadata))
                let revisions = (0..<Int.random(in: 0...2, using: &rng)).map { _ in text(words: 40, rng: &rng) }
                let roll = Int.random(in: 0..<4, using: &rng)
                drafts.append(DraftPlan(draft: d, revisions: revisions, outcome: roll < 2 ? .published : roll == 2 ? .discarded : .pending))
            }
            runs.append(Run(id: runId, userId: user, startedAt: start, events: events, drafts: drafts))
        }
        return Workload(runs: runs)
    }

    static func text<R: RandomNumberGenerator>(words n: Int, rng: inout R) -> String {
        (0..<n).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
    }

    /// A payload of 100 B to 20 KB (most small, some large), with unicode.
    static func payload<R: RandomNumberGenerator>(type: String, index: Int, rng: inout R) -> JSON {
        let size = Int.random(in: 0..<20, using: &rng) == 0 ? Int.random(in: 2_000...20_000, using: &rng) : Int.random(in: 100...800, using: &rng)
        let body = text(words: max(4, size / 7), rng: &rng)
        switch type {
        case "toolCall": return ["tool": "search", "args": ["query": .string(body), "limit": .int(Int64(index % 20))]]
        case "toolCallResult": return ["tool": "search", "ok": .bool(index % 5 != 0), "result": .string(body)]
        case "workflowState": return ["state": "running", "note": .string(body)]
        case "llmResponse": return ["model": "gpt", "tokens": .int(Int64(size / 4)), "text": .string(body), "score": .double(Double(index) / 7)]
        default: return ["text": .string(body)]
        }
    }
}
