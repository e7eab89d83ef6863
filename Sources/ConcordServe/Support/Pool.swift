import ConcordCore
import Foundation

/// A few connections of one store, shared by request handlers.
///
/// The store clients block and are used by one thread at a time: a handler
/// takes a connection, runs its calls on a thread of its own
/// (`Blocking.run`), and gives it back. A connection whose call threw is
/// dropped, not reused (it may be mid-reply); the next call makes a new one.
public final class Pool<Connection: AnyObject & Sendable>: @unchecked Sendable {
    // @unchecked: `idle` is used under `lock`.
    private let lock = NSLock()
    private var idle: [Connection] = []
    private let make: @Sendable () throws -> Connection
    private let keep: Int

    public init(keep: Int = 8, make: @escaping @Sendable () throws -> Connection) {
        self.keep = keep
        self.make = make
    }

    /// Runs `body` with a connection, on the calling thread.
    public func with<T>(_ body: (Connection) throws -> T) throws -> T {
        let c = try lock.withLock { idle.popLast() } ?? make()
        let result = try body(c)
        lock.withLock { if idle.count < keep { idle.append(c) } }
        return result
    }

    /// Runs `body` with a connection on a thread of its own.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await Blocking.run { try self.with(body) }
    }
}
