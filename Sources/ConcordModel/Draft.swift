import ConcordJSON

/// A row of `draft_content`.
public struct Draft: Sendable, Hashable {
    public enum ContentType: String, Sendable { case comment, pullRequest = "pull_request" }
    public enum Status: String, Sendable { case draft, published, discarded }

    public var id: String
    public var workflowRunId: String
    public var contentType: ContentType
    public var content: String
    public var status: Status
    /// `{"githubIssueId": int, "githubRepo": "owner/name", "userId": text, "timestamp": ms}`
    public var metadata: JSON

    public init(id: String, workflowRunId: String, contentType: ContentType, content: String, status: Status, metadata: JSON) {
        self.id = id
        self.workflowRunId = workflowRunId
        self.contentType = contentType
        self.content = content
        self.status = status
        self.metadata = metadata
    }
}
