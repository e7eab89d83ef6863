import Foundation
import NIOCore

/// Why a client's stream ended, as the client (a last comment, when it still
/// reads) and the metrics see it.
public enum ClientEnd: String, Sendable {
    /// It stopped reading and its queue passed the limit: dropped, never buffered without bound.
    case tooSlow = "too_slow"
    /// The server is shutting down (SIGTERM/SIGINT).
    case shutdown
    /// The client went away (its connection closed or a write failed).
    case gone
}

/// One connected SSE client: the live messages waiting for it, in order.
///
/// The run's hub appends (`deliver`), the connection's writer takes
/// (`next`). The queue is bounded in bytes: a client whose queue passes the
/// limit is ended as too slow and its connection closed, so one stalled
/// reader never holds memory or slows the others.
public final class EventClient: @unchecked Sendable {
    // @unchecked: every var is read and written under `lock`.
    public enum Next: Sendable {
        case messages([ByteBuffer])
        case end(ClientEnd)
    }

    public let run: String
    let limit: Int
    private let lock = NSLock()
    private var queue: [ByteBuffer] = []
    private var queuedBytes = 0
    private var ended: ClientEnd?
    private var waiter: CheckedContinuation<Next, Never>?
    private let close: @Sendable () -> Void
    /// The hub's position when this client joined: live messages start after it, history ends at it.
    public internal(set) var joinedAfter = StreamID.zero

    init(run: String, limit: Int, close: @escaping @Sendable () -> Void) {
        self.run = run
        self.limit = limit
        self.close = close
    }

    /// Appends live messages; ends the client (and closes its connection) when its queue passes the limit.
    /// Returns false once the client has ended.
    @discardableResult
    func deliver(_ messages: [ByteBuffer]) -> Bool {
        var wake: CheckedContinuation<Next, Never>?
        var next: Next?
        var overflow = false
        lock.lock()
        if ended != nil { lock.unlock(); return false }
        for m in messages { queuedBytes += m.readableBytes }
        if queuedBytes > limit {
            ended = .tooSlow
            queue.removeAll()
            queuedBytes = 0
            overflow = true
            if let w = waiter { waiter = nil; wake = w; next = .end(.tooSlow) }
        } else {
            queue.append(contentsOf: messages)
            if let w = waiter {
                waiter = nil
                wake = w
                next = .messages(queue)
                queue.removeAll(keepingCapacity: true)
                queuedBytes = 0
            }
        }
        lock.unlock()
        if let wake, let next { wake.resume(returning: next) }
        // A client that stopped reading sits in a write that will not finish: closing the
        // connection is what ends it.
        if overflow { close() }
        return !overflow
    }

    /// Ends the client; what it has queued is still written first (unless it is too slow).
    func end(_ reason: ClientEnd) {
        var wake: CheckedContinuation<Next, Never>?
        lock.lock()
        if ended == nil { ended = reason }
        if let w = waiter, queue.isEmpty { waiter = nil; wake = w }
        lock.unlock()
        wake?.resume(returning: .end(reason))
    }

    public var endReason: ClientEnd? { lock.withLock { ended } }

    /// Waits for the next messages (all that are queued), or the end.
    func next() async -> Next {
        await withCheckedContinuation { (c: CheckedContinuation<Next, Never>) in
            lock.lock()
            if !queue.isEmpty {
                let batch = queue
                queue.removeAll(keepingCapacity: true)
                queuedBytes = 0
                lock.unlock()
                c.resume(returning: .messages(batch))
            } else if let ended {
                lock.unlock()
                c.resume(returning: .end(ended))
            } else {
                waiter = c
                lock.unlock()
            }
        }
    }
}
