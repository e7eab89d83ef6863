import ConcordCore
import Foundation
import Yams

/// One problem in a rule or dataset file, printed `file:line:col: message`.
/// An error makes the rule set unusable; a warning (e.g. a rule whose
/// findings cannot be rechecked) is printed and the rules still load.
public struct Diagnostic: Sendable, CustomStringConvertible, Hashable {
    public enum Severity: String, Sendable { case error, warning }
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var severity: Severity

    public init(file: String, line: Int, column: Int, message: String, severity: Severity = .error) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.severity = severity
    }

    public var description: String { "\(file):\(line):\(column): " + (severity == .warning ? "warning: " : "") + message }
}

/// Reads a composed YAML document, collecting diagnostics with positions
/// instead of stopping at the first problem.
final class YAMLReader {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    /// Composes `text`; a syntax error becomes a diagnostic.
    func compose(_ text: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                error(at: nil, "the file is empty")
                return nil
            }
            return node
        } catch let e as YamlError {
            switch e {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                diagnostics.append(Diagnostic(file: file, line: mark.line, column: mark.column, message: "YAML: \(problem)"))
            case .duplicatedKeysInMapping(let duplicates, let context):
                diagnostics.append(Diagnostic(file: file, line: context.mark.line, column: context.mark.column,
                                              message: "duplicate key(s): \(duplicates.joined(separator: ", "))"))
            default:
                error(at: nil, "YAML: \(e)")
            }
            return nil
        } catch {
            self.error(at: nil, "YAML: \(error)")
            return nil
        }
    }

    func error(at node: Node?, _ message: String, offset: Int = 0) {
        report(at: node, message, offset: offset, severity: .error)
    }

    func warning(at node: Node?, _ message: String, offset: Int = 0) {
        report(at: node, message, offset: offset, severity: .warning)
    }

    func warningAt(line: Int, column: Int, _ message: String) {
        diagnostics.append(Diagnostic(file: file, line: line, column: column, message: message, severity: .warning))
    }

    private func report(at node: Node?, _ message: String, offset: Int, severity: Diagnostic.Severity) {
        let mark = node?.mark
        var column = (mark?.column ?? 1) + offset
        if let s = node?.scalar, s.style == .singleQuoted || s.style == .doubleQuoted { column += 1 }
        diagnostics.append(Diagnostic(file: file, line: mark?.line ?? 1, column: column, message: message, severity: severity))
    }

    /// The pairs of a mapping with string keys; reports keys not in `allowed`.
    func mapping(_ node: Node?, _ what: String, allowed: Set<String>? = nil) -> [String: Node]? {
        guard let node else { return nil }
        guard let m = node.mapping else {
            error(at: node, "\(what) must be a mapping")
            return nil
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.scalar?.string else { error(at: k, "keys must be strings"); continue }
            if let allowed, !allowed.contains(key) {
                error(at: k, "unknown key '\(key)' in \(what) (allowed: \(allowed.sorted().joined(separator: ", ")))")
                continue
            }
            out[key] = v
        }
        return out
    }

    func string(_ node: Node?, _ what: String, required: Bool = true, parent: Node? = nil) -> String? {
        guard let node else {
            if required { error(at: parent, "missing \(what)") }
            return nil
        }
        guard let s = node.scalar?.string else {
            error(at: node, "\(what) must be a string")
            return nil
        }
        return s
    }

    func list(_ node: Node?) -> [Node] {
        guard let node else { return [] }
        if let seq = node.sequence { return Array(seq) }
        return [node]
    }
}
