import ArgumentParser
import ConcordCore
import Foundation
import Logging

/// The `concord` command: parses flags, wires the libraries together.
@main
struct Concord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concord",
        abstract: "Keeps a workflow system's PostgreSQL, Redis and graph stores consistent.",
        version: "0.1.0",
        subcommands: [Audit.self, SnapshotCommand.self, Report.self, Plan.self, Apply.self, Undo.self, Restore.self, Rebuild.self, Journal.self, Maintain.self, Rules.self, Doctor.self, Setup.self, Simulate.self, Sync.self, Serve.self]
    )

    /// Runs the command and maps every failure to the exit codes of INTERFACE.md:
    /// 2 usage or configuration, 3 a store could not be reached or failed.
    static func main() async {
        Signals.unblock()
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let error as ConcordError {
            Output.error("\(error)")
            Foundation.exit(error.code.exitCode)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            Output.error(fullMessage(for: error))
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
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
