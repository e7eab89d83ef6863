import ConcordCore

/// Conversions between PackStream's wire values and `GraphValue`, including
/// Bolt's Node, Relationship, UnboundRelationship and Path structures.
extension PackStreamValue {
    /// Parameters: a graph value as it is sent.
    init(_ value: GraphValue) throws {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .float(d)
        case .string(let s): self = .string(s)
        case .bytes(let b): self = .bytes(b)
        case .list(let l): self = .list(try l.map(PackStreamValue.init))
        case .map(let m): self = .map(try m.keys.sorted().map { PackStreamEntry($0, try PackStreamValue(m[$0]!)) })
        case .structure(let s): self = .structure(tag: s.tag, fields: try s.fields.map(PackStreamValue.init))
        case .node, .relationship, .path:
            throw ConcordError(.usage, "nodes, relationships and paths cannot be sent as parameters", store: "graph")
        }
    }

    /// Results: a received value as a graph value.
    func graphValue() throws -> GraphValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .double(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .list(let l): return .list(try l.map { try $0.graphValue() })
        case .map(let entries):
            var m: [String: GraphValue] = [:]
            for e in entries { m[e.key] = try e.value.graphValue() }
            return .map(m)
        case .structure(let tag, let f):
            switch tag {
            case 0x4E: return .node(try node(f))
            case 0x52: return .relationship(try relationship(f))
            case 0x72: return .relationship(try unbound(f))
            case 0x50: return .path(try path(f))
            default: return .structure(GraphStructure(tag: tag, fields: try f.map { try $0.graphValue() }))
            }
        }
    }

    private func properties(_ v: PackStreamValue) throws -> [String: GraphValue] {
        guard case .map = v, case .map(let m) = try v.graphValue() else { throw bad("properties") }
        return m
    }

    private func node(_ f: [PackStreamValue]) throws -> GraphNode {
        guard f.count >= 3, let id = f[0].int, let labels = f[1].list else { throw bad("Node") }
        return GraphNode(id: id, labels: labels.compactMap(\.string), properties: try properties(f[2]),
                         elementId: f.count > 3 ? f[3].string ?? "" : "")
    }

    private func relationship(_ f: [PackStreamValue]) throws -> GraphRelationship {
        guard f.count >= 5, let id = f[0].int, let s = f[1].int, let e = f[2].int, let type = f[3].string else {
            throw bad("Relationship")
        }
        return GraphRelationship(
            id: id, startId: s, endId: e, type: type, properties: try properties(f[4]),
            elementId: f.count > 5 ? f[5].string ?? "" : "", startElementId: f.count > 6 ? f[6].string ?? "" : "",
            endElementId: f.count > 7 ? f[7].string ?? "" : "")
    }

    private func unbound(_ f: [PackStreamValue]) throws -> GraphRelationship {
        guard f.count >= 3, let id = f[0].int, let type = f[1].string else { throw bad("UnboundRelationship") }
        return GraphRelationship(id: id, startId: -1, endId: -1, type: type, properties: try properties(f[2]),
                                 elementId: f.count > 3 ? f[3].string ?? "" : "")
    }

    /// A path: nodes, unbound relationships, and indices that alternate
    /// relationship (1-based, negative when traversed backwards) and node.
    private func path(_ f: [PackStreamValue]) throws -> GraphPath {
        guard f.count == 3, let ns = f[0].list, let rs = f[1].list, let idx = f[2].list else { throw bad("Path") }
        let nodes = try ns.map { v -> GraphNode in
            guard case .structure(0x4E, let nf) = v else { throw bad("Path node") }
            return try node(nf)
        }
        let rels = try rs.map { v -> GraphRelationship in
            guard case .structure(0x72, let rf) = v else { throw bad("Path relationship") }
            return try unbound(rf)
        }
        guard !nodes.isEmpty, idx.count % 2 == 0 else { throw bad("Path") }
        var seqNodes = [nodes[0]]
        var seqRels: [GraphRelationship] = []
        var last = nodes[0]
        var i = 0
        while i < idx.count {
            guard let ri = idx[i].int, let ni = idx[i + 1].int, ri != 0, Int(abs(ri)) <= rels.count,
                ni >= 0, Int(ni) < nodes.count
            else { throw bad("Path indices") }
            var r = rels[Int(abs(ri)) - 1]
            let next = nodes[Int(ni)]
            if ri > 0 { r.startId = last.id; r.endId = next.id } else { r.startId = next.id; r.endId = last.id }
            seqRels.append(r)
            seqNodes.append(next)
            last = next
            i += 2
        }
        return GraphPath(nodes: seqNodes, relationships: seqRels)
    }

    private func bad(_ what: String) -> ConcordError {
        ConcordError(.protocolViolation, "malformed \(what) structure in a Bolt record", store: "graph")
    }
}
