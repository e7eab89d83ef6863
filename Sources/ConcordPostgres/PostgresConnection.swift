import CLibPQ
import ConcordCore
import Foundation

/// A connection to PostgreSQL through libpq.
///
/// Calls block; async code runs them through `Blocking.run`. Every query is
/// parameterised (`$1…`); errors carry the SQLSTATE, the server's message and
/// the query text, never parameter values or a password.
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked: every use of `conn` happens under `lock`, so two threads
    // never drive the same PGconn at once (libpq requires exactly that).
    private let conn: OpaquePointer
    let lock = NSRecursiveLock()
    /// The URL or conninfo with its password masked.
    public let displayURL: String

    /// Connects using a libpq URL or conninfo string.
    ///
    /// `PG*` environment variables fill in whatever `url` leaves out, as libpq
    /// always does. `connectTimeout` applies unless the URL sets its own.
    public init(url: String, connectTimeout: Int = 5, applicationName: String = "concord") throws {
        displayURL = Redaction.mask(url)
        let keys = ["connect_timeout", "fallback_application_name", "dbname"]
        let values = [String(connectTimeout), applicationName, url]
        let c: OpaquePointer? = withCStrings(keys) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let c else { throw ConcordError(.connection, "out of memory connecting to \(displayURL)", store: "postgres") }
        guard PQstatus(c) == CONNECTION_OK else {
            let raw = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            let message = Redaction.mask(raw)
            let isAuth = message.contains("password authentication failed") || message.contains("no password supplied")
                || message.contains("authentication failed")
            throw ConcordError(
                isAuth ? .authentication : .connection,
                isAuth ? "authentication failed for \(displayURL): \(message). Check the user and password in the URL or PGPASSWORD."
                    : "cannot connect to \(displayURL): \(message.replacingOccurrences(of: "\n", with: " "))",
                store: "postgres")
        }
        conn = c
        // Fixed session settings so timestamps parse the same everywhere.
        try execute("SET DateStyle = ISO; SET TimeZone = 'UTC'; SET client_min_messages = warning")
    }

    deinit { PQfinish(conn) }

    /// The server version as a number (150018 for 15.18).
    public var serverVersion: Int { lock.withLock { Int(PQserverVersion(conn)) } }

    // MARK: Queries

    /// Runs `sql` with `parameters` and returns every row.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresParameter] = []) throws -> PostgresResult {
        try lock.withLock {
            let result = try withParameters(parameters, sql) { count, values in
                PQexecParams(conn, sql, count, nil, values, nil, nil, 0)
            }
            return try check(result, sql)
        }
    }

    /// Runs a statement (or several, when `parameters` is empty) and returns the affected row count.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresParameter] = []) throws -> Int {
        if parameters.isEmpty {
            return try lock.withLock { try check(PQexec(conn, sql), sql).affectedRows }
        }
        return try query(sql, parameters).affectedRows
    }

    /// Streams the rows of `sql` one at a time (libpq single-row mode), so a
    /// result of any size is read in constant memory. Returns the row count.
    @discardableResult
    public func stream(
        _ sql: String, _ parameters: [any PostgresParameter] = [], _ body: (PostgresRow) throws -> Void
    ) throws -> Int {
        try lock.withLock {
            let sent = try withParameters(parameters, sql) { count, values in
                PQsendQueryParams(conn, sql, count, nil, values, nil, nil, 0)
            }
            guard sent == 1 else { throw connectionError(sql) }
            PQsetSingleRowMode(conn)
            var rows = 0
            var failure: Error?
            while let r = PQgetResult(conn) {
                let status = PQresultStatus(r)
                if failure != nil { PQclear(r); continue }  // drain what remains
                if status == PGRES_SINGLE_TUPLE {
                    let result = PostgresResult(r)
                    do { try body(result[0]); rows += 1 } catch {
                        failure = error
                        // Stop the server from sending the rest.
                        if let cancel = PQgetCancel(conn) {
                            var buf = [CChar](repeating: 0, count: 256)
                            _ = PQcancel(cancel, &buf, 256)
                            PQfreeCancel(cancel)
                        }
                    }
                } else if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK {
                    PQclear(r)
                } else {
                    failure = serverError(r, sql)
                    PQclear(r)
                }
            }
            if let failure { throw failure }
            return rows
        }
    }

    // MARK: COPY

    /// Runs `COPY … TO STDOUT` and hands each data chunk (one row in text or
    /// CSV format, ending with a newline) to `body`. Returns the chunk count.
    @discardableResult
    public func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try lock.withLock {
            let start = PQexec(conn, sql)
            guard let start, PQresultStatus(start) == PGRES_COPY_OUT else {
                defer { PQclear(start) }
                if let start { throw serverError(start, sql) }
                throw connectionError(sql)
            }
            PQclear(start)
            var chunks = 0
            var failure: Error?
            while true {
                var buffer: UnsafeMutablePointer<CChar>?
                let n = PQgetCopyData(conn, &buffer, 0)
                if n == -1 { break }
                if n == -2 { throw connectionError(sql) }
                if let buffer {
                    if failure == nil {
                        do { try body(UnsafeRawBufferPointer(start: buffer, count: Int(n))); chunks += 1 } catch {
                            failure = error
                        }
                    }
                    PQfreemem(buffer)
                }
            }
            while let r = PQgetResult(conn) {
                defer { PQclear(r) }
                if PQresultStatus(r) != PGRES_COMMAND_OK, failure == nil { failure = serverError(r, sql) }
            }
            if let failure { throw failure }
            return chunks
        }
    }

    /// Runs `COPY … FROM STDIN`; `produce` writes rows through the writer.
    /// Returns the number of rows the server stored.
    @discardableResult
    public func copyIn(_ sql: String, _ produce: (inout PostgresCopyWriter) throws -> Void) throws -> Int {
        try lock.withLock {
            let start = PQexec(conn, sql)
            guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
                defer { PQclear(start) }
                if let start { throw serverError(start, sql) }
                throw connectionError(sql)
            }
            PQclear(start)
            var writer = PostgresCopyWriter(connection: self)
            var failure: Error?
            do {
                try produce(&writer)
                try writer.flush()
            } catch { failure = error }
            if let failure {
                PQputCopyEnd(conn, "aborted by client: \(failure)")
            } else if PQputCopyEnd(conn, nil) != 1 {
                throw connectionError(sql)
            }
            var stored = 0
            while let r = PQgetResult(conn) {
                defer { PQclear(r) }
                if PQresultStatus(r) == PGRES_COMMAND_OK {
                    stored = Int(String(cString: PQcmdTuples(r))) ?? 0
                } else if failure == nil {
                    failure = serverError(r, sql)
                }
            }
            if let failure { throw failure }
            return stored
        }
    }

    func putCopyData(_ bytes: UnsafeRawBufferPointer) throws {
        let ok = PQputCopyData(conn, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        guard ok == 1 else { throw connectionError("COPY FROM STDIN") }
    }

    // MARK: Transactions

    public enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    public func transaction<T>(
        isolation: IsolationLevel = .readCommitted, readOnly: Bool = false, _ body: () throws -> T
    ) throws -> T {
        try lock.withLock {
            try execute("BEGIN ISOLATION LEVEL \(isolation.rawValue)\(readOnly ? " READ ONLY" : "")")
            do {
                let value = try body()
                try execute("COMMIT")
                return value
            } catch {
                _ = try? execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs `body` inside a savepoint of the current transaction.
    public func savepoint<T>(_ name: String = "concord_sp", _ body: () throws -> T) throws -> T {
        try lock.withLock {
            let quoted = quoteIdentifier(name)
            try execute("SAVEPOINT \(quoted)")
            do {
                let value = try body()
                try execute("RELEASE SAVEPOINT \(quoted)")
                return value
            } catch {
                _ = try? execute("ROLLBACK TO SAVEPOINT \(quoted)")
                throw error
            }
        }
    }

    // MARK: Helpers

    /// Quotes an identifier (table, channel, savepoint name) for SQL text.
    public func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    func withConn<T>(_ body: (OpaquePointer) throws -> T) rethrows -> T {
        try lock.withLock { try body(conn) }
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws -> PostgresResult {
        guard let result else { throw connectionError(sql) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PostgresResult(result)
        default:
            defer { PQclear(result) }
            throw serverError(result, sql)
        }
    }

    func serverError(_ result: OpaquePointer, _ sql: String) -> ConcordError {
        let sqlstate = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
        let detail = PQresultErrorField(result, Int32(UInt8(ascii: "D"))).map { String(cString: $0) }
        var message = primary ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines) }
        if let detail { message += " (\(detail))" }
        let isConnection = sqlstate == nil || sqlstate!.hasPrefix("08")
        return ConcordError(isConnection && sqlstate == nil ? .connection : .server, message,
                            store: "postgres", serverCode: sqlstate, query: sql)
    }

    func connectionError(_ sql: String) -> ConcordError {
        let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
        return ConcordError(.connection, "connection to \(displayURL) failed: \(message)", store: "postgres", query: sql)
    }

    private func withParameters<R>(
        _ parameters: [any PostgresParameter], _ sql: String, _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> R
    ) throws -> R {
        let texts = parameters.map { $0.postgresText }
        // libpq takes C strings: a NUL would silently cut the value short.
        if let i = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw ConcordError(.invalidInput, "parameter $\(i + 1) contains a NUL byte, which PostgreSQL text cannot store",
                               store: "postgres", query: sql)
        }
        var pointers: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buf.count, 1)) {
                body(Int32(texts.count), texts.isEmpty ? nil : $0)
            }
        }
    }
}

/// Calls `body` with a NULL-terminated C array of `strings`.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeMutableBufferPointer { buf in
        buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) { body($0) }
    }
}
