import Foundation

/// Runs blocking C calls off Swift's cooperative thread pool.
///
/// The store clients are synchronous (libpq, hiredis and the Bolt socket all
/// block). Async callers hand such work to `Blocking.run`, which runs it on a
/// thread of its own and resumes the caller when it is done, so a slow server
/// never starves the cooperative pool. (Dispatch's global queues cap their
/// threads near the core count once work blocks, which queues calls behind
/// each other; a thread per call does not.)
public enum Blocking {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
