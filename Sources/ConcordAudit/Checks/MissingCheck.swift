import ConcordJSON

/// `missing`: a record of `from` whose key is in none of `absentFrom` (and in every `presentIn`).
/// `reference` is the same check written from the referring side: `from` names the referring `field`,
/// `to` the records it must find; the finding is keyed by the referring record.
struct MissingCheck: CheckKind {
    static let names = ["missing", "reference"]
    var from: [Selection]
    var absentFrom: [Selection]
    var presentIn: [Selection]

    static func compile(_ s: CheckSource) -> MissingCheck? {
        if s.kind == "reference" {
            s.allow(["from", "to"])
            var from = s.selections("from", roles: ["field"], requiredRoles: ["field"])
            for i in from.indices {
                from[i].report = from[i].report ?? from[i].key
                if let f = from[i].roles["field"] { from[i].key = f }
            }
            return MissingCheck(from: from, absentFrom: s.selections("to"), presentIn: [])
        }
        s.allow(["from", "absentFrom", "presentIn"])
        let present = s["presentIn"] == nil ? [] : s.selections("presentIn")
        return MissingCheck(from: s.selections("from"), absentFrom: s.selections("absentFrom"), presentIn: present)
    }

    var selections: [Selection] { from + absentFrom + presentIn }
    var lookupSelectionCount: Int { absentFrom.count + presentIn.count }
    var recheckSubjects: [RecheckLimit.Subject] { from.map { .keyed($0, reported: true) } + presentIn.map { .keyed($0, reported: false) } }

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        let fromC = consumers[0..<from.count]
        let absent = consumers[from.count..<(from.count + absentFrom.count)]
        let present = consumers[(from.count + absentFrom.count)...]
        var out: [Finding] = []
        for c in fromC {
            for i in 0..<c.count {
                let k = c.key(i)
                guard !k.isNull, !absent.contains(where: { $0.keys.contains(k) }), present.allSatisfy({ $0.keys.contains(k) }) else { continue }
                let key = run.table.text(k)!
                let reported = run.table.text(c.report(i)) ?? key
                var extra: [String: JSON] = ["dataset": .string(c.selection.dataset),
                                             "absentFrom": .array(absent.map { .string($0.selection.dataset) })]
                if reported != key { extra["lookedUp"] = .string(key) }
                out.append(Finding(rule: run.rule, key: reported, workflowId: run.table.text(c.workflowId(i)), evidence: run.evidence(c, i, extra)))
            }
        }
        return out
    }
}
