import ConcordCore
import ConcordCrypto
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

/// Redis as production runs it: TLS (verified, mutual, refused), ACL users, against real redis-servers
/// started here with certificates made at test time.
@Suite struct RedisTLSTests {
    static func failure(_ body: () throws -> Void) -> ConcordError? {
        do { try body(); return nil } catch let e as ConcordError { return e } catch { return ConcordError(.server, "\(error)") }
    }

    /// Commands, pipelines, transactions, large and binary values and a reconnection, over TLS, exactly as in plaintext.
    @Test func everyKindOfCallWorksOverTLS() throws {
        let r = try RedisConnection(url: "rediss://localhost:\(TestStores.redisTLSPort)/70", tls: RedisTLS(caFile: TestStores.localCA))
        #expect(r.tlsVersion == "TLSv1.3")
        let k = TestStores.unique("tls")
        defer { _ = try? r.run("DEL", k, k + ":l", k + ":s") }
        // 3 MB crosses many TLS records and the reply reader's buffer.
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        _ = try r.run("SET", k, big)
        #expect(try r.run("GET", k).bytes == big)
        let replies = try r.pipeline((0..<20_000).map { ["RPUSH", k + ":l", "e\($0)\u{0}é"] })
        #expect(replies.last?.int == 20_000)
        var n = 0
        _ = try r.lrange(k + ":l", batch: 3_000) { n += $0.count }
        #expect(n == 20_000)
        let t = try r.transaction(watch: [k + ":s"], [["XADD", k + ":s", "*", "f", "v"], ["XLEN", k + ":s"]])
        #expect(t?.last?.int == 1)
        // The server drops us: the first call says so, the next reconnects over TLS and selects the database again.
        let admin = try RedisConnection(url: "redis://127.0.0.1:56379/0")
        _ = try admin.run("CLIENT", "KILL", "ID", try r.run("CLIENT", "ID").int!)
        #expect(Self.failure { _ = try r.run("PING") }?.code == .connection)
        #expect(try r.run("EXISTS", k).int == 1)
        #expect((try r.run("CLIENT", "INFO").string ?? "").contains("db=70"))
    }

    @Test func untrustedWrongHostAndWrongPortAreNamed() throws {
        let certs = try TestCertificates()
        // The system's CAs do not know the test CA.
        let untrusted = Self.failure { _ = try RedisConnection(url: "rediss://127.0.0.1:\(TestStores.redisTLSPort)/0") }
        #expect(untrusted?.code == .connection)
        #expect(untrusted?.message.contains("not trusted") == true && untrusted?.message.contains("--redis-ca") == true, "\(String(describing: untrusted))")
        // A CA that did not sign it.
        let other = Self.failure { _ = try RedisConnection(url: "rediss://127.0.0.1:\(TestStores.redisTLSPort)/0", tls: RedisTLS(caFile: certs.ca)) }
        #expect(other?.message.contains("not trusted") == true, "\(String(describing: other))")
        // A certificate for another name.
        let elsewhere = try PrivateRedis(tls: certs, serverCert: "elsewhere")
        let host = Self.failure { _ = try RedisConnection(url: elsewhere.url(), tls: RedisTLS(caFile: certs.ca)) }
        #expect(host?.code == .connection)
        #expect(host?.message.contains("is not for 127.0.0.1") == true, "\(String(describing: host))")
        // TLS to the plaintext port, plaintext to the TLS port: each says which it is, within the connect timeout.
        let start = Date()
        let toPlain = Self.failure { _ = try RedisConnection(url: "rediss://127.0.0.1:56379/0", tls: RedisTLS(caFile: TestStores.localCA), connectTimeout: 1) }
        #expect(toPlain?.message.contains("plaintext port") == true && toPlain?.message.contains("redis://") == true, "\(String(describing: toPlain))")
        #expect(Date().timeIntervalSince(start) < 5)
        let toTLS = Self.failure { _ = try RedisConnection(url: "redis://127.0.0.1:\(TestStores.redisTLSPort)/0") }
        #expect(toTLS?.code == .connection)
        #expect(toTLS?.message.contains("TLS port") == true && toTLS?.message.contains("rediss://") == true, "\(String(describing: toTLS))")
        // Insecure only by its own choice: the same untrusted server accepted.
        let insecure = try RedisConnection(url: elsewhere.url(), tls: RedisTLS(insecure: true))
        #expect(try insecure.run("PING") == .status("PONG"))
    }

    @Test func mutualTLS() throws {
        let certs = try TestCertificates()
        let server = try PrivateRedis(tls: certs, authClients: "yes")
        let none = Self.failure {
            let r = try RedisConnection(url: server.url(), tls: RedisTLS(caFile: certs.ca))
            _ = try r.run("PING")
        }
        #expect(none?.code == .connection)
        #expect(none?.message.contains("requires a client certificate") == true && none?.message.contains("--redis-cert") == true, "\(String(describing: none))")
        let (cert, key) = certs.cert("client")
        let r = try RedisConnection(url: server.url(), tls: RedisTLS(caFile: certs.ca, identity: TLSIdentity(certificateFile: cert, keyFile: key)))
        #expect(try r.run("PING") == .status("PONG"))
        // A certificate the server's CA did not sign.
        let (selfCert, selfKey) = certs.cert("selfsigned")
        let refused = Self.failure {
            let r = try RedisConnection(url: server.url(), tls: RedisTLS(caFile: certs.ca, identity: TLSIdentity(certificateFile: selfCert, keyFile: selfKey)))
            _ = try r.run("PING")
        }
        #expect(refused?.code == .connection)
        #expect(refused?.message.contains("refused the client certificate") == true, "\(String(describing: refused))")
        // A key that is not the certificate's.
        let mismatch = Self.failure { _ = try RedisConnection(url: server.url(), tls: RedisTLS(caFile: certs.ca, identity: TLSIdentity(certificateFile: cert, keyFile: selfKey))) }
        #expect(mismatch?.message.contains("does not match") == true, "\(String(describing: mismatch))")
    }

    /// ACL users: AUTH with a user name, NOAUTH, WRONGPASS and NOPERM as clear errors naming the command, the password never shown.
    @Test func aclUsers() throws {
        let server = try PrivateRedis(extra: ["--user", "default", "off", "--user", "reader", "on", ">reader-secret-pw", "~*", "-@all", "+@read", "+@connection",
                                              "--user", "writer", "on", ">writer-secret-pw", "~*", "&*", "+@all", "-@dangerous"])
        let reader = try RedisConnection(url: server.url(user: "reader", password: "reader-secret-pw"))
        #expect(try reader.run("GET", "k") == .null)
        let denied = Self.failure { _ = try reader.run("SET", "k", "v") }
        #expect(denied?.code == .permission)
        #expect(denied?.query == "SET" && denied?.message.contains("user 'reader' may not run SET") == true, "\(String(describing: denied))")
        let inTransaction = Self.failure { _ = try reader.transaction([["XADD", "s", "*", "f", "v"]]) }
        #expect(inTransaction?.code == .permission && inTransaction?.query == "MULTI", "\(inTransaction.map { "\($0)" } ?? "no error")")
        let wrong = Self.failure { _ = try RedisConnection(url: server.url(user: "reader", password: "not-it-pw")) }
        #expect(wrong?.code == .authentication && wrong?.serverCode == "WRONGPASS")
        #expect(!"\(wrong!)".contains("not-it-pw") && "\(wrong!)".contains("user 'reader'"))
        let anonymous = Self.failure { _ = try RedisConnection(url: server.url()) }
        #expect(anonymous?.code == .authentication && anonymous?.message.contains("requires authentication") == true, "\(String(describing: anonymous))")
        let writer = try RedisConnection(url: server.url(3, user: "writer", password: "writer-secret-pw"))
        #expect(try writer.run("SET", "k", "v") == .status("OK"))
        #expect(Self.failure { _ = try writer.run("FLUSHALL") }?.code == .permission)
        #expect(!"\(writer.address)".contains("secret"))
    }
}
