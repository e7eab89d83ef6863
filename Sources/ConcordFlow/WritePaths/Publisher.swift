import ConcordCore
import ConcordModel

/// Publishes an approved draft to where it goes (GitHub, in production).
public protocol Publisher: Sendable {
    /// Publishes `draft`; returns where it went (a URL or a note), or throws.
    func publish(_ draft: Draft) throws -> String
}

/// The default publisher: records the publication and goes nowhere else.
/// (A GitHub publisher needs network access this project's machines lack.)
public struct RecordingPublisher: Publisher {
    public init() {}
    public func publish(_ draft: Draft) throws -> String {
        "recorded:\(draft.metadata["githubRepo"]?.stringValue ?? "-")#\(draft.metadata["githubIssueId"]?.intValue ?? 0)"
    }
}
