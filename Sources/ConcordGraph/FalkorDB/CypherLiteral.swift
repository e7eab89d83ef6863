import ConcordCore

/// Writes parameter values as Cypher literals for FalkorDB's `CYPHER name=value`
/// query prefix, the one way FalkorDB takes parameters over RESP.
///
/// Strings are double-quoted with `\` and `"` escaped and control characters
/// written as escapes, so no value can end its literal early; map keys are
/// back-quoted (a key holding a backtick is refused). Anything that has no literal form (a node, NaN) is refused.
enum CypherLiteral {
    static func prefix(_ parameters: [String: GraphValue]) throws -> String {
        guard !parameters.isEmpty else { return "" }
        var out = "CYPHER"
        for key in parameters.keys.sorted() {
            guard isIdentifier(key) else {
                throw ConcordError(.usage, "parameter name '\(key)' is not an identifier", store: "graph")
            }
            out += " \(key)="
            try write(parameters[key]!, into: &out)
        }
        return out + " "
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    }

    static func write(_ value: GraphValue, into out: inout String) throws {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            guard d.isFinite else {
                throw ConcordError(.usage, "FalkorDB parameters cannot hold NaN or infinity", store: "graph")
            }
            var text = d.description  // shortest text that reads back as the same double
            if !text.contains(".") && !text.contains("e") { text += ".0" }
            out += text
        case .string(let s): writeString(s, into: &out)
        case .list(let items):
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += "," }
                try write(v, into: &out)
            }
            out += "]"
        case .map(let m):
            out += "{"
            for (i, k) in m.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                // FalkorDB's parameter parser has no escape for a backtick inside a quoted key.
                guard !k.contains("`") else {
                    throw ConcordError(.usage, "FalkorDB cannot take a map parameter whose key contains a backtick ('\(k)')", store: "graph")
                }
                out += "`" + k + "`:"
                try write(m[k]!, into: &out)
            }
            out += "}"
        case .bytes, .node, .relationship, .path, .structure:
            throw ConcordError(.usage, "a \(value) cannot be sent as a FalkorDB parameter", store: "graph")
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
