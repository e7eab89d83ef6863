import ConcordCore
import ConcordJSON
import Foundation

/// The outcome of `concord apply --yes`.
public struct ApplyReport: Sendable {
    public init(plan: RepairPlan, results: [Applier.Result], operator: String, started: Date, finished: Date) {
        self.plan = plan
        self.results = results
        self.operator = `operator`
        self.started = started
        self.finished = finished
    }

    public let plan: RepairPlan
    public let results: [Applier.Result]
    public let `operator`: String
    public let started: Date
    public let finished: Date

    public func count(_ o: Applier.Outcome) -> Int { results.filter { $0.outcome == o }.count }

    public var summary: String {
        "\(plan.planId): \(count(.applied)) applied, \(count(.skipped)) skipped, \(count(.failed)) failed, \(count(.manual)) manual "
            + "in \(String(format: "%.2f", finished.timeIntervalSince(started))) s"
    }

    public var json: JSON {
        ["format": "concord.apply/1", "planId": .string(plan.planId), "sourceAuditId": .string(plan.sourceAuditId), "operator": .string(`operator`),
         "startedAt": .string(Timestamp.rfc3339(started)), "finishedAt": .string(Timestamp.rfc3339(finished)),
         "summary": ["applied": .int(Int64(count(.applied))), "skipped": .int(Int64(count(.skipped))), "failed": .int(Int64(count(.failed))),
                     "manual": .int(Int64(count(.manual)))],
         "operations": .array(results.map { r in
             ["id": .string(r.operation.id), "findingId": .string(r.operation.findingId), "rule": .string(r.operation.rule), "store": .string(r.operation.store.rawValue),
              "action": .string(r.operation.action), "key": .string(r.operation.key), "outcome": .string(r.outcome.rawValue),
              "reason": r.reason.map(JSON.string) ?? .null]
         })]
    }

    public var markdown: String {
        var s = "# Repair \(plan.planId)\n\n- From audit \(plan.sourceAuditId); applied by \(`operator`) at \(Timestamp.rfc3339(started))\n"
        s += "- \(count(.applied)) applied, \(count(.skipped)) skipped, \(count(.failed)) failed, \(count(.manual)) manual\n\n"
        s += "| outcome | store | action | key | rule | reason |\n| --- | --- | --- | --- | --- | --- |\n"
        for r in results.sorted(by: { ($0.outcome.rawValue, $0.operation.key) < ($1.outcome.rawValue, $1.operation.key) }) {
            let reason = (r.reason ?? (r.outcome == .manual ? r.operation.params["reason"]?.stringValue : nil) ?? "").replacingOccurrences(of: "|", with: "\\|")
            s += "| \(r.outcome.rawValue) | \(r.operation.store) | \(r.operation.action) | `\(r.operation.key)` | \(r.operation.rule) | \(reason) |\n"
        }
        return s
    }
}
