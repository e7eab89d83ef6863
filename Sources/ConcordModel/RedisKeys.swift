/// The Redis key names of the data model.
public enum RedisKeys {
    public static let queue = "persistence:queue"
    public static let processing = "persistence:processing"
    public static let confirmed = "persistence:confirmed"
    public static let deadletter = "persistence:deadletter"

    /// The run's event stream.
    public static func events(_ workflowId: String) -> String { "workflow:\(workflowId):events" }
    /// The run's pub/sub channel.
    public static func channel(_ workflowId: String) -> String { "workflow:\(workflowId)" }
    /// The run's status hash.
    public static func status(_ workflowId: String) -> String { "workflow:\(workflowId):status" }

    /// The run id in a `workflow:{id}:events` or `workflow:{id}:status` key.
    public static func workflowId(fromKey key: String) -> String? {
        guard key.hasPrefix("workflow:") else { return nil }
        for suffix in [":events", ":status"] where key.hasSuffix(suffix) {
            let inner = key.dropFirst("workflow:".count).dropLast(suffix.count)
            return inner.isEmpty ? nil : String(inner)
        }
        return nil
    }
}
