import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

/// A finding as the planner reads it from the audit report.
public struct FindingInput: Sendable {
    public var json: JSON
    public var rule: String
    public var key: String
    /// The run the finding is about (its own, or another finding's of the same record).
    public var run: String?
    public var evidence: JSON { json["evidence"] ?? .null }
    public var id: String { json["id"]?.stringValue ?? "" }
}

/// What an action plans with: the stores (read only while planning), the
/// rules, the plan's clock, and the repair block the rule declared.
public struct PlanContext {
    public let stores: RepairStores
    public let rules: RuleSet
    public let now: Int64
    /// The rule's `repair:` block, as written.
    public let repair: JSON
    /// Whether deleting on GitHub may be planned (`concord plan --delete-on-github`); otherwise it is a manual step.
    public var deleteOnGitHub = false

    /// An operation for `finding`, with its precondition and before/after images.
    func op(_ f: FindingInput, _ kind: any OperationKind, _ key: String, params: JSON, pre: JSON, before: JSON, after: JSON) -> RepairOperation {
        RepairOperation(findingId: f.id, rule: f.rule, store: kind.store, action: kind.name, key: key, params: params,
                        precondition: pre, before: before, after: after)
    }

    /// A step for a person, carrying the finding's evidence.
    func manual(_ f: FindingInput, _ reason: String) -> RepairOperation {
        RepairOperation(findingId: f.id, rule: f.rule, store: .manual, action: "manual", key: f.key,
                        params: ["reason": .string(reason), "message": f.json["message"] ?? .null, "evidence": f.evidence,
                                 "workflowId": f.run.map(JSON.string) ?? .null],
                        precondition: .null, before: .null, after: .null)
    }
}

/// One repair action a rule file can name (`repair.action`): how a finding
/// becomes operations. Which store wins is the action's to decide from the
/// data model (or, for the generic actions, the rule's `winner`/`dataset`).
public protocol RepairAction: Sendable {
    /// The name in the rule file; one of `RepairVocabulary.actions`.
    var name: String { get }
    /// The operations for one finding, preconditions read from the current records.
    func plan(_ finding: FindingInput, _ context: PlanContext) throws -> [RepairOperation]
}

/// Where an operation writes; the applier runs the graph first, then Redis,
/// then PostgreSQL (a confirmation never runs ahead of the graph write it
/// confirms), then GitHub (whose writes cannot be rolled back: last), and
/// lists the manual steps last.
public enum RepairStore: String, Sendable, CaseIterable {
    case graph, redis, postgres, github, manual
}

/// What the applier hands an operation kind: the stores and the clock.
public struct ApplyContext {
    public let stores: RepairStores
    public let planId: String
}

/// One kind of operation in a plan (`operation.action`): its store, its
/// order within the store, how a batch of them is applied with each
/// precondition checked in the writing transaction, and how an applied one
/// is undone from its before-image.
public protocol OperationKind: Sendable {
    var name: String { get }
    var store: RepairStore { get }
    /// Order within the store (lower first).
    var order: Int { get }
    /// Applies `ops` (all of this kind); one result per operation.
    func apply(_ ops: [RepairOperation], _ context: ApplyContext) throws -> [Applier.Result]
    /// The operation that restores the before-image of an applied `op`, or nil when it cannot be undone
    /// (or when the images of `imaged` undo it entirely).
    func inverse(of op: RepairOperation) -> RepairOperation?
    /// The records `op` writes whose whole images the applier reads before
    /// and after it and journals: the undo puts the before-images back.
    func imaged(_ op: RepairOperation) -> [RecordAddress]
    /// `imaged` for a batch, where a kind can narrow it down with what the stores hold now.
    func imaged(_ ops: [RepairOperation], _ stores: RepairStores) throws -> [[RecordAddress]]
    /// Whether the after-images keep a node's edges (false: properties only, enough for an undo that removes what the write created).
    var edgesAfter: Bool { get }
    /// Whether the applier journals the element edits this kind's writes make to Redis lists (see ListEdits):
    /// the undo puts each element back where it was, instead of running `inverse(of:)`.
    var recordsListEdits: Bool { get }
}

extension OperationKind {
    public var order: Int { 50 }
    public func inverse(of op: RepairOperation) -> RepairOperation? { nil }
    func imaged(_ op: RepairOperation) -> [RecordAddress] { [] }
    func imaged(_ ops: [RepairOperation], _ stores: RepairStores) throws -> [[RecordAddress]] { ops.map { imaged($0) } }
    var edgesAfter: Bool { true }
    var recordsListEdits: Bool { false }
}

/// An operation kind applied one operation at a time; a store that is down
/// stops the run (the journal says where), any other error fails only that operation.
protocol SingleOperationKind: OperationKind {
    func applyOne(_ op: RepairOperation, _ context: ApplyContext) throws -> Applier.Result
}

extension SingleOperationKind {
    public func apply(_ ops: [RepairOperation], _ context: ApplyContext) throws -> [Applier.Result] {
        try ops.map { op in
            do {
                return try applyOne(op, context)
            } catch let e as ConcordError where e.code.exitCode == 3 && !e.isDataError {
                throw e
            } catch {
                return Applier.Result(operation: op, outcome: .failed, reason: "\(error)")
            }
        }
    }
}

extension ConcordError {
    /// A store refused this operation's data (a PostgreSQL integrity or data exception: SQLSTATE class 23 or 22),
    /// which fails the operation, not the run.
    var isDataError: Bool { store == "postgres" && (serverCode?.hasPrefix("23") == true || serverCode?.hasPrefix("22") == true) }
}

extension Applier.Result {
    static func applied(_ op: RepairOperation, _ why: String? = nil) -> Applier.Result { .init(operation: op, outcome: .applied, reason: why) }
    static func skipped(_ op: RepairOperation, _ why: String) -> Applier.Result { .init(operation: op, outcome: .skipped, reason: why) }
    static func failed(_ op: RepairOperation, _ why: String) -> Applier.Result { .init(operation: op, outcome: .failed, reason: why) }
}

/// Every action and operation kind, found by name.
public enum RepairRegistry {
    public static let actions: [String: any RepairAction] = {
        let all: [any RepairAction] = [
            ManualAction(), ReplayEventAction(), ReplayEventOrUnconfirmAction(), ConfirmEventAction(), MergeNodesAction(), RelinkParentAction(),
            RewriteNodeFromStreamAction(), DedupeQueueAction(), RequeueAction(), DeadLetterAction(), CreateRunAction(), SetRedisStateAction(),
            SetRunPublishedAction(), SetRunContentStatusAction(), SetRedisContentStatusAction(), SetFieldAction(), DeleteRecordAction(),
            AdoptPublicationAction(), RepublishAction(), DeleteGitHubCommentAction(), UpdateGitHubContentAction(),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()

    public static let operations: [String: any OperationKind] = {
        let all: [any OperationKind] = [
            ManualOperation(), CreateRunOperation(), ReplayEventOperation(), MergeNodesOperation(), RelinkParentOperation(), RewriteNodeOperation(),
            SetRunContentOperation(), ConfirmEventOperation(), RemoveConfirmationOperation(), SetRedisStateOperation(), SetRedisContentOperation(),
            DedupeQueueOperation(), RequeueOperation(), DeadLetterOperation(), SetFieldOperation(), DeleteRecordOperation(), RestoreRecordOperation(), ReturnLetterOperation(),
            PutRecordOperation(), MoveEntryOperation(), PruneConfirmationOperation(), RestoreListOperation(),
            AdoptPublicationOperation(), UnadoptPublicationOperation(), RepublishOperation(), DeleteGitHubCommentOperation(), UpdateGitHubContentOperation(),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()

    /// Why `op`, once applied, could not be undone — said in the dry run, before the apply — or nil when
    /// `concord undo` can put back what it changes (a manual step changes nothing).
    public static func notUndoable(_ op: RepairOperation) -> String? {
        if op.store == .manual { return nil }
        guard let kind = operations[op.action] else { return "unknown operation \(op.action) (a plan from a newer concord?)" }
        if kind.recordsListEdits || !kind.imaged(op).isEmpty || kind.inverse(of: op) != nil { return nil }
        return "\(op.action) \(op.key) keeps nothing its undo could write back (what it saw before: \(RepairPlanText.brief(op.before)))"
    }

    /// The order the applier runs an operation in: store first, then the kind's order.
    public static func phase(_ op: RepairOperation) -> Int {
        let store = op.store
        let index = RepairStore.allCases.firstIndex(of: store)!
        return index * 100 + (operations[op.action]?.order ?? 99)
    }
}

/// `manual`: a step for a person, with the rule's reason.
struct ManualAction: RepairAction {
    let name = "manual"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        [c.manual(f, c.repair["reason"]?.stringValue ?? "no automatic repair is declared for this rule")]
    }
}

struct ManualOperation: OperationKind {
    let name = "manual"
    let store = RepairStore.manual
    func apply(_ ops: [RepairOperation], _ context: ApplyContext) throws -> [Applier.Result] {
        ops.map { Applier.Result(operation: $0, outcome: .manual, reason: $0.params["reason"]?.stringValue) }
    }
}
