import ConcordJSON
import Foundation

/// A kept value in 8 bytes: an integer inline, a string as its index in the
/// audit's string table (equal strings are equal cells), anything else boxed
/// in the table's side list. Rows of cells are what the engine keeps per
/// record, so a million events fit in a few hundred megabytes.
struct Cell: Hashable, Sendable {
    let raw: UInt64

    static let tagShift: UInt64 = 62
    static let payloadMask: UInt64 = (1 << 62) - 1
    static let null = Cell(raw: 3 << 62)
    static let falseCell = Cell(raw: 3 << 62 | 1)
    static let trueCell = Cell(raw: 3 << 62 | 2)

    var tag: UInt64 { raw >> Cell.tagShift }
    var isNull: Bool { self == .null }
    var isInt: Bool { tag == 0 }
    var isString: Bool { tag == 1 }
    var isBoxed: Bool { tag == 2 }
    var index: Int { Int(raw & Cell.payloadMask) }
    var int: Int64 {
        // Sign-extend the 62-bit payload.
        Int64(bitPattern: raw << 2) >> 2
    }

    static func int(_ i: Int64) -> Cell? {
        guard i >= -(1 << 61), i < (1 << 61) else { return nil }
        return Cell(raw: UInt64(bitPattern: i) & payloadMask)
    }
}

/// The audit's string table and boxed values; shared by every consumer, safe from several threads.
final class CellTable: @unchecked Sendable {
    private let lock = NSLock()
    private let strings = StringInterner()
    fileprivate var stringsCount: Int { strings.count }
    private var boxed: [JSON] = []

    func cell(_ v: JSON) -> Cell {
        switch v {
        case .null: return .null
        case .bool(let b): return b ? .trueCell : .falseCell
        case .int(let i): if let c = Cell.int(i) { return c }
        case .string(var s):
            return s.withUTF8 { bytes in
                lock.lock(); defer { lock.unlock() }
                return Cell(raw: 1 << 62 | UInt64(strings.intern(bytes)))
            }
        default: break
        }
        lock.lock(); defer { lock.unlock() }
        boxed.append(v)
        return Cell(raw: 2 << 62 | UInt64(boxed.count - 1))
    }

    func json(_ c: Cell) -> JSON {
        switch c.tag {
        case 0: return .int(c.int)
        case 1: lock.lock(); defer { lock.unlock() }; return .string(strings.string(c.index))
        case 2: lock.lock(); defer { lock.unlock() }; return boxed[c.index]
        default: return c == .null ? .null : .bool(c == .trueCell)
        }
    }

    /// A key as text; nil for null (a record without the key is not judged).
    func text(_ c: Cell) -> String? {
        switch c.tag {
        case 1: lock.lock(); defer { lock.unlock() }; return strings.string(c.index)
        case 0: return String(c.int)
        default: return c.isNull ? nil : json(c).textValue
        }
    }

    func equal(_ a: Cell, _ b: Cell) -> Bool {
        if a == b { return true }
        guard a.isBoxed || b.isBoxed else { return false }
        return JSON.looselyEqual(json(a), json(b))
    }

    func order(_ a: Cell, _ b: Cell) -> Int? {
        if a.isInt && b.isInt { return a.int < b.int ? -1 : (a.int == b.int ? 0 : 1) }
        return JSON.order(json(a), json(b))
    }
}

extension CellTable {
    /// How many distinct strings the table holds (the range of string cells' indices).
    var stringCount: Int { lock.lock(); defer { lock.unlock() }; return stringsCount }

    /// Whether any record fed so far carried this string.
    func contains(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { bytes in lock.lock(); defer { lock.unlock() }; return strings.find(bytes) != nil }
    }
}

/// Distinct strings by their UTF-8 bytes, numbered in the order first seen:
/// the bytes in 1 MiB chunks, a location per string and an open-addressing
/// table of numbers. About 20 bytes besides the text per string, where a
/// Swift `[String: Int]` plus `[String]` took ~80 (a million events' ids,
/// digests and entry ids were ~300 MB of a live audit's peak). Strings are
/// equal when their bytes are (as the stores compare them), not by Unicode
/// canonical equivalence.
final class StringInterner {
    private var chunks: [UnsafeMutablePointer<UInt8>] = []
    private var used = 0
    private var capacity = 0
    /// Per string: chunk << 32 | offset, and its length.
    private var locations: [UInt64] = []
    private var lengths: [UInt32] = []
    /// Numbers + 1 (0: empty), by hash.
    private var slots: [Int32] = Array(repeating: 0, count: 1024)

    static let chunkSize = 1 << 20

    deinit { for c in chunks { c.deallocate() } }

    var count: Int { locations.count }

    @inline(__always) static func hash(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(b.count)
        var i = 0
        if let base = b.baseAddress {
            let raw = UnsafeRawPointer(base)
            while b.count - i >= 8 {
                h = ((h << 23 | h >> 41) ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9FB2_1C65_1E98_DF25
                i += 8
            }
            var tail: UInt64 = 0
            while i < b.count { tail = tail << 8 | UInt64(base[i]); i += 1 }
            h = ((h << 23 | h >> 41) ^ tail) &* 0x9FB2_1C65_1E98_DF25
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    @inline(__always) func bytes(_ n: Int) -> UnsafeBufferPointer<UInt8> {
        let loc = locations[n]
        return UnsafeBufferPointer(start: chunks[Int(loc >> 32)] + Int(loc & 0xFFFF_FFFF), count: Int(lengths[n]))
    }

    func string(_ n: Int) -> String { String(decoding: bytes(n), as: UTF8.self) }

    func find(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        let mask = slots.count - 1
        var i = Self.hash(b) & mask
        while true {
            let s = Int(slots[i])
            if s == 0 { return nil }
            if Self.same(bytes(s - 1), b) { return s - 1 }
            i = (i + 1) & mask
        }
    }

    @inline(__always) static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// The string's number, adding it when new.
    func intern(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        let mask = slots.count - 1
        var i = Self.hash(b) & mask
        while true {
            let s = Int(slots[i])
            if s == 0 { break }
            if Self.same(bytes(s - 1), b) { return s - 1 }
            i = (i + 1) & mask
        }
        let n = locations.count
        store(b)
        slots[i] = Int32(n + 1)
        if locations.count * 10 > slots.count * 7 { grow() }
        return n
    }

    private func store(_ b: UnsafeBufferPointer<UInt8>) {
        if capacity - used < b.count || chunks.isEmpty {
            let size = max(Self.chunkSize, b.count)
            chunks.append(UnsafeMutablePointer<UInt8>.allocate(capacity: size))
            used = 0
            capacity = size
        }
        if let base = b.baseAddress, b.count > 0 { (chunks[chunks.count - 1] + used).update(from: base, count: b.count) }
        locations.append(UInt64(chunks.count - 1) << 32 | UInt64(used))
        lengths.append(UInt32(b.count))
        used += b.count
    }

    private func grow() {
        var next = [Int32](repeating: 0, count: slots.count * 2)
        let mask = next.count - 1
        for n in 0..<locations.count {
            var i = Self.hash(bytes(n)) & mask
            while next[i] != 0 { i = (i + 1) & mask }
            next[i] = Int32(n + 1)
        }
        slots = next
    }
}

/// A growing list of cells kept in chunks of 64Ki: appending never copies
/// what is stored, and a list is at most one chunk larger than its cells
/// (an array doubling its storage held up to twice a million events' rows,
/// and both copies while it grew).
struct CellColumn {
    private var chunks: [[Cell]] = []
    private(set) var count = 0
    static let shift = 16
    static let mask = (1 << shift) - 1

    @inline(__always) subscript(i: Int) -> Cell { chunks[i >> Self.shift][i & Self.mask] }

    @inline(__always) mutating func append(_ c: Cell) {
        if count & Self.mask == 0 {
            var chunk: [Cell] = []
            chunk.reserveCapacity(1 << Self.shift)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(c)
        count += 1
    }
}

/// A set of cells: a bitset over string indices (the common case: ids),
/// a hash set for anything else. Grows as strings are interned.
struct CellSet {
    private var bits: [UInt64] = []
    private var others: Set<Cell> = []
    private(set) var count = 0

    @inline(__always) func contains(_ c: Cell) -> Bool {
        guard c.isString else { return others.contains(c) }
        let i = c.index
        return i >> 6 < bits.count && bits[i >> 6] & (1 << UInt64(i & 63)) != 0
    }

    mutating func insert(_ c: Cell) {
        guard c.isString else {
            if others.insert(c).inserted { count += 1 }
            return
        }
        let i = c.index, w = i >> 6
        if w >= bits.count { bits.append(contentsOf: repeatElement(0, count: max(w + 1 - bits.count, bits.count / 2 + 1))) }
        let mask: UInt64 = 1 << UInt64(i & 63)
        if bits[w] & mask == 0 { bits[w] |= mask; count += 1 }
    }

    /// Every cell in the set.
    func forEach(_ body: (Cell) -> Void) {
        for (w, word) in bits.enumerated() where word != 0 {
            var x = word
            while x != 0 {
                let b = x.trailingZeroBitCount
                body(Cell(raw: 1 << Cell.tagShift | UInt64(w << 6 + b)))
                x &= x - 1
            }
        }
        for c in others { body(c) }
    }

    mutating func formUnion(_ other: CellSet) {
        if bits.count < other.bits.count { bits.append(contentsOf: repeatElement(0, count: other.bits.count - bits.count)) }
        for w in 0..<other.bits.count { bits[w] |= other.bits[w] }
        others.formUnion(other.others)
        count = bits.reduce(0) { $0 + $1.nonzeroBitCount } + others.count
    }
}

/// A map from cells to small integers (row or group indices): a dense array
/// over string indices, a dictionary for anything else.
struct CellIndexMap {
    private var dense: [Int32]
    private var others: [Cell: Int32] = [:]

    init(strings: Int) { dense = [Int32](repeating: -1, count: strings) }

    @inline(__always) subscript(c: Cell) -> Int? {
        get {
            if c.isString, c.index < dense.count { let v = dense[c.index]; return v < 0 ? nil : Int(v) }
            return others[c].map(Int.init)
        }
        set {
            if c.isString, c.index < dense.count { dense[c.index] = Int32(newValue ?? -1) } else { others[c] = newValue.map(Int32.init) }
        }
    }
}
