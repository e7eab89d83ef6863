import ConcordCore
import ConcordJSON
import Foundation

/// Runs rule cases (`concord rules test`): each case's records through the
/// engine with its rules, the findings compared with what it expects.
public enum RuleCaseRunner {
    public struct Outcome: Sendable {
        public var file: String
        public var description: String
        public var rules: [String]
        /// Expected and not found, found and not expected (`rule key`).
        public var missing: [String]
        public var unexpected: [String]
        /// Every finding, for `--update` and the messages of the unexpected ones.
        public var findings: [Finding]
        public var seconds: Double
        /// The case has no `expect:` (an `--update` writes it).
        public var noExpectation: Bool
        public var passed: Bool { missing.isEmpty && unexpected.isEmpty && !noExpectation }
    }

    /// Evaluates `c` with `rules` (narrowed to the case's own when it names them).
    public static func run(_ c: RuleCase, rules: RuleSet) throws -> Outcome {
        let t0 = Date()
        let set = c.rules.isEmpty ? rules : try rules.selecting(c.rules)
        let engine = AuditEngine(rules: set, context: EvalContext(now: c.now, grace: c.graceMs))
        for name in engine.datasets.sorted() {
            let records = c.records[name] ?? []
            for r in records { try engine.append(r, to: name) }
            try engine.finished(name, records: records.count)
        }
        let findings = engine.evaluate().findings
        let found = Set(findings.map { "\($0.rule) \($0.key)" })
        let expect = c.expect ?? []
        return Outcome(file: c.file, description: c.description, rules: set.rules.map(\.id), missing: expect.subtracting(found).sorted(),
                       unexpected: found.subtracting(expect).sorted(), findings: findings, seconds: Date().timeIntervalSince(t0),
                       noExpectation: c.expect == nil)
    }

    /// The readable diff of a failed case.
    public static func diff(_ o: Outcome) -> [String] {
        var lines: [String] = []
        if o.noExpectation { lines.append("no expect: in the case (concord rules test --update writes the current findings)") }
        for m in o.missing { lines.append("- expected, not found:  \(m)") }
        for u in o.unexpected {
            let f = o.findings.first { "\($0.rule) \($0.key)" == u }
            lines.append("+ found, not expected:  \(u)" + (f.map { " — \($0.message)" } ?? ""))
        }
        return lines
    }

    /// The case file's text with its `expect:` block replaced by the findings of `o` (appended when it had none).
    public static func updated(_ text: String, _ c: RuleCase, _ o: Outcome) -> String {
        var block = "expect:"
        let found = o.findings.map { "\($0.rule) \($0.key)" }.sorted()
        if found.isEmpty { block += " []\n" } else {
            block += "\n" + found.map { f -> String in
                let parts = f.split(separator: " ", maxSplits: 1).map(String.init)
                return "  - { rule: \(parts[0]), key: \(yamlString(parts[1])) }\n"
            }.joined()
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        guard let start = c.expectLine.map({ $0 - 1 }), start >= 0, start < lines.count else {
            return lines.joined(separator: "\n") + "\n" + block
        }
        // The block runs to the next top-level key (a line starting without indentation, not a comment).
        var end = start + 1
        while end < lines.count, lines[end].isEmpty || lines[end].hasPrefix(" ") || lines[end].hasPrefix("-") { end += 1 }
        let before = lines[..<start].joined(separator: "\n"), after = lines[end...].joined(separator: "\n")
        return (before.isEmpty ? "" : before + "\n") + block + (after.isEmpty ? "" : after + "\n")
    }

    /// A YAML scalar for a key: plain when it is safe, double-quoted (JSON rules) otherwise.
    static func yamlString(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "_-./".contains($0) } && Int64(s) == nil && !["true", "false", "null"].contains(s)
        return plain ? s : JSON.string(s).encoded()
    }

    /// JUnit XML: a test suite of the cases, each failure with its diff.
    public static func junit(_ outcomes: [Outcome], broken: [Diagnostic]) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;")
        }
        let failures = outcomes.filter { !$0.passed }.count
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"concord rules test\" tests=\"\(outcomes.count + broken.count)\" failures=\"\(failures)\" errors=\"\(broken.count)\">\n"
        x += "  <testsuite name=\"rule cases\" tests=\"\(outcomes.count + broken.count)\" failures=\"\(failures)\" errors=\"\(broken.count)\">\n"
        for o in outcomes {
            x += "    <testcase classname=\"\(esc(o.rules.count == 1 ? o.rules[0] : "rules"))\" name=\"\(esc(o.file))\" time=\"\(String(format: "%.3f", o.seconds))\">"
            if !o.passed { x += "\n      <failure message=\"\(esc(diff(o).first ?? "failed"))\">\(esc(diff(o).joined(separator: "\n")))</failure>\n    " }
            x += "</testcase>\n"
        }
        for d in broken {
            x += "    <testcase classname=\"broken\" name=\"\(esc(d.file))\"><error message=\"\(esc(d.description))\"/></testcase>\n"
        }
        return x + "  </testsuite>\n</testsuites>\n"
    }
}
