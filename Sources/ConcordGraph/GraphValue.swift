import ConcordJSON

/// A value that crosses the graph-store boundary, in either direction.
///
/// Both engines map onto it: Neo4j's PackStream types and FalkorDB's compact
/// result types. Temporal and spatial values keep their structure.
public enum GraphValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case list([GraphValue])
    case map([String: GraphValue])
    case node(GraphNode)
    case relationship(GraphRelationship)
    case path(GraphPath)
    /// A structure with no dedicated case: temporal and spatial values
    /// (Bolt tag and fields; FalkorDB maps its temporal types here too).
    case structure(GraphStructure)
}

public struct GraphNode: Sendable, Hashable {
    public var id: Int64
    public var labels: [String]
    public var properties: [String: GraphValue]
    /// Bolt 5's element id ("" on FalkorDB and Bolt 4).
    public var elementId: String
    public init(id: Int64, labels: [String], properties: [String: GraphValue], elementId: String = "") {
        self.id = id
        self.labels = labels
        self.properties = properties
        self.elementId = elementId
    }
}

public struct GraphRelationship: Sendable, Hashable {
    public var id: Int64
    public var startId: Int64
    public var endId: Int64
    public var type: String
    public var properties: [String: GraphValue]
    public var elementId: String
    public var startElementId: String
    public var endElementId: String
    public init(
        id: Int64, startId: Int64, endId: Int64, type: String, properties: [String: GraphValue],
        elementId: String = "", startElementId: String = "", endElementId: String = ""
    ) {
        self.id = id
        self.startId = startId
        self.endId = endId
        self.type = type
        self.properties = properties
        self.elementId = elementId
        self.startElementId = startElementId
        self.endElementId = endElementId
    }
}

public struct GraphPath: Sendable, Hashable {
    public var nodes: [GraphNode]
    public var relationships: [GraphRelationship]
    public init(nodes: [GraphNode], relationships: [GraphRelationship]) {
        self.nodes = nodes
        self.relationships = relationships
    }
}

/// A tagged structure (Bolt's Date, Time, DateTime, Duration, Point…).
public struct GraphStructure: Sendable, Hashable {
    public var tag: UInt8
    public var fields: [GraphValue]
    public init(tag: UInt8, fields: [GraphValue]) {
        self.tag = tag
        self.fields = fields
    }

    /// A readable name for the well-known tags.
    public var kind: String {
        switch tag {
        case 0x44: "Date"
        case 0x54: "Time"
        case 0x74: "LocalTime"
        case 0x46, 0x49: "DateTime"
        case 0x66, 0x69: "DateTimeZoneId"
        case 0x64: "LocalDateTime"
        case 0x45: "Duration"
        case 0x58: "Point2D"
        case 0x59: "Point3D"
        default: "Structure(0x\(String(tag, radix: 16)))"
        }
    }
}

extension GraphValue {
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var intValue: Int64? { if case .int(let i) = self { return i }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }
    public var listValue: [GraphValue]? { if case .list(let l) = self { return l }; return nil }
    public var mapValue: [String: GraphValue]? { if case .map(let m) = self { return m }; return nil }
    public var nodeValue: GraphNode? { if case .node(let n) = self { return n }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// Converts JSON into a graph value (objects become maps).
    public init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(GraphValue.init))
        case .object(let o): self = .map(o.mapValues(GraphValue.init))
        }
    }

    /// A JSON view of the value, for reports and snapshots. Nodes and
    /// relationships become objects with their id, labels/type and properties.
    public var json: JSON {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .array(b.map { .int(Int64($0)) })
        case .list(let l): return .array(l.map(\.json))
        case .map(let m): return .object(m.mapValues(\.json))
        case .node(let n):
            return .object(["_id": .int(n.id), "_labels": .array(n.labels.map(JSON.string)),
                            "properties": .object(n.properties.mapValues(\.json))])
        case .relationship(let r):
            return .object(["_id": .int(r.id), "_type": .string(r.type), "_start": .int(r.startId), "_end": .int(r.endId),
                            "properties": .object(r.properties.mapValues(\.json))])
        case .path(let p):
            return .object(["nodes": .array(p.nodes.map { GraphValue.node($0).json }),
                            "relationships": .array(p.relationships.map { GraphValue.relationship($0).json })])
        case .structure(let s):
            return .object(["_type": .string(s.kind), "fields": .array(s.fields.map(\.json))])
        }
    }
}

extension GraphValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: GraphValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, GraphValue)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
}
