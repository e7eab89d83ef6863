import Foundation

/// SIGINT/SIGTERM handling: the first signal asks the running command to stop
/// after the work in hand; a second one exits at once.
enum Signals {
    nonisolated(unsafe) private static var count: Int32 = 0

    static var stopRequested: Bool { count > 0 }

    static func install() {
        let handler: @convention(c) (Int32) -> Void = { _ in
            Signals.count += 1
            if Signals.count > 1 { _exit(130) }
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        unblock()
    }

    /// A parent may have started us with SIGINT and SIGTERM blocked (Foundation's Process does): unblock them,
    /// on the calling thread and every thread it starts afterwards.
    static func unblock() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
