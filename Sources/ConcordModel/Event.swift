import ConcordCore
import ConcordJSON

/// A workflow event, as producers emit it (DATA-MODEL.md "Event").
public struct Event: Sendable, Hashable {
    public var id: String
    /// The event's own time, ms since the epoch.
    public var timestamp: Int64
    public var type: String
    /// The event it follows; the first event of a run has the run id.
    public var parentId: String
    public var payload: JSON
    public var metadata: EventMetadata

    public init(id: String, timestamp: Int64, type: String, parentId: String, payload: JSON, metadata: EventMetadata) {
        self.id = id
        self.timestamp = timestamp
        self.type = type
        self.parentId = parentId
        self.payload = payload
        self.metadata = metadata
    }

    public var workflowId: String { metadata.workflowId }

    /// True when the parent is the run itself (the run's first event).
    public var parentIsRun: Bool { parentId == metadata.workflowId }

    /// The event as JSON.
    public var json: JSON {
        [
            "id": .string(id), "timestamp": .int(timestamp), "type": .string(type), "parentId": .string(parentId),
            "payload": payload, "metadata": metadata.json,
        ]
    }

    /// The canonical JSON text producers write.
    public var encoded: String { json.encoded() }

    /// Parses and validates an event. Errors say which field is wrong and why.
    public static func parse(_ text: String) throws -> Event {
        try Event(validating: try JSON.parse(text))
    }

    /// Parses and validates an event from raw bytes.
    public static func parse(_ bytes: [UInt8]) throws -> Event {
        try Event(validating: try JSON.parse(bytes))
    }

    /// Validates a JSON value as an event.
    public init(validating json: JSON) throws {
        guard case .object(let o) = json else { throw Self.invalid("an event must be a JSON object, not \(json.typeName)") }
        func string(_ key: String, in obj: [String: JSON], path: String = "") throws -> String {
            guard let v = obj[key] else { throw Self.invalid("missing field \(path)\(key)") }
            guard case .string(let s) = v else { throw Self.invalid("\(path)\(key) must be a string, not \(v.typeName)") }
            guard !s.isEmpty else { throw Self.invalid("\(path)\(key) is empty") }
            return s
        }
        id = try string("id", in: o)
        // Characters, as the audit's event.malformed rule counts them (len()).
        guard id.count <= 200 else { throw Self.invalid("id is longer than 200 characters") }
        guard let ts = o["timestamp"] else { throw Self.invalid("missing field timestamp") }
        guard case .int(let t) = ts, t >= 0 else { throw Self.invalid("timestamp must be a non-negative integer of milliseconds") }
        timestamp = t
        type = try string("type", in: o)
        parentId = try string("parentId", in: o)
        guard let p = o["payload"] else { throw Self.invalid("missing field payload") }
        payload = p
        guard let m = o["metadata"] else { throw Self.invalid("missing field metadata") }
        guard case .object(let mo) = m else { throw Self.invalid("metadata must be an object") }
        metadata = EventMetadata(
            workflowId: try string("workflowId", in: mo, path: "metadata."),
            userId: try string("userId", in: mo, path: "metadata."),
            source: try string("source", in: mo, path: "metadata."),
            version: try string("version", in: mo, path: "metadata."))
        guard parentId != id else { throw Self.invalid("parentId equals the event's own id") }
    }

    static func invalid(_ message: String) -> ConcordError {
        ConcordError(.invalidInput, "invalid event: \(message)")
    }

    /// The run state this event moves its run to, if any.
    public var newRunState: RunState? {
        switch type {
        case "workflowStarted": return .running
        case "workflowCompleted": return .completed
        case "error": return .error
        // The data model's states have no "cancelled": a cancelled run ended without completing.
        case "workflowCancelled": return .error
        case "workflowState":
            return payload["state"]?.stringValue.flatMap(RunState.init(rawValue:))
        default: return nil
        }
    }
}

public struct EventMetadata: Sendable, Hashable {
    public var workflowId: String
    public var userId: String
    public var source: String
    public var version: String

    public init(workflowId: String, userId: String, source: String = "agent", version: String = "1") {
        self.workflowId = workflowId
        self.userId = userId
        self.source = source
        self.version = version
    }

    public var json: JSON {
        ["workflowId": .string(workflowId), "userId": .string(userId), "source": .string(source), "version": .string(version)]
    }
}

/// A run's state as the UI shows it (Redis `state`, graph `state`).
public enum RunState: String, Sendable, CaseIterable {
    case pending, running, completed, error, timedOut
}

/// A draft's status (PostgreSQL `status`) and a run's `contentStatus`.
public enum ContentStatus: String, Sendable, CaseIterable {
    case none, draft, published, discarded
}
