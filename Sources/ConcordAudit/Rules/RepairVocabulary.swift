/// The repair actions a rule file may name in `repair.action`, and the keys
/// each takes. This is part of the rule language (like the check kinds):
/// `rules check` refuses an action or a key that is not here, at its
/// position. `ConcordRepair` holds one implementation per name and checks at
/// start-up that it implements exactly this vocabulary.
public enum RepairVocabulary {
    public struct Action: Sendable {
        public var name: String
        /// Keys besides `action` the repair block may hold.
        public var keys: Set<String>
        /// Keys it must hold.
        public var required: Set<String>
        /// One line for `Rules/README.md` and error messages.
        public var summary: String
    }

    /// Keys every action may carry: documentation of which store wins and where the truth comes from.
    static let descriptive: Set<String> = ["winner", "from", "to"]

    public static let actions: [String: Action] = {
        let list: [Action] = [
            Action(name: "manual", keys: ["reason"], required: [], summary: "no automatic repair: the plan carries the finding's evidence for a person"),
            Action(name: "replay-event", keys: [], required: [], summary: "write the event from its run's stream into the graph (and confirm it)"),
            Action(name: "replay-event-or-unconfirm", keys: ["otherwise"], required: [],
                   summary: "replay from the stream; if no stream holds the event, remove its confirmation (the graph wins)"),
            Action(name: "confirm-event", keys: ["score"], required: [], summary: "add the event to persistence:confirmed at its persisted_at"),
            Action(name: "merge-nodes", keys: ["keep"], required: [], summary: "merge duplicate :Node copies into the oldest, moving edges"),
            Action(name: "dedupe-queue", keys: [], required: [], summary: "remove surplus copies of an entry from persistence:queue"),
            Action(name: "relink-parent", keys: [], required: [], summary: "make the event's PARENT_OF edge the one its stream entry names"),
            Action(name: "rewrite-node-from-stream", keys: [], required: [], summary: "rewrite the :Node's fields from the stream's event"),
            Action(name: "requeue", keys: ["list", "into"], required: [],
                   summary: "move a stuck entry from a processing list back to its queue (default persistence:processing → persistence:queue)"),
            Action(name: "dead-letter", keys: ["into"], required: [],
                   summary: "move a malformed list element or stream entry to the dead-letter list (default persistence:deadletter)"),
            Action(name: "create-run", keys: [], required: [], summary: "create the missing :WorkflowRun from its events and status"),
            Action(name: "set-redis-state", keys: [], required: [], summary: "set the run's Redis status `state` to the graph's"),
            Action(name: "set-run-published", keys: [], required: [], summary: "mark the graph run published from PostgreSQL's published draft"),
            Action(name: "set-run-content-status", keys: [], required: [], summary: "set the graph run's contentStatus from PostgreSQL's drafts"),
            Action(name: "set-redis-content-status", keys: [], required: [], summary: "set the run's Redis contentStatus/draftId from its newest draft"),
            Action(name: "set-field", keys: ["dataset", "fields"], required: ["dataset", "fields"],
                   summary: "for a compare rule: write the winning side's values into the named fields of the other side's record"),
            Action(name: "adopt-publication", keys: [], required: [],
                   summary: "record a publication GitHub holds (by the draft's marker) that PostgreSQL does not: the publication and the draft published"),
            Action(name: "republish", keys: [], required: [],
                   summary: "make a publication GitHub no longer holds pending again: the publisher looks for its marker, then publishes it"),
            Action(name: "delete-github-comment", keys: ["keep"], required: [],
                   summary: "delete the copies of a draft's comment on GitHub but the oldest (a manual step unless planned with --delete-on-github)"),
            Action(name: "update-github-content", keys: [], required: [],
                   summary: "rewrite the body on GitHub from the published draft's content (the marker kept)"),
            Action(name: "delete-record", keys: ["dataset", "fields"], required: ["dataset"],
                   summary: "remove the finding's record (Redis key, set or sorted-set member, graph node or relationship, PostgreSQL row), or with `fields` only those fields (a hash field, a property, a column), keeping the before-image"),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }()

    public static var names: [String] { actions.keys.sorted() }
}
