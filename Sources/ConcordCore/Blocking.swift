import Dispatch

/// Runs blocking C calls off Swift's cooperative thread pool.
///
/// The store clients are synchronous (libpq, hiredis and the Bolt socket all
/// block). Async callers hand such work to `Blocking.run`, which executes it on
/// a Dispatch queue thread and resumes the caller when it is done, so a slow
/// server never starves the cooperative pool.
public enum Blocking {
    private static let queue = DispatchQueue(label: "concord.blocking", attributes: .concurrent)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
