/// The bucket of a run id: what `--partition I/N` splits by, computed the
/// same way in Swift, in PostgreSQL SQL (`RunBucket.sql`) and stored on graph
/// nodes as `run_bucket` (FalkorDB's Cypher has no hash function).
///
/// bucket = the first two bytes of SHA-256(UTF-8 of the run id), big-endian,
/// modulo 1024; a run is in partition I of N when bucket % N == I.
public enum RunBucket {
    public static let count = 1024
    /// The graph property holding a node's bucket (of `workflow_id` on `:Node`, of `id` on `:WorkflowRun`).
    public static let property = "run_bucket"

    public static func of(_ run: String) -> Int {
        let d = SHA256.digest(run)
        return (Int(d[0]) << 8 | Int(d[1])) % count
    }

    /// Whether `run` falls in partition `index` of `partitions`.
    public static func contains(_ run: String, index: Int, of partitions: Int) -> Bool {
        partitions <= 1 || of(run) % partitions == index
    }

    /// A PostgreSQL expression for the bucket of the text expression `column`
    /// (PostgreSQL 11+: `sha256(bytea)`).
    public static func sql(_ column: String) -> String {
        let h = "sha256(convert_to((\(column))::text, 'UTF8'))"
        return "(((get_byte(\(h), 0) & 3) * 256 + get_byte(\(h), 1)))"
    }
}
