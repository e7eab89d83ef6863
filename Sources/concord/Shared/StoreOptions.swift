import ArgumentParser
import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordPostgres
import ConcordRedis
import Foundation

/// The three store URLs, shared by every command that touches the stores.
/// Each flag falls back to its environment variable, then to the local
/// services that `make services` starts.
struct StoreOptions: ParsableArguments {
    static let defaultPostgres = "postgresql://postgres@127.0.0.1:55432/concord"
    static let defaultRedis = "redis://127.0.0.1:56379/0"
    static let defaultGraph = "falkordb://127.0.0.1:56380/concord"

    @Option(name: .long, help: "PostgreSQL URL or conninfo (env CONCORD_POSTGRES_URL; PG* variables honoured).")
    var postgres: String?

    @Option(name: .long, help: "Redis URL: redis://[user:password@]host:port[/db], rediss://… (TLS), redis+sentinel://[user:password@]host1:26379,host2:26379/MASTER[/db] or rediss+sentinel://… (env CONCORD_REDIS_URL).")
    var redis: String?

    @Option(name: .long, help: "PEM file of the CA(s) that sign the Redis servers' certificates, for rediss:// (env CONCORD_REDIS_CA; default: the system's CAs).")
    var redisCa: String?

    @Option(name: .long, help: "Client certificate (PEM) for Redis servers that require mutual TLS (env CONCORD_REDIS_CERT); with --redis-key.")
    var redisCert: String?

    @Option(name: .long, help: "The client certificate's private key (PEM, unencrypted) (env CONCORD_REDIS_KEY).")
    var redisKey: String?

    @Flag(name: .long, help: "rediss:// without verifying the server's certificate: encryption without authentication. Only by this flag.")
    var redisTlsInsecure = false

    @Option(name: .long, help: "Graph URL: bolt://, neo4j://, bolt+s:// / neo4j+s:// (TLS, certificate verified), bolt+ssc:// / neo4j+ssc:// (TLS, any certificate), falkordb://host:port/GRAPH or falkordbs://… (TLS) (env CONCORD_GRAPH_URL).")
    var graph: String?

    @Option(name: .long, help: "PEM file of the CA(s) that sign the graph server's certificate, for bolt+s://, neo4j+s:// and falkordbs:// (env CONCORD_GRAPH_CA; default: the system's CAs).")
    var graphCa: String?

    @Option(name: .long, help: "Seconds to wait for each store to accept a connection.")
    var connectTimeout: Double = 5

    var postgresURL: String { postgres ?? env("CONCORD_POSTGRES_URL") ?? Self.defaultPostgres }
    var redisURL: String { redis ?? env("CONCORD_REDIS_URL") ?? Self.defaultRedis }
    var graphURL: String { graph ?? env("CONCORD_GRAPH_URL") ?? Self.defaultGraph }
    var graphCAFile: String? { graphCa ?? env("CONCORD_GRAPH_CA") }

    private func env(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func connectPostgres() throws -> PostgresConnection {
        try PostgresConnection(url: postgresURL, connectTimeout: Int(connectTimeout.rounded(.up)))
    }

    /// How to speak TLS to Redis, from the flags and their environment variables.
    func redisTLS() throws -> RedisTLS {
        let ca = redisCa ?? env("CONCORD_REDIS_CA"), cert = redisCert ?? env("CONCORD_REDIS_CERT"), key = redisKey ?? env("CONCORD_REDIS_KEY")
        if (cert == nil) != (key == nil) {
            throw ConcordError(.usage, "a client certificate needs both --redis-cert and --redis-key (or CONCORD_REDIS_CERT and CONCORD_REDIS_KEY)")
        }
        let address = try RedisAddress(parsing: redisURL)
        // The flags contradict a plaintext URL; the environment's settings simply do not apply to one.
        if !address.tls, redisCa != nil || redisCert != nil || redisKey != nil || redisTlsInsecure {
            throw ConcordError(.usage, "TLS options were given for \(address), which is plaintext: use rediss:// (or rediss+sentinel://)")
        }
        if !address.tls { return RedisTLS() }
        if redisTlsInsecure, ca != nil {
            throw ConcordError(.usage, "--redis-tls-insecure and a CA file (--redis-ca / CONCORD_REDIS_CA) contradict each other: choose one")
        }
        return RedisTLS(caFile: ca, identity: cert.map { TLSIdentity(certificateFile: $0, keyFile: key!) }, insecure: redisTlsInsecure)
    }

    func connectRedis() throws -> RedisConnection {
        try RedisConnection(url: redisURL, tls: try redisTLS(), connectTimeout: connectTimeout)
    }

    func connectGraph() throws -> any GraphStore {
        try Graph.connect(url: graphURL, connectTimeout: connectTimeout, caFile: graphCAFile)
    }
}
