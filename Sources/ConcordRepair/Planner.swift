import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// Turns an audit's findings into repair operations, through the action
/// each rule declares (`RepairRegistry.actions`), which follows the data
/// model's "which store wins": PostgreSQL for drafts; the run's Redis stream
/// for events it still holds; the graph for events the stream has trimmed;
/// for the generic actions, the rule's own `dataset`/`winner`. What cannot
/// be decided that way becomes a manual step carrying the evidence. The
/// current state of every record is read to write its precondition.
public struct Planner {
    let stores: RepairStores
    let rules: RuleSet
    let now: Int64
    /// Deleting duplicates on GitHub is planned (it cannot be undone); otherwise each is a manual step.
    public var deleteOnGitHub = false

    public init(stores: RepairStores, rules: RuleSet, now: Int64 = nowMilliseconds()) {
        self.stores = stores
        self.rules = rules
        self.now = now
    }

    /// Plans every finding of `report` (a parsed `concord.audit/1` JSON) whose rule passes the filters.
    public func plan(report: JSON, file: String, only: [String] = [], exclude: [String] = []) throws -> RepairPlan {
        let findings = try AuditReport.findings(fromReport: report, file: file)
        // A finding that cannot know its run (a confirmation is only an id) takes it from another finding of the same record.
        var runOf: [String: String] = [:]
        for f in findings {
            if let key = f["key"]?.stringValue, let run = f["workflowId"]?.stringValue { runOf[key] = runOf[key] ?? run }
        }
        var ops: [RepairOperation] = []
        var seen: Set<String> = []
        for f in findings {
            guard let rule = f["rule"]?.stringValue, let key = f["key"]?.stringValue else { continue }
            if !only.isEmpty && !only.contains(rule) { continue }
            if exclude.contains(rule) { continue }
            let input = FindingInput(json: f, rule: rule, key: key, run: f["workflowId"]?.stringValue ?? runOf[key])
            for op in try operations(for: input) where !seen.contains(op.id) {
                seen.insert(op.id)
                ops.append(op)
            }
        }
        ops.sort { (RepairRegistry.phase($0), $0.action, $0.key) < (RepairRegistry.phase($1), $1.action, $1.key) }
        let created = Date()
        return RepairPlan(planId: "plan-" + String(SHA256.hex("\(created.timeIntervalSince1970)\(UInt64.random(in: 0...UInt64.max))").prefix(16)),
                          sourceAuditId: report["auditId"]?.stringValue ?? "", createdAt: created, rulesDigest: rules.digest, operations: ops)
    }

    func operations(for f: FindingInput) throws -> [RepairOperation] {
        let repair = rules.rules.first { $0.id == f.rule }?.repair ?? .null
        var context = PlanContext(stores: stores, rules: rules, now: now, repair: repair)
        context.deleteOnGitHub = deleteOnGitHub
        guard let name = repair["action"]?.stringValue else {
            return [context.manual(f, "rule \(f.rule) is not in the rules this plan is made with; no repair is known for it")]
        }
        guard let action = RepairRegistry.actions[name] else {
            // `rules check` refuses unknown actions, so this is a rule set from a newer concord.
            throw ConcordError(.usage, "rule \(f.rule) names repair action '\(name)', which this concord does not know (known: \(RepairRegistry.actions.keys.sorted().joined(separator: ", ")))")
        }
        return try action.plan(f, context)
    }
}
