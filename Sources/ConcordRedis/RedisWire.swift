import CHiredis
import ConcordCore
import ConcordNet
import Foundation

/// The bytes between a `RedisConnection` and one server: commands out, replies in.
///
/// Plaintext goes through hiredis's own context (its socket, buffers and parser).
/// TLS — which Debian 12's hiredis 0.14 lacks — goes through a `TCPSocket` with
/// ConcordCrypto's TLS session, and the replies through hiredis's reply parser
/// (`redisReader`) fed from the decrypted bytes: no second thread, no socket pair,
/// the same reply values as plaintext.
protocol RedisWire: AnyObject {
    /// Queues one command (argv).
    func append(_ args: [any RedisArgument]) throws
    /// Sends what is queued, then reads the next reply.
    func readReply() throws -> RedisReply
    /// Why the wire failed, for messages (nil while it works).
    var failure: String? { get }
    /// The TLS protocol in use ("TLSv1.3"), nil in plaintext.
    var tlsVersion: String? { get }
    func close()
}

/// The arguments as one contiguous buffer with each one's offset and length.
private func flatten(_ args: [any RedisArgument]) -> (bytes: [UInt8], offsets: [Int], lengths: [Int]) {
    var flat: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int] = []
    offsets.reserveCapacity(args.count)
    lengths.reserveCapacity(args.count)
    for a in args {
        let start = flat.count
        a.appendRedisBytes(to: &flat)
        offsets.append(start)
        lengths.append(flat.count - start)
    }
    return (flat, offsets, lengths)
}

/// Plaintext: hiredis's blocking context.
final class HiredisWire: RedisWire {
    private var context: UnsafeMutablePointer<redisContext>?

    init(host: String, port: Int, connectTimeout: Double, commandTimeout: Double) throws {
        let c = redisConnectWithTimeout(host, Int32(port), Self.timeval(connectTimeout))
        guard let c else { throw ConcordError(.connection, "out of memory connecting to \(host):\(port)", store: "redis") }
        if c.pointee.err != 0 {
            let reason = Self.errorString(c)
            redisFree(c)
            throw ConcordError(.connection, reason, store: "redis")
        }
        redisSetTimeout(c, Self.timeval(commandTimeout))
        context = c
    }

    deinit { close() }

    var tlsVersion: String? { nil }

    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    var failure: String? {
        guard let c = context else { return "not connected" }
        return c.pointee.err != 0 ? Self.errorString(c) : nil
    }

    func append(_ args: [any RedisArgument]) throws {
        guard let c = context else { throw ConcordError(.connection, "not connected", store: "redis") }
        var (flat, offsets, lengths) = flatten(args)
        flat.append(0)
        let status = flat.withUnsafeBufferPointer { buf -> Int32 in
            let base = UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return pointers.withUnsafeMutableBufferPointer { p in
                lengths.withUnsafeBufferPointer { l in
                    redisAppendCommandArgv(c, Int32(args.count), p.baseAddress, l.baseAddress)
                }
            }
        }
        if status != concord_redis_ok() { throw ConcordError(.connection, failure ?? "cannot queue the command", store: "redis") }
    }

    func readReply() throws -> RedisReply {
        guard let c = context else { throw ConcordError(.connection, "not connected", store: "redis") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(c, &raw) == concord_redis_ok(), let raw else {
            throw ConcordError(.connection, failure ?? "no reply", store: "redis")
        }
        defer { freeReplyObject(raw) }
        return RedisWireReply.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: &c.pointee.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    static func timeval(_ seconds: Double) -> Glibc.timeval {
        Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
    }
}

/// TLS (or any byte stream): commands written as RESP by Swift, replies parsed by hiredis's `redisReader`.
final class StreamWire: RedisWire {
    private let socket: TCPSocket
    private let reader: UnsafeMutablePointer<redisReader>
    private var pending: [UInt8] = []
    private var input: UnsafeMutableRawBufferPointer
    private(set) var failure: String?

    init(socket: TCPSocket) throws {
        guard let r = redisReaderCreate() else { throw ConcordError(.connection, "out of memory creating a reply reader", store: "redis") }
        self.socket = socket
        tlsVersion = socket.tls?.version
        reader = r
        input = .allocate(byteCount: 1 << 18, alignment: 8)
        pending.reserveCapacity(1 << 12)
    }

    deinit {
        redisReaderFree(reader)
        input.deallocate()
        socket.close()
    }

    let tlsVersion: String?

    func close() {
        socket.close()
        if failure == nil { failure = "closed" }
    }

    func append(_ args: [any RedisArgument]) throws {
        // RESP: *argc, then each argument as $len CRLF bytes CRLF.
        pending.append(UInt8(ascii: "*"))
        pending.append(contentsOf: String(args.count).utf8)
        pending.append(contentsOf: [0x0D, 0x0A])
        var arg: [UInt8] = []
        for a in args {
            arg.removeAll(keepingCapacity: true)
            a.appendRedisBytes(to: &arg)
            pending.append(UInt8(ascii: "$"))
            pending.append(contentsOf: String(arg.count).utf8)
            pending.append(contentsOf: [0x0D, 0x0A])
            pending.append(contentsOf: arg)
            pending.append(contentsOf: [0x0D, 0x0A])
        }
    }

    func readReply() throws -> RedisReply {
        do {
            if !pending.isEmpty {
                try socket.write(pending)
                pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
            }
            while true {
                var raw: UnsafeMutableRawPointer?
                guard redisReaderGetReply(reader, &raw) == concord_redis_ok() else {
                    let why = withUnsafeBytes(of: &reader.pointee.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                    failure = "unreadable reply: \(why)"
                    socket.close()
                    throw ConcordError(.protocolViolation, failure!, store: "redis")
                }
                if let raw {
                    defer { freeReplyObject(raw) }
                    return RedisWireReply.convert(raw.assumingMemoryBound(to: redisReply.self))
                }
                let n = try socket.receive(into: input)
                let fed = redisReaderFeed(reader, input.baseAddress!.assumingMemoryBound(to: CChar.self), n)
                if fed != concord_redis_ok() { throw ConcordError(.protocolViolation, "the reply reader refused input", store: "redis") }
            }
        } catch let e as ConcordError where e.code == .connection {
            failure = e.message
            socket.close()
            throw e
        }
    }
}

enum RedisWireReply {
    static func convert(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let type = r.pointee.type
        if type == concord_redis_reply_integer() { return .integer(r.pointee.integer) }
        if type == concord_redis_reply_nil() { return .null }
        if type == concord_redis_reply_string() {
            guard let str = r.pointee.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: str, count: r.pointee.len)))
        }
        if type == concord_redis_reply_status() || type == concord_redis_reply_error() {
            let s = r.pointee.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.pointee.len), as: UTF8.self) } ?? ""
            return type == concord_redis_reply_status() ? .status(s) : .error(s)
        }
        if type == concord_redis_reply_array() {
            var out: [RedisReply] = []
            out.reserveCapacity(r.pointee.elements)
            for i in 0..<r.pointee.elements { out.append(convert(r.pointee.element[i]!)) }
            return .array(out)
        }
        return .null
    }
}
