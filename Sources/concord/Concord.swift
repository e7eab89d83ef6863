import ArgumentParser
import ConcordCore
import ConcordGitHub
import Foundation
import Logging

/// The `concord` command: parses flags, wires the libraries together.
@main
struct Concord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concord",
        abstract: "Keeps a workflow system's PostgreSQL, Redis and graph stores consistent.",
        discussion: "Every command also takes --config FILE (default $CONCORD_CONFIG, else /etc/concord/concord.yaml) and --profile NAME: "
            + "settings for any option, overridden by the option's environment variable and by the flag itself. See concord config --help.",
        version: "0.1.0",
        subcommands: [Audit.self, SnapshotCommand.self, Report.self, Plan.self, Apply.self, Undo.self, Restore.self, Rebuild.self, Journal.self, Maintain.self, Rules.self, Doctor.self, Setup.self, Simulate.self, Sync.self, Publish.self, Serve.self, Fixture.self, ConfigCommand.self]
    )

    /// Runs the command and maps every failure to the exit codes of INTERFACE.md:
    /// 2 usage or configuration, 3 a store could not be reached or failed.
    static func main() async {
        Signals.unblock()
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
        do {
            let arguments = try Configuration.prepare(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot(arguments)
            let path = command is any NotifiesOnFailure ? try Configuration.commandPath(arguments).0 : []
            try await run(&command, path: path)
        } catch let error as ConcordError {
            Output.error("\(error)")
            Foundation.exit(error.code.exitCode)
        } catch let error as GitHubError {
            Output.error("\(error.concordError)")
            Foundation.exit(error.concordError.code.exitCode)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            // Exit 1 means findings (or operations skipped): a failure of anything else — a report directory
            // that cannot be written, a file that cannot be read — is 2, with the file and the reason.
            Output.error(fileProblem(error) ?? (code == .validationFailure ? usageLine(error) : fullMessage(for: error)))
            Foundation.exit(code == .validationFailure || code == .failure ? 2 : code.rawValue)
        }
    }

    /// A usage error in one line: the parser's message and where the command's help is (not the whole usage).
    static func usageLine(_ error: any Error) -> String {
        var message = message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
        if message.hasPrefix("Error: ") { message.removeFirst(7) }
        message = message.split(separator: "\n").first.map(String.init) ?? message
        let full = fullMessage(for: error)
        if let see = full.range(of: "See '"), let end = full[see.upperBound...].range(of: "'") {
            return "\(message) (see \(full[see.upperBound..<end.lowerBound]))"
        }
        return message
    }

    /// A file-system error in words: which file, and what the system said (not Foundation's "The file doesn't exist.").
    static func fileProblem(_ error: any Error) -> String? {
        let e = error as NSError
        guard e.domain == NSCocoaErrorDomain || e.domain == NSPOSIXErrorDomain else { return nil }
        let path = e.userInfo[NSFilePathErrorKey] as? String ?? (e.userInfo[NSURLErrorKey] as? URL)?.path
        let posix = (e.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
            ?? (e.domain == NSPOSIXErrorDomain ? Int32(e.code) : nil)
        let reason = posix.map { String(cString: strerror($0)) } ?? path.flatMap(blocker) ?? e.localizedDescription
        return "cannot use \(path ?? "a file"): \(reason)"
    }

    /// What stands in the way of creating `path` (Foundation often gives no system error): the nearest existing
    /// ancestor that is not a directory, or that cannot be written.
    static func blocker(_ path: String) -> String? {
        var url = URL(fileURLWithPath: path)
        while url.path != "/" {
            url = url.deletingLastPathComponent()
            var directory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) else { continue }
            if !directory.boolValue { return "\(url.path) is a file, not a directory" }
            return FileManager.default.isWritableFile(atPath: url.path) ? nil : "\(url.path) is not writable"
        }
        return nil
    }
}

/// Where text goes: results to stdout, diagnostics to stderr.
enum Output {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("concord: " + text + "\n").utf8))
    }
    /// Progress of long work, to stderr (stdout stays the result).
    static func progress(_ text: String) {
        FileHandle.standardError.write(Data(("concord: " + text + "\n").utf8))
    }
}
