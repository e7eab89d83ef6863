import ConcordCore
import ConcordJSON

/// The rule language's expressions: field paths into JSON records, literals
/// (numbers, 'strings', durations such as `5m`, `true`, `false`, `null`),
/// `now` and `grace` (milliseconds), comparison (`==` `!=` `<` `<=` `>` `>=`,
/// `in`, `not in`), arithmetic (`+` `-` `*` `/`, `+` also joins strings),
/// `and` / `or` / `not`, `[lists]`, and a few functions (see `Expr.functions`).
///
/// Comparisons follow one rule: values of different kinds are never ordered
/// (`<` is false), and `==` treats `1` and `1.0` as equal; a missing field is
/// `null`, and `null == null`.
public indirect enum Expr: Sendable, CustomStringConvertible {
    case literal(JSON)
    /// A path: `slot` is the binding (0 = the implicit record), then the segments.
    case path(slot: Int, [String])
    case now
    case grace
    case not(Expr)
    case negate(Expr)
    case binary(BinaryOp, Expr, Expr)
    case list([Expr])
    case call(Function, [Expr])

    public enum BinaryOp: String, Sendable {
        case and, or, eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", `in`, notIn = "not in"
        case add = "+", sub = "-", mul = "*", div = "/"
    }

    public enum Function: String, Sendable, CaseIterable {
        case len, lower, upper, type, canonical, digest, json, coalesce, number, string, exists, age, `if`, contains, startsWith, min, max
        case keys, values, omit

        var arity: ClosedRange<Int> {
            switch self {
            case .omit: 2...16
            case .coalesce: 1...16
            case .if: 3...3
            case .contains, .startsWith: 2...2
            case .min, .max: 1...16
            default: 1...1
            }
        }
    }

    public var description: String {
        switch self {
        case .literal(let j):
            // Printed so that it reads back: quotes and backslashes escaped.
            if case .string(let s) = j { return "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
            return j.encoded()
        case .path(let slot, let parts): return (slot == 0 ? "" : "$\(slot).") + parts.joined(separator: ".")
        case .now: return "now"
        case .grace: return "grace"
        case .not(let e): return "not \(e)"
        case .negate(let e): return "-\(e)"
        case .binary(let op, let a, let b): return "(\(a) \(op.rawValue) \(b))"
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .call(let f, let args): return "\(f.rawValue)(" + args.map(\.description).joined(separator: ", ") + ")"
        }
    }

    /// Every path the expression reads, with its binding slot.
    public var paths: [(slot: Int, path: [String])] {
        switch self {
        case .path(let s, let p): return [(s, p)]
        case .literal, .now, .grace: return []
        case .not(let e), .negate(let e): return e.paths
        case .binary(_, let a, let b): return a.paths + b.paths
        case .list(let items), .call(_, let items): return items.flatMap(\.paths)
        }
    }

    /// What the expression reads of binding `slot`: each path, with how much
    /// of its value — whole, or only a container's digest (`digest(path)`)
    /// or that it is there (`exists(path)`). What the read path parses of a
    /// record is the union of these (`JSONProjection`).
    public func needs(slot: Int) -> JSONProjection? {
        switch self {
        case .path(let s, let p): return s == slot ? .path(p[...], .whole) : nil
        case .call(.digest, let args):
            if case .path(let s, let p) = args[0] { return s == slot ? .path(p[...], .digest) : nil }
            if case .call(.json, let inner) = args[0], case .path(let s, let p) = inner[0] { return s == slot ? .path(p[...], .jsonDigest) : nil }
            return args[0].needs(slot: slot)
        case .call(.exists, let args):
            if case .path(let s, let p) = args[0] { return s == slot ? .path(p[...], .presence) : nil }
            return args[0].needs(slot: slot)
        case .literal, .now, .grace: return nil
        case .not(let e), .negate(let e): return e.needs(slot: slot)
        case .binary(_, let a, let b): return Self.union(a.needs(slot: slot), b.needs(slot: slot))
        case .list(let items), .call(_, let items): return items.reduce(nil) { Self.union($0, $1.needs(slot: slot)) }
        }
    }

    static func union(_ a: JSONProjection?, _ b: JSONProjection?) -> JSONProjection? {
        guard let a else { return b }
        guard let b else { return a }
        return a.merged(with: b)
    }

    /// Whether the expression reads any binding other than the implicit record.
    public var usesBindings: Bool { paths.contains { $0.slot != 0 } }
}

/// What an expression is evaluated against: `now` and `grace` in
/// milliseconds, and the bound records.
public struct EvalContext: Sendable {
    public var now: Int64
    public var grace: Int64
    /// Notes the times `age()` is asked about (the engine's per-record watch).
    var watch: ClockWatch?
    /// A parser's scratch space, reused record after record (one per dataset feed).
    var scratch: TapeScratch?
    public init(now: Int64, grace: Int64) {
        self.now = now
        self.grace = grace
    }
}

/// The newest time `age()` was asked about since the last reset: how young a
/// record is for the rules that wait for time (one per dataset feed; not shared between threads).
final class ClockWatch: @unchecked Sendable {
    var youngest: Double?
    @inline(__always) func note(_ t: Double) {
        if youngest == nil || t > youngest! { youngest = t }
    }
}

/// A tape reused by one dataset's feed (not shared between threads).
final class TapeScratch: @unchecked Sendable {
    var tape = JSONTape()
}

/// A parse error with its offset (in characters) into the expression text.
public struct ExprError: Error, Sendable {
    public var offset: Int
    public var message: String
}

extension Expr {
    /// Parses `text`. `bindings` are the names an expression may start a
    /// path with (`left`, `right`, …; slot 1, 2, …); any other path reads
    /// the implicit record (slot 0), allowed only when `implicitRecord`.
    public static func parse(_ text: String, bindings: [String] = [], implicitRecord: Bool = true) throws(ExprError) -> Expr {
        var p = ExprParser(text: text, bindings: bindings, implicitRecord: implicitRecord)
        try p.lex()
        let e = try p.parseOr()
        if p.pos < p.tokens.count { throw ExprError(offset: p.tokens[p.pos].offset, message: "unexpected '\(p.tokens[p.pos].text)'") }
        return e
    }
}

struct ExprParser {
    enum Kind: Equatable { case number, string, ident, op, end }
    struct Token { var kind: Kind; var text: String; var offset: Int; var value: JSON = .null }

    let text: String
    let bindings: [String]
    let implicitRecord: Bool
    var tokens: [Token] = []
    var pos = 0

    init(text: String, bindings: [String], implicitRecord: Bool) {
        self.text = text
        self.bindings = bindings
        self.implicitRecord = implicitRecord
    }

    static let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]

    mutating func lex() throws(ExprError) {
        let chars = Array(text)
        var i = 0
        // A name starts with a letter that is not a combining mark (a mark would join the character before it).
        func isIdentStart(_ c: Character) -> Bool {
            guard c.isLetter else { return c == "_" || c == "$" }
            switch c.unicodeScalars.first!.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: return false
            default: return true
            }
        }
        func isIdent(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" || c == "$" }
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            let start = i
            if c.isASCII && c.isNumber {
                while i < chars.count, chars[i].isASCII && chars[i].isNumber || chars[i] == "." { i += 1 }
                // An exponent (1e3, 2.5E-7): how a large or small number prints, so it reads back.
                if i + 1 < chars.count, chars[i] == "e" || chars[i] == "E" {
                    var j = i + 1
                    if chars[j] == "+" || chars[j] == "-" { j += 1 }
                    if j < chars.count, chars[j].isASCII && chars[j].isNumber {
                        while j < chars.count, chars[j].isASCII && chars[j].isNumber { j += 1 }
                        i = j
                    }
                }
                let digits = String(chars[start..<i])
                var u = i
                while u < chars.count, chars[u].isLetter { u += 1 }
                let unit = String(chars[i..<u])
                if !unit.isEmpty {
                    guard let mult = Self.units.first(where: { $0.0 == unit })?.1, let n = Double(digits) else {
                        throw ExprError(offset: i, message: "unknown duration unit '\(unit)' (use ms, s, m, h, d)")
                    }
                    guard (n * Double(mult)).magnitude < 9.2e18 else { throw ExprError(offset: start, message: "duration '\(digits + unit)' is too long") }
                    tokens.append(Token(kind: .number, text: digits + unit, offset: start, value: .int(Int64(n * Double(mult)))))
                    i = u
                } else if let n = Int64(digits) {
                    tokens.append(Token(kind: .number, text: digits, offset: start, value: .int(n)))
                } else if let d = Double(digits) {
                    guard d.isFinite else { throw ExprError(offset: start, message: "number '\(digits)' is out of range") }
                    tokens.append(Token(kind: .number, text: digits, offset: start, value: .double(d)))
                } else {
                    throw ExprError(offset: start, message: "bad number '\(digits)'")
                }
            } else if c == "'" || c == "\"" {
                var s = ""
                i += 1
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    s.append(chars[i])
                    i += 1
                }
                guard i < chars.count else { throw ExprError(offset: start, message: "unterminated string") }
                i += 1
                tokens.append(Token(kind: .string, text: s, offset: start, value: .string(s)))
            } else if isIdentStart(c) {
                while i < chars.count, isIdent(chars[i]) || (chars[i] == "." && i + 1 < chars.count && isIdent(chars[i + 1])) { i += 1 }
                tokens.append(Token(kind: .ident, text: String(chars[start..<i]), offset: start))
            } else {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["==", "!=", "<=", ">="].contains(two) {
                    tokens.append(Token(kind: .op, text: two, offset: start)); i += 2
                } else if "<>+-*/(),[]".contains(c) {
                    tokens.append(Token(kind: .op, text: String(c), offset: start)); i += 1
                } else if c == "=" {
                    throw ExprError(offset: start, message: "'=' is not an operator; compare with '=='")
                } else {
                    throw ExprError(offset: start, message: "unexpected character '\(c)'")
                }
            }
        }
    }

    var current: Token { pos < tokens.count ? tokens[pos] : Token(kind: .end, text: "end of expression", offset: text.count) }

    mutating func accept(_ text: String) -> Bool {
        let t = current
        guard (t.kind == .op || t.kind == .ident), t.text == text else { return false }
        pos += 1
        return true
    }

    mutating func expect(_ text: String) throws(ExprError) {
        guard accept(text) else { throw ExprError(offset: current.offset, message: "expected '\(text)', found '\(current.text)'") }
    }

    /// A left-associative level of binary operators over `next`.
    mutating func parseLevel(_ ops: [(String, Expr.BinaryOp)], _ next: (inout ExprParser) throws(ExprError) -> Expr) throws(ExprError) -> Expr {
        var e = try next(&self)
        while let op = ops.first(where: { accept($0.0) })?.1 { e = .binary(op, e, try next(&self)) }
        return e
    }

    mutating func parseOr() throws(ExprError) -> Expr { try parseLevel([("or", .or)]) { p throws(ExprError) in try p.parseAnd() } }

    mutating func parseAnd() throws(ExprError) -> Expr { try parseLevel([("and", .and)]) { p throws(ExprError) in try p.parseNot() } }

    mutating func parseNot() throws(ExprError) -> Expr {
        if current.kind == .ident, current.text == "not" {
            pos += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws(ExprError) -> Expr {
        let left = try parseAdditive()
        let ops: [String: Expr.BinaryOp] = ["==": .eq, "!=": .ne, "<": .lt, "<=": .le, ">": .gt, ">=": .ge]
        if current.kind == .op, let op = ops[current.text] {
            pos += 1
            return .binary(op, left, try parseAdditive())
        }
        if accept("in") { return .binary(.in, left, try parseAdditive()) }
        if current.kind == .ident, current.text == "not", pos + 1 < tokens.count, tokens[pos + 1].text == "in" {
            pos += 2
            return .binary(.notIn, left, try parseAdditive())
        }
        return left
    }

    mutating func parseAdditive() throws(ExprError) -> Expr {
        try parseLevel([("+", .add), ("-", .sub)]) { p throws(ExprError) in try p.parseMultiplicative() }
    }

    mutating func parseMultiplicative() throws(ExprError) -> Expr {
        try parseLevel([("*", .mul), ("/", .div)]) { p throws(ExprError) in try p.parseUnary() }
    }

    mutating func parseUnary() throws(ExprError) -> Expr {
        if accept("-") { return .negate(try parseUnary()) }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws(ExprError) -> Expr {
        let t = current
        switch t.kind {
        case .number, .string:
            pos += 1
            return .literal(t.value)
        case .op where t.text == "(":
            pos += 1
            let e = try parseOr()
            try expect(")")
            return e
        case .op where t.text == "[":
            pos += 1
            var items: [Expr] = []
            if !accept("]") {
                repeat { items.append(try parseOr()) } while accept(",")
                try expect("]")
            }
            return .list(items)
        case .ident:
            pos += 1
            switch t.text {
            case "true": return .literal(true)
            case "false": return .literal(false)
            case "null": return .literal(.null)
            case "now": return .now
            case "grace": return .grace
            case "and", "or", "in", "not": throw ExprError(offset: t.offset, message: "expected a value, found '\(t.text)'")
            default: break
            }
            if accept("(") {
                guard let f = Expr.Function(rawValue: t.text) else {
                    throw ExprError(offset: t.offset, message: "unknown function '\(t.text)' (known: \(Expr.Function.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                var args: [Expr] = []
                if !accept(")") {
                    repeat { args.append(try parseOr()) } while accept(",")
                    try expect(")")
                }
                guard f.arity.contains(args.count) else {
                    throw ExprError(offset: t.offset, message: "\(f.rawValue)() takes \(f.arity.lowerBound == f.arity.upperBound ? "\(f.arity.lowerBound)" : "\(f.arity.lowerBound)…\(f.arity.upperBound)") argument(s), not \(args.count)")
                }
                return .call(f, args)
            }
            let parts = t.text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if let b = bindings.firstIndex(of: parts[0]) {
                return .path(slot: b + 1, Array(parts.dropFirst()))
            }
            guard implicitRecord else {
                throw ExprError(offset: t.offset, message: "'\(parts[0])' is not known here; start the path with one of: \(bindings.joined(separator: ", "))")
            }
            return .path(slot: 0, parts)
        default:
            throw ExprError(offset: t.offset, message: "expected a value, found '\(t.text)'")
        }
    }
}

// MARK: Evaluation

extension Expr {
    /// Evaluates against `slots` (slot 0 the implicit record, then the bindings).
    @inline(__always)
    public func evaluate(_ slots: [JSON], _ ctx: EvalContext) -> JSON {
        switch self {
        case .literal(let j): return j
        case .path(let slot, let parts):
            guard slot < slots.count else { return .null }
            var v = slots[slot]
            for p in parts {
                switch v {
                case .object(let o): v = o[p] ?? .null
                case .array(let a): if let i = Int(p), a.indices.contains(i) { v = a[i] } else { return .null }
                default: return .null
                }
            }
            return v
        case .now: return .int(ctx.now)
        case .grace: return .int(ctx.grace)
        case .not(let e): return .bool(!e.evaluate(slots, ctx).truthy)
        case .negate(let e):
            switch e.evaluate(slots, ctx) {
            case .int(let i): return i == .min ? .double(-Double(i)) : .int(-i)
            case .double(let d): return .double(-d)
            default: return .null
            }
        case .list(let items): return .array(items.map { $0.evaluate(slots, ctx) })
        case .binary(let op, let a, let b):
            switch op {
            case .and: return .bool(a.evaluate(slots, ctx).truthy && b.evaluate(slots, ctx).truthy)
            case .or: return .bool(a.evaluate(slots, ctx).truthy || b.evaluate(slots, ctx).truthy)
            default: return Expr.apply(op, a.evaluate(slots, ctx), b.evaluate(slots, ctx))
            }
        case .call(let f, let args):
            return Expr.call(f, args, slots, ctx)
        }
    }

    static func apply(_ op: BinaryOp, _ x: JSON, _ y: JSON) -> JSON {
        switch op {
        case .eq: return .bool(JSON.looselyEqual(x, y))
        case .ne: return .bool(!JSON.looselyEqual(x, y))
        case .lt: return .bool(JSON.order(x, y).map { $0 < 0 } ?? false)
        case .le: return .bool(JSON.order(x, y).map { $0 <= 0 } ?? false)
        case .gt: return .bool(JSON.order(x, y).map { $0 > 0 } ?? false)
        case .ge: return .bool(JSON.order(x, y).map { $0 >= 0 } ?? false)
        case .in, .notIn:
            let found: Bool
            switch y {
            case .array(let a): found = a.contains { JSON.looselyEqual($0, x) }
            case .string(let s): found = x.stringValue.map { s.contains($0) } ?? false
            case .object(let o): found = x.stringValue.map { o[$0] != nil } ?? false
            default: found = false
            }
            return .bool(op == .in ? found : !found)
        case .add:
            if case .string(let s) = x { return .string(s + y.textValue) }
            if case .string(let s) = y { return .string(x.textValue + s) }
            return arithmetic(x, y, &+, +)
        case .sub: return arithmetic(x, y, &-, -)
        case .mul: return arithmetic(x, y, &*, *)
        case .div:
            guard let a = x.doubleValue, let b = y.doubleValue, b != 0 else { return .null }
            if case .int(let i) = x, case .int(let j) = y, !(i == .min && j == -1), i % j == 0 { return .int(i / j) }
            return .double(a / b)
        case .and, .or: return .null
        }
    }

    static func arithmetic(_ x: JSON, _ y: JSON, _ int: (Int64, Int64) -> Int64, _ dbl: (Double, Double) -> Double) -> JSON {
        if case .int(let a) = x, case .int(let b) = y { return .int(int(a, b)) }
        guard let a = x.doubleValue, let b = y.doubleValue else { return .null }
        return .double(dbl(a, b))
    }

    static func call(_ f: Function, _ args: [Expr], _ slots: [JSON], _ ctx: EvalContext) -> JSON {
        if f == .if { return args[0].evaluate(slots, ctx).truthy ? args[1].evaluate(slots, ctx) : args[2].evaluate(slots, ctx) }
        if f == .coalesce {
            for a in args { let v = a.evaluate(slots, ctx); if !v.isNull { return v } }
            return .null
        }
        if f == .digest, case .call(.json, let inner) = args[0] {
            // digest(json(text)): hashed on jansson's parse, no Swift values built.
            let source = inner[0].evaluate(slots, ctx)
            // Text the read path digested as it read it (JSONProjection.jsonDigest).
            if let projected = source.projectedDigest { return projected }
            guard let text = source.stringValue else { return .null }
            let digest = ctx.scratch.map { scratch in JSON.digest(ofText: text, tape: &scratch.tape) } ?? JSON.digest(ofText: text)
            guard let h = digest else { return .null }
            return .string(String(h, radix: 16))
        }
        let v = args.map { $0.evaluate(slots, ctx) }
        switch f {
        case .len:
            switch v[0] {
            case .string(let s): return .int(Int64(s.count))
            case .array(let a): return .int(Int64(a.count))
            case .object(let o): return .int(Int64(o.count))
            default: return .null
            }
        case .lower: return v[0].stringValue.map { .string($0.lowercased()) } ?? .null
        case .upper: return v[0].stringValue.map { .string($0.uppercased()) } ?? .null
        case .type:
            if case .int = v[0] { return "integer" }
            if case .double(let d) = v[0], d.rounded() == d { return "integer" }
            return .string(v[0].typeName)
        case .canonical: return v[0].isNull ? .null : .string(v[0].encoded())
        case .digest:
            // A container the read path did not build carries its digest (JSONProjection.digest).
            if let projected = v[0].projectedDigest { return projected }
            // For comparing values, not for security: see JSONDigest.
            return .string(String(v[0].digest, radix: 16))
        case .json:
            guard let s = v[0].stringValue else { return .null }
            return (try? JSON.parse(s)) ?? .null
        case .number:
            switch v[0] {
            case .int, .double: return v[0]
            case .string(let s):
                if let i = Int64(s) { return .int(i) }
                if let d = Double(s) { return .double(d) }
                return .null
            default: return .null
            }
        case .string: return v[0].isNull ? .null : .string(v[0].textValue)
        case .exists: return .bool(!v[0].isNull)
        case .age:
            if let watch = ctx.watch, let t = v[0].doubleValue { watch.note(t) }
            if let t = v[0].intValue {
                let (d, overflow) = ctx.now.subtractingReportingOverflow(t)
                return overflow ? .double(Double(ctx.now) - Double(t)) : .int(d)
            }
            // A timestamp with microseconds (PostgreSQL timestamptz) is fractional milliseconds.
            guard case .double(let d) = v[0], d.isFinite else { return .null }
            return .double(Double(ctx.now) - d)
        case .keys:
            guard let o = v[0].objectValue else { return .null }
            return .array(o.keys.sorted().map(JSON.string))
        case .values:
            // In key order, each as text (strings as they are, anything else as canonical JSON):
            // the form in which a Redis hash holds them, so a hash compares with a JSON object.
            guard let o = v[0].objectValue else { return .null }
            return .array(o.sorted { $0.key < $1.key }.map { $0.value.isNull ? .null : .string($0.value.stringValue ?? $0.value.encoded()) })
        case .omit:
            guard var o = v[0].objectValue else { return .null }
            for name in v.dropFirst() { if let n = name.stringValue { o.removeValue(forKey: n) } }
            return .object(o)
        case .contains:
            return apply(.in, v[1], v[0])
        case .startsWith:
            guard let s = v[0].stringValue, let p = v[1].stringValue else { return false }
            return .bool(s.hasPrefix(p))
        case .min, .max:
            let items = v.count == 1 ? (v[0].arrayValue ?? [v[0]]) : v
            var best: JSON = .null
            for item in items where !item.isNull {
                if best.isNull { best = item; continue }
                if let o = JSON.order(item, best), (f == .min ? o < 0 : o > 0) { best = item }
            }
            return best
        case .if, .coalesce: return .null
        }
    }
}

extension JSON {
    /// Truthiness for `where` filters: false, null, 0 and "" are false.
    public var truthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array, .object: return true
        }
    }

    /// A key or run id as text: nil for null and the empty string.
    public var keyText: String? {
        switch self {
        case .null: return nil
        case .string(let s): return s.isEmpty ? nil : s
        default: return textValue
        }
    }

    /// Text of a scalar for string building; other values in canonical JSON.
    public var textValue: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .null: return "null"
        default: return encoded()
        }
    }

    /// Equality with numbers compared by value (`1 == 1.0`).
    public static func looselyEqual(_ a: JSON, _ b: JSON) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)): return Double(x) == y
        case (.double(let x), .int(let y)): return x == Double(y)
        default: return a == b
        }
    }

    /// Order of two values of the same kind (numbers, strings, booleans,
    /// arrays element by element); nil when they cannot be ordered.
    public static func order(_ a: JSON, _ b: JSON) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.string(let x), .string(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.array(let x), .array(let y)):
            for (p, q) in zip(x, y) {
                guard let o = order(p, q) else { return nil }
                if o != 0 { return o }
            }
            return x.count < y.count ? -1 : (x.count == y.count ? 0 : 1)
        default:
            guard let x = a.doubleValue, let y = b.doubleValue else { return nil }
            return x < y ? -1 : (x == y ? 0 : 1)
        }
    }
}
