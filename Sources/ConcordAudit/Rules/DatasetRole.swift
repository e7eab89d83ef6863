import ConcordCore

/// What a dataset is to Concord's own commands — restore, rebuild, the maintenance chores, the repair
/// actions — which read and write the seed's data model itself: the records of the role, whatever the
/// catalog calls the dataset. A dataset takes a role with `role:` in `datasets.yaml`; one that declares none
/// takes the role whose conventional name it has (a catalog written before roles keeps working). A command
/// that needs a role the catalog does not give refuses to run (exit 2), naming it.
public enum DatasetRole: String, Sendable, CaseIterable, Hashable {
    case eventStreams = "event-streams"
    case queue
    case processing
    case deadLetters = "dead-letters"
    case confirmed
    case runStatus = "run-status"
    case graphEvents = "graph-events"
    case graphRuns = "graph-runs"
    case parentEdges = "parent-edges"
    case drafts
    case draftHistory = "draft-history"
    case publications
    case githubPublications = "github-publications"

    /// The name the shipped catalog gives the dataset of this role.
    public var conventionalName: String {
        switch self {
        case .eventStreams: "redis.streams"
        case .queue: "redis.queue"
        case .processing: "redis.processing"
        case .deadLetters: "redis.deadletter"
        case .confirmed: "redis.confirmed"
        case .runStatus: "redis.status"
        case .graphEvents: "graph.nodes"
        case .graphRuns: "graph.runs"
        case .parentEdges: "graph.edges"
        case .drafts: "postgres.drafts"
        case .draftHistory: "postgres.draft_history"
        case .publications: "postgres.publications"
        case .githubPublications: "github.publications"
        }
    }

    /// What a dataset of this role holds, as its declaration must say it.
    public var expected: String {
        switch self {
        case .eventStreams: "a Redis stream per run (type: stream, a pattern with the run's capture)"
        case .queue, .processing, .deadLetters: "a Redis list (type: list)"
        case .confirmed: "a Redis sorted set (type: zset)"
        case .runStatus: "a Redis hash per run (type: hash)"
        case .graphEvents, .graphRuns: "a graph label (label:)"
        case .parentEdges: "a graph relationship (relationship:)"
        case .drafts, .draftHistory, .publications: "a PostgreSQL table (table:)"
        case .githubPublications: "GitHub's publications (type: publications)"
        }
    }

    /// Whether a dataset read from `source` can play this role.
    public func accepts(_ source: DatasetSpec.Source) -> Bool {
        switch (self, source) {
        case (.eventStreams, .redisStream), (.queue, .redisList), (.processing, .redisList), (.deadLetters, .redisList),
             (.confirmed, .redisZSet), (.runStatus, .redisHash), (.graphEvents, .graphLabel), (.graphRuns, .graphLabel),
             (.parentEdges, .graphRelationship), (.drafts, .postgresTable), (.draftHistory, .postgresTable),
             (.publications, .postgresTable), (.githubPublications, .githubPublications):
            true
        default: false
        }
    }
}

extension DatasetCatalog {
    /// The dataset playing `role`, if the catalog has one.
    public func dataset(_ role: DatasetRole) -> DatasetSpec? { roles[role].flatMap { specs[$0] } }

    /// The dataset playing `role`, or a usage error (exit 2) saying that `command` needs it and how to declare it.
    public func require(_ role: DatasetRole, by command: String) throws -> DatasetSpec {
        guard let spec = dataset(role) else {
            throw ConcordError(.usage, "\(command) needs the dataset of role '\(role.rawValue)' (\(role.expected)); the catalog has none: "
                + "give one `role: \(role.rawValue)` in datasets.yaml")
        }
        return spec
    }

    /// The roles of the datasets: declared ones, then conventional names for the roles no dataset declares.
    static func assignRoles(_ specs: [String: DatasetSpec], declared: [String: DatasetRole]) -> [DatasetRole: String] {
        var roles: [DatasetRole: String] = [:]
        for (name, role) in declared { roles[role] = name }
        for role in DatasetRole.allCases where roles[role] == nil {
            let name = role.conventionalName
            if let spec = specs[name], declared[name] == nil, role.accepts(spec.source) { roles[role] = name }
        }
        return roles
    }
}
