import ConcordRedis
import Foundation

/// The Redis the tests reach: plaintext, or — in `make test`'s TLS pass (CONCORD_TEST_REDIS_TLS=1) — the
/// same server's TLS port, its certificate verified against the local CA. The pass also sets
/// CONCORD_REDIS_CA, so every `concord` the tests run verifies it too.
extension TestStores {
    public static var redisOverTLS: Bool { ProcessInfo.processInfo.environment["CONCORD_TEST_REDIS_TLS"] == "1" }

    /// Database `db` of the test Redis, as this pass reaches it.
    public static func redisURL(db: Int) -> String {
        redisOverTLS ? "rediss://localhost:\(redisTLSPort)/\(db)" : "redis://127.0.0.1:56379/\(db)"
    }

    /// A connection to `url`, trusting the local CA when it is `rediss://`.
    public static func redis(_ url: String, connectTimeout: Double = 5, commandTimeout: Double = 60) throws -> RedisConnection {
        let tls = url.hasPrefix("rediss") ? RedisTLS(caFile: localCA) : RedisTLS()
        return try RedisConnection(url: url, tls: tls, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
    }
}
