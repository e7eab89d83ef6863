import ArgumentParser

/// The exit codes of docs/interface.md ("Exit codes"), by name: what a command throws to end with one of them.
/// `ConcordError.Code.exitCode` maps every library error to 2 or 3 the same way.
extension ExitCode {
    /// 1: findings at or above `--fail-on`, or operations skipped or failed — and nothing else.
    static let findings = ExitCode(1)
    /// 2: usage, configuration, a rule, plan or input file, a file that cannot be written.
    static let usage = ExitCode(2)
    /// 3: a store could not be reached or failed.
    static let store = ExitCode(3)
}
