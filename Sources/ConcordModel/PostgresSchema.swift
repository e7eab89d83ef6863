/// The PostgreSQL tables of the data model (DATA-MODEL.md), plus Concord's own
/// repair journal. Every statement is idempotent.
public enum PostgresSchema {
    public static let tables = ["draft_content", "draft_content_history", "user_preferences", "concord_repair_journal", "concord_audit_log", "concord_audit_state", "github_publication"]

    public static let statements: [String] = [
        """
        CREATE TABLE IF NOT EXISTS draft_content (
          id              text PRIMARY KEY,
          workflow_run_id text NOT NULL,
          content_type    text NOT NULL CHECK (content_type IN ('comment', 'pull_request')),
          content         text NOT NULL,
          status          text NOT NULL CHECK (status IN ('draft', 'published', 'discarded')),
          metadata        jsonb NOT NULL,
          created_at      timestamptz NOT NULL DEFAULT now(),
          updated_at      timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX IF NOT EXISTS draft_content_run ON draft_content (workflow_run_id)",
        "CREATE INDEX IF NOT EXISTS draft_content_status ON draft_content (status, updated_at)",
        """
        CREATE TABLE IF NOT EXISTS draft_content_history (
          draft_id   text NOT NULL REFERENCES draft_content (id),
          version    integer NOT NULL,
          status     text NOT NULL,
          content    text NOT NULL,
          changed_by text NOT NULL,
          changed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (draft_id, version)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS user_preferences (
          user_id     text PRIMARY KEY,
          preferences jsonb NOT NULL,
          updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """,
    ] + journal + [auditState] + publication

    /// A draft's publication to GitHub (docs/data-model.md): the intent, recorded before any call to GitHub,
    /// then what came of it. `concord publish` drains the pending ones.
    public static let publication: [String] = [
        """
        CREATE TABLE IF NOT EXISTS github_publication (
          draft_id        text PRIMARY KEY,
          workflow_run_id text NOT NULL,
          target          text NOT NULL,
          state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'published', 'failed')),
          attempts        integer NOT NULL DEFAULT 0,
          last_error      text,
          github_id       bigint,
          github_url      text,
          requested_by    text NOT NULL,
          requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
          attempted_at    timestamptz,
          next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
          published_at    timestamptz,
          synced_at       timestamptz,
          updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """,
        "CREATE INDEX IF NOT EXISTS github_publication_run ON github_publication (workflow_run_id)",
        "CREATE INDEX IF NOT EXISTS github_publication_due ON github_publication (next_attempt_at) WHERE state = 'pending'",
        "CREATE INDEX IF NOT EXISTS github_publication_unsynced ON github_publication (published_at) WHERE state = 'published' AND synced_at IS NULL",
    ]

    /// Where `concord audit --incremental` / `--full` keep the state the next
    /// incremental audit starts from: one row per scope (`all`, or `I/N`).
    public static let auditState = """
        CREATE TABLE IF NOT EXISTS concord_audit_state (
          scope      text PRIMARY KEY,
          audit_id   text NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now(),
          state      text NOT NULL
        )
        """

    /// The repair journal, which `concord apply` makes sure of before it writes (older journals gain the new columns).
    public static let journal: [String] = [
        """
        CREATE TABLE IF NOT EXISTS concord_repair_journal (
          plan_id      text NOT NULL,
          operation_id text NOT NULL,
          finding_id   text,
          store        text NOT NULL,
          action       text NOT NULL,
          outcome      text NOT NULL CHECK (outcome IN ('applied', 'skipped', 'failed', 'manual')),
          reason       text,
          operator     text NOT NULL,
          at           timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (plan_id, operation_id)
        )
        """,
        // The whole operation (parameters, precondition, before and after images) and its place in the
        // plan: what `concord undo` inverts. Added to journals made before it.
        "ALTER TABLE concord_repair_journal ADD COLUMN IF NOT EXISTS position integer",
        "ALTER TABLE concord_repair_journal ADD COLUMN IF NOT EXISTS operation text",
        // Whether the plan ran as listed (an undo) rather than by phase: how `concord undo` recovers the order it ran in.
        "ALTER TABLE concord_repair_journal ADD COLUMN IF NOT EXISTS ordered boolean NOT NULL DEFAULT false",
        // The audit log: every plan written, applied or undone, by whom, where, with which command line.
        """
        CREATE TABLE IF NOT EXISTS concord_audit_log (
          id           bigserial PRIMARY KEY,
          at           timestamptz NOT NULL DEFAULT now(),
          command      text NOT NULL,
          plan_id      text NOT NULL,
          plan_digest  text NOT NULL,
          source       text,
          operator     text NOT NULL,
          host         text NOT NULL,
          command_line text NOT NULL,
          outcome      text NOT NULL,
          counts       text
        )
        """,
        "CREATE INDEX IF NOT EXISTS concord_audit_log_plan ON concord_audit_log (plan_id, at)",
    ]
}
