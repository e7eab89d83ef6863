import ConcordCore

/// One row of a result: values by column.
public struct GraphRecord: Sendable, Hashable {
    public var columns: [String]
    public var values: [GraphValue]
    public init(columns: [String], values: [GraphValue]) {
        self.columns = columns
        self.values = values
    }
    public subscript(index: Int) -> GraphValue { values[index] }
    public subscript(name: String) -> GraphValue? { columns.firstIndex(of: name).map { values[$0] } }
}

/// A whole result, for small queries.
public struct GraphResult: Sendable {
    public var columns: [String]
    public var records: [GraphRecord]
    public var summary: GraphSummary
}

/// What a query did: counters as the server reports them.
public struct GraphSummary: Sendable, Hashable {
    /// e.g. "nodes-created", "relationships-deleted", "properties-set".
    public var counters: [String: Int64]
    public init(counters: [String: Int64] = [:]) { self.counters = counters }
    public subscript(name: String) -> Int64 { counters[name] ?? 0 }
}

/// A graph database that runs Cypher with parameters.
///
/// Parameters always travel apart from the query text (Bolt sends them as a
/// map; FalkorDB's `CYPHER name=value` prefix is built by an escaping
/// encoder), so a value can never change a query's meaning.
///
/// Transactions differ by engine, and the difference is part of the contract:
/// - Neo4j (Bolt): `BEGIN`/`COMMIT`/`ROLLBACK`; any number of statements,
///   rolled back together when the body throws.
/// - FalkorDB: one `GRAPH.QUERY` is atomic, but `MULTI`/`EXEC` does not roll
///   back. A FalkorDB write transaction therefore holds exactly one write
///   statement (batch through `UNWIND $rows`); reads run as they come, and a
///   second write in the same transaction is refused with an error.
public protocol GraphStore: AnyObject, Sendable {
    /// "neo4j" or "falkordb".
    var engine: String { get }
    /// The URL with its password masked.
    var displayURL: String { get }

    /// Runs `query` and hands each record to `body` as it arrives. On Bolt,
    /// records come `fetchSize` at a time; FalkorDB answers a query in one
    /// reply, so large reads page with `SKIP`/`LIMIT` or a keyset in the query.
    @discardableResult
    func stream(
        _ query: String, parameters: [String: GraphValue], readOnly: Bool, fetchSize: Int,
        _ body: (GraphRecord) throws -> Void
    ) throws -> GraphSummary

    /// Runs `body` in a transaction (see the type's notes on FalkorDB).
    func transaction<T>(readOnly: Bool, _ body: (GraphTransaction) throws -> T) throws -> T

    /// The server's product and version.
    func serverVersion() throws -> String

    /// Closes the connection (also done on deinit).
    func close()

    /// Creates an index on `label.property` unless there is one.
    func ensureIndex(label: String, property: String) throws -> SchemaOutcome

    /// Creates a uniqueness constraint on `label.property` unless there is one;
    /// reports it blocked (and leaves the data alone) when duplicates exist.
    func ensureUnique(label: String, property: String) throws -> SchemaOutcome

    /// Drops the uniqueness constraint on `label.property` if there is one
    /// (the index stays). Returns whether one was dropped.
    func dropUnique(label: String, property: String) throws -> Bool

    /// Waits until every index is built (an index created on a big graph is
    /// built in the background, and until then a lookup scans the label).
    func awaitIndexes(timeout: Double) throws
}

/// Statements inside a transaction.
public protocol GraphTransaction {
    @discardableResult
    func run(_ query: String, parameters: [String: GraphValue]) throws -> GraphResult
}

extension GraphStore {
    /// Runs `query` and returns every record.
    @discardableResult
    public func run(_ query: String, parameters: [String: GraphValue] = [:], readOnly: Bool = false) throws -> GraphResult {
        var records: [GraphRecord] = []
        var columns: [String] = []
        let summary = try stream(query, parameters: parameters, readOnly: readOnly, fetchSize: 1000) {
            if columns.isEmpty { columns = $0.columns }
            records.append($0)
        }
        return GraphResult(columns: columns, records: records, summary: summary)
    }

    /// Reads a large result page by page with a keyset, so neither engine
    /// has to hold it whole. `query` filters on `$after`, orders by the key
    /// and ends with `LIMIT $limit`; `key` reads the key from a record.
    /// Returns the number of records read.
    @discardableResult
    public func streamKeyset(
        _ query: String, parameters: [String: GraphValue] = [:], start: GraphValue, pageSize: Int = 10_000,
        key: (GraphRecord) -> GraphValue, _ body: (GraphRecord) throws -> Void
    ) throws -> Int {
        var after = start
        var total = 0
        while true {
            var params = parameters
            params["after"] = after
            params["limit"] = .int(Int64(pageSize))
            var count = 0
            var last: GraphRecord?
            try stream(query, parameters: params, readOnly: true, fetchSize: pageSize) { record in
                try body(record)
                last = record
                count += 1
            }
            total += count
            guard count == pageSize, let last else { return total }
            after = key(last)
        }
    }

    /// Writes `rows` in batches, each batch one transaction running `query`
    /// with `$rows` bound to the batch (write it as `UNWIND $rows AS row …`).
    /// Returns the summed counters.
    @discardableResult
    public func writeBatches(
        _ query: String, rows: [GraphValue], batchSize: Int = 1000, parameters: [String: GraphValue] = [:]
    ) throws -> GraphSummary {
        var total = GraphSummary()
        var start = 0
        while start < rows.count {
            let end = min(start + batchSize, rows.count)
            var params = parameters
            params["rows"] = .list(Array(rows[start..<end]))
            let summary = try transaction(readOnly: false) { tx in try tx.run(query, parameters: params).summary }
            for (k, v) in summary.counters { total.counters[k, default: 0] += v }
            start = end
        }
        return total
    }
}

/// Opens a graph store from a URL: `bolt://`, `neo4j://`, `falkordb://host:port/GRAPH` or `falkordbs://` (TLS).
public enum Graph {
    /// Another connection to the graph `store` reaches: a Bolt store's sibling (its routing table and
    /// bookmark carried over), else a new connection to `url`.
    public static func another(_ store: any GraphStore, url: String, connectTimeout: Double = 5, caFile: String? = nil) throws -> any GraphStore {
        if let bolt = store as? BoltStore { return try bolt.sibling() }
        return try connect(url: url, connectTimeout: connectTimeout, caFile: caFile)
    }

    /// `caFile`: CA certificate(s) to verify a `bolt+s://` / `neo4j+s://` server with, instead of the system's.
    public static func connect(url: String, connectTimeout: Double = 5, caFile: String? = nil) throws -> any GraphStore {
        let lower = url.lowercased()
        if lower.hasPrefix("falkordb://") || lower.hasPrefix("falkordbs://") {
            if let caFile, lower.hasPrefix("falkordb://") {
                throw ConcordError(.usage, "a CA file (\(caFile)) was given for falkordb://, which is plaintext RESP: use falkordbs:// for TLS")
            }
            return try FalkorDBStore(url: url, connectTimeout: connectTimeout, caFile: caFile)
        }
        if BoltStore.schemes.keys.contains(where: { lower.hasPrefix($0 + "://") }) {
            return try BoltStore(url: url, connectTimeout: connectTimeout, caFile: caFile)
        }
        throw ConcordError(.usage, "unsupported graph URL '\(Redaction.mask(url))': use bolt://, bolt+s://, bolt+ssc://, neo4j:// (and +s, +ssc) falkordb://host:port/GRAPH or falkordbs:// (TLS)")
    }
}
