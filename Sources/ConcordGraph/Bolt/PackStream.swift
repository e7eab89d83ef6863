import ConcordCore

/// A PackStream v1 value, exactly as it travels: maps keep their key order,
/// so decoding and re-encoding gives back the same bytes.
public indirect enum PackStreamValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case bytes([UInt8])
    case string(String)
    case list([PackStreamValue])
    case map([PackStreamEntry])
    case structure(tag: UInt8, fields: [PackStreamValue])

    /// Looks up a map entry by key.
    public subscript(key: String) -> PackStreamValue? {
        if case .map(let entries) = self { return entries.first(where: { $0.key == key })?.value }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var int: Int64? { if case .int(let i) = self { return i }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var list: [PackStreamValue]? { if case .list(let l) = self { return l }; return nil }
}

/// One key/value pair of a PackStream map.
public struct PackStreamEntry: Sendable, Hashable {
    public var key: String
    public var value: PackStreamValue
    public init(_ key: String, _ value: PackStreamValue) {
        self.key = key
        self.value = value
    }
}

extension PackStreamValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

/// Writes PackStream v1, choosing the smallest marker for every size and
/// integer, as the reference drivers do.
public struct PackStreamWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func write(_ value: PackStreamValue) throws {
        switch value {
        case .null: bytes.append(0xC0)
        case .bool(let b): bytes.append(b ? 0xC3 : 0xC2)
        case .float(let d):
            bytes.append(0xC1)
            append(d.bitPattern, width: 8)
        case .int(let i): writeInt(i)
        case .bytes(let b):
            try header(b.count, tiny: nil, m8: 0xCC, m16: 0xCD, m32: 0xCE)
            bytes.append(contentsOf: b)
        case .string(let s):
            let utf8 = Array(s.utf8)
            try header(utf8.count, tiny: 0x80, m8: 0xD0, m16: 0xD1, m32: 0xD2)
            bytes.append(contentsOf: utf8)
        case .list(let items):
            try header(items.count, tiny: 0x90, m8: 0xD4, m16: 0xD5, m32: 0xD6)
            for item in items { try write(item) }
        case .map(let entries):
            try header(entries.count, tiny: 0xA0, m8: 0xD8, m16: 0xD9, m32: 0xDA)
            for e in entries {
                try write(.string(e.key))
                try write(e.value)
            }
        case .structure(let tag, let fields):
            guard fields.count < 16 else {
                throw ConcordError(.invalidInput, "PackStream structure with \(fields.count) fields (at most 15)", store: "graph")
            }
            bytes.append(0xB0 | UInt8(fields.count))
            bytes.append(tag)
            for f in fields { try write(f) }
        }
    }

    private mutating func writeInt(_ i: Int64) {
        if i >= -16 && i < 128 {
            bytes.append(UInt8(bitPattern: Int8(i)))
        } else if i >= -128 && i < -16 {
            bytes.append(0xC8)
            bytes.append(UInt8(bitPattern: Int8(i)))
        } else if i >= -32768 && i < 32768 {
            bytes.append(0xC9)
            append(UInt64(UInt16(bitPattern: Int16(i))), width: 2)
        } else if i >= -2_147_483_648 && i < 2_147_483_648 {
            bytes.append(0xCA)
            append(UInt64(UInt32(bitPattern: Int32(i))), width: 4)
        } else {
            bytes.append(0xCB)
            append(UInt64(bitPattern: i), width: 8)
        }
    }

    private mutating func header(_ size: Int, tiny: UInt8?, m8: UInt8, m16: UInt8, m32: UInt8) throws {
        if let tiny, size < 16 {
            bytes.append(tiny | UInt8(size))
        } else if size < 0x100 {
            bytes.append(m8)
            bytes.append(UInt8(size))
        } else if size < 0x10000 {
            bytes.append(m16)
            append(UInt64(size), width: 2)
        } else if size < 0x1_0000_0000 {
            bytes.append(m32)
            append(UInt64(size), width: 4)
        } else {
            throw ConcordError(.invalidInput, "PackStream value too large (\(size))", store: "graph")
        }
    }

    private mutating func append(_ v: UInt64, width: Int) {
        for i in (0..<width).reversed() { bytes.append(UInt8(truncatingIfNeeded: v >> (UInt64(i) * 8))) }
    }
}

/// Reads PackStream v1 from a byte buffer.
public struct PackStreamReader {
    let bytes: [UInt8]
    public private(set) var position: Int
    /// Lists, maps and structures nest at most this deep (hostile input cannot exhaust the stack).
    public static let maxDepth = 256
    private var depth = 0

    public init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    public var isAtEnd: Bool { position >= bytes.count }

    public mutating func read() throws -> PackStreamValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else {
            throw ConcordError(.protocolViolation, "PackStream values nested deeper than \(Self.maxDepth) at byte \(position)", store: "graph")
        }
        let marker = try byte()
        switch marker {
        case 0x00...0x7F: return .int(Int64(marker))
        case 0xF0...0xFF: return .int(Int64(Int8(bitPattern: marker)))
        case 0x80...0x8F: return .string(try string(Int(marker & 0x0F)))
        case 0x90...0x9F: return .list(try list(Int(marker & 0x0F)))
        case 0xA0...0xAF: return .map(try map(Int(marker & 0x0F)))
        case 0xB0...0xBF:
            let tag = try byte()
            var fields: [PackStreamValue] = []
            for _ in 0..<Int(marker & 0x0F) { fields.append(try read()) }
            return .structure(tag: tag, fields: fields)
        case 0xC0: return .null
        case 0xC1: return .float(Double(bitPattern: try uint(8)))
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC8: return .int(Int64(Int8(bitPattern: try byte())))
        case 0xC9: return .int(Int64(Int16(bitPattern: UInt16(try uint(2)))))
        case 0xCA: return .int(Int64(Int32(bitPattern: UInt32(try uint(4)))))
        case 0xCB: return .int(Int64(bitPattern: try uint(8)))
        case 0xCC: return .bytes(try take(Int(try uint(1))))
        case 0xCD: return .bytes(try take(Int(try uint(2))))
        case 0xCE: return .bytes(try take(Int(try uint(4))))
        case 0xD0: return .string(try string(Int(try uint(1))))
        case 0xD1: return .string(try string(Int(try uint(2))))
        case 0xD2: return .string(try string(Int(try uint(4))))
        case 0xD4: return .list(try list(Int(try uint(1))))
        case 0xD5: return .list(try list(Int(try uint(2))))
        case 0xD6: return .list(try list(Int(try uint(4))))
        case 0xD8: return .map(try map(Int(try uint(1))))
        case 0xD9: return .map(try map(Int(try uint(2))))
        case 0xDA: return .map(try map(Int(try uint(4))))
        default:
            throw ConcordError(.protocolViolation, "unknown PackStream marker 0x\(String(marker, radix: 16)) at byte \(position - 1)",
                               store: "graph")
        }
    }

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw truncated() }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func uint(_ width: Int) throws -> UInt64 {
        guard position + width <= bytes.count else { throw truncated() }
        var v: UInt64 = 0
        for i in 0..<width { v = v << 8 | UInt64(bytes[position + i]) }
        position += width
        return v
    }

    private mutating func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, position + n <= bytes.count else { throw truncated() }
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    private mutating func string(_ n: Int) throws -> String {
        guard n >= 0, position + n <= bytes.count else { throw truncated() }
        defer { position += n }
        return String(decoding: bytes[position..<(position + n)], as: UTF8.self)
    }

    private mutating func list(_ n: Int) throws -> [PackStreamValue] {
        var out: [PackStreamValue] = []
        out.reserveCapacity(min(n, 1 << 16))
        for _ in 0..<n { out.append(try read()) }
        return out
    }

    private mutating func map(_ n: Int) throws -> [PackStreamEntry] {
        var out: [PackStreamEntry] = []
        out.reserveCapacity(min(n, 1 << 16))
        for _ in 0..<n {
            guard case .string(let key) = try read() else {
                throw ConcordError(.protocolViolation, "PackStream map key is not a string", store: "graph")
            }
            out.append(PackStreamEntry(key, try read()))
        }
        return out
    }

    private func truncated() -> ConcordError {
        ConcordError(.protocolViolation, "PackStream data ends early at byte \(position)", store: "graph")
    }
}
