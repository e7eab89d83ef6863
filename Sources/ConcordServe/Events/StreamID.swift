/// A Redis stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
public struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var ms: UInt64
    public var seq: UInt64

    public static let zero = StreamID(ms: 0, seq: 0)

    public init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    /// Parses `ms-seq` (a bare `ms` means `ms-0`, as Redis reads it); nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let ms = UInt64(parts[0]), parts[0].allSatisfy(\.isASCII) else { return nil }
        var seq: UInt64 = 0
        if parts.count == 2 {
            guard let s = UInt64(parts[1]), parts[1].allSatisfy(\.isASCII) else { return nil }
            seq = s
        }
        self.ms = ms
        self.seq = seq
    }

    public var description: String { "\(ms)-\(seq)" }

    public static func < (a: StreamID, b: StreamID) -> Bool { (a.ms, a.seq) < (b.ms, b.seq) }
}

/// Where a client resumes: the SSE `Last-Event-ID` it sent.
///
/// Events still in the run's Redis stream carry their stream id; events the
/// stream has trimmed, sent from the graph, carry `graph:<event id>` (the
/// graph keeps no stream ids). A graph id resumes after that event in the
/// graph's part of the history, then the whole stream follows.
public enum ResumePoint: Sendable, Equatable {
    case start
    case stream(StreamID)
    case graph(eventId: String)

    /// Parses a `Last-Event-ID` header value; nil when it is neither form.
    public init?(lastEventId: String?) {
        guard let raw = lastEventId?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
            self = .start
            return
        }
        if raw.hasPrefix(SSEMessage.graphIdPrefix) {
            let id = String(raw.dropFirst(SSEMessage.graphIdPrefix.count))
            guard !id.isEmpty else { return nil }
            self = .graph(eventId: id)
        } else if let id = StreamID(raw) {
            self = .stream(id)
        } else {
            return nil
        }
    }
}

import Foundation
