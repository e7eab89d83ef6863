/// How much of a JSON value a reader needs: all of it, only its content
/// digest, only that it is there, or some members of an object. Built from
/// the paths a rule set reads (`ConcordAudit`), applied by `JSONTape`.
public indirect enum JSONProjection: Sendable, Equatable {
    /// The value as it is.
    case whole
    /// A container as a marker holding its digest (see `JSON.projectedDigest`); a scalar as it is.
    case digest
    /// A container as a marker that says it is there; a scalar as it is.
    case presence
    /// An object with only these members (each as needed); any other value whole.
    case members([String: JSONProjection])
    /// A string holding JSON text, read only as `digest(json(…))`: a marker
    /// holding that digest (null when the text is not JSON); any other value whole.
    case jsonDigest

    /// The key of a marker object. No parsed document has it: a key holding NUL is refused by both parsers.
    public static let markerKey = "\u{0}projected"

    /// What both `self` and `other` need.
    public func merged(with other: JSONProjection) -> JSONProjection {
        switch (self, other) {
        case (.whole, _), (_, .whole): return .whole
        case (.members(let a), .members(let b)): return .members(a.merging(b) { $0.merged(with: $1) })
        case (.members, .presence): return self
        case (.presence, .members): return other
        case (.jsonDigest, .jsonDigest): return .jsonDigest
        case (.jsonDigest, _), (_, .jsonDigest): return .whole
        case (.members, .digest), (.digest, .members): return .whole
        case (.digest, _), (_, .digest): return .digest
        case (.presence, .presence): return .presence
        }
    }

    /// The projection that reads `path` with `need` (and nothing else).
    public static func path(_ path: ArraySlice<String>, _ need: JSONProjection) -> JSONProjection {
        guard let first = path.first else { return need }
        return .members([first: Self.path(path.dropFirst(), need)])
    }

    /// The member `name`'s projection, or nil when it is not needed.
    public subscript(member name: String) -> JSONProjection? {
        switch self {
        case .whole: return .whole
        case .members(let m): return m[name]
        case .digest, .presence, .jsonDigest: return nil
        }
    }
}

extension JSON {
    /// The digest a projected container carries in place of its content;
    /// nil for any other value.
    @inline(__always) public var projectedDigest: JSON? {
        if case .object(let o) = self, o.count == 1, let d = o[JSONProjection.markerKey] { return d }
        return nil
    }
}

extension JSONTape {
    /// The value at token `at` of a tape scanned with `projection`.
    public func value(at: Int, _ projection: JSONProjection) -> JSON {
        let t = tokens[at]
        guard case .members(let wanted) = projection, t.kind == .object else { return value(at: at) }
        // Only wanted members are on the tape.
        var o: [String: JSON] = [:]
        var k = at + 1
        while k < Int(t.b) {
            let name = string(tokens[k])
            if let p = wanted[name] { o[name] = value(at: k + 1, p) }
            k = end(k + 1)
        }
        return .object(o)
    }
}

extension JSON {
    /// JSON text parsed as far as `projection` needs; nil when it is not JSON
    /// (exactly when `parse` throws).
    public static func parse(_ text: UnsafeRawBufferPointer, projection: JSONProjection, tape: inout JSONTape) -> JSON? {
        guard tape.scan(text, projection: projection) else { return nil }
        return tape.value(at: 0, projection)
    }
}
