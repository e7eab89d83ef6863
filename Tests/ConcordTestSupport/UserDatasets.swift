/// A user's own datasets, as a rule author declares them in `datasets.yaml` (entries under `datasets:`):
/// a PostgreSQL table and its Redis hash cache. Shared by the user-rule tests of the audit and of the live stores.
public enum UserDatasets {
    public static let prefs = """
          postgres.prefs:
            store: postgres
            table: user_preferences
            columns: [user_id, preferences, updated_at]
            lookup: { id: [user_id] }
          redis.prefs:
            store: redis
            type: hash
            pattern: "tenant:{tenant}:prefs:{userId}"
            fields: [theme, fontSize]
            as: all
            lookup: { id: [userId] }

        """
}
