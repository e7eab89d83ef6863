import ArgumentParser
import ConcordCore
import ConcordGitHub
import ConcordNotify
import Foundation

/// `--notify` for the commands a scheduler runs besides the audit (which has its own, with findings): a failure
/// (exit 2 or 3) is sent to each target; for Alertmanager the `ConcordCommandFailed` alert of that command is
/// resolved by its next run that succeeds (exit 0 or 1). A notification never changes the exit code.
struct NotifyOptions: ParsableArguments {
    @Option(name: .long, help: "Notify here when this command fails, and (Alertmanager) when it next succeeds (repeatable; env CONCORD_NOTIFY, comma-separated): http(s)://… (JSON), slack+https://…, alertmanager+http(s)://HOST:PORT.")
    var notify: [String] = []

    /// The targets of the flag and of CONCORD_NOTIFY; nil when there are none.
    func notifier() throws -> Notifier? { try Self.notifier(notify) }

    /// The targets of `flags` and of CONCORD_NOTIFY (comma-separated); nil when there are none (the audit's `--notify` too).
    static func notifier(_ flags: [String]) throws -> Notifier? {
        let all = flags + (ProcessInfo.processInfo.environment["CONCORD_NOTIFY"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        return all.isEmpty ? nil : Notifier(targets: try all.map(NotificationTarget.init(parsing:)))
    }
}

/// A command whose operational failures are notified (main wraps its run).
protocol NotifiesOnFailure {
    var notification: NotifyOptions { get }
}

extension Concord {
    /// Runs `command`; when it notifies, tells its targets that it failed, or (Alertmanager) that it succeeded again.
    static func run(_ command: inout any ParsableCommand, path: [String]) async throws {
        let notifier = try (command as? any NotifiesOnFailure)?.notification.notifier()
        let name = path.joined(separator: " ")
        do {
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            if let notifier { Audit.report(notifier.commandSucceeded(name)) }
        } catch let e as ExitCode {
            if let notifier { Audit.report(e.rawValue <= 1 ? notifier.commandSucceeded(name) : notifier.commandFailed(name, error: "exit \(e.rawValue)")) }
            throw e
        } catch {
            if let notifier { Audit.report(notifier.commandFailed(name, error: describe(error))) }
            throw error
        }
    }

    /// A failure as the notification says it: the one line the command prints.
    static func describe(_ error: any Error) -> String {
        if let e = error as? ConcordError { return e.description }
        if let e = error as? GitHubError { return e.concordError.description }
        return fileProblem(error) ?? message(for: error)
    }
}
