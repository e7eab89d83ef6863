import ConcordCore
import ConcordPostgres
import ConcordTestSupport
import Foundation
import Testing

/// `concord --config FILE …` as an ops team runs it: the stores only in the file (a password only in a file beside it),
/// a profile, `config show` naming each value's source, `config check` reporting file:line:col with exit 2.
@Suite struct ConfigCommandTests {
    let concord = TestStores.concord
    /// No store setting from the test's own environment: only what each test gives.
    let clean: [String: String?] = ["CONCORD_POSTGRES_URL": nil, "CONCORD_REDIS_URL": nil, "CONCORD_GRAPH_URL": nil, "CONCORD_REDIS_CA": nil,
                                    "CONCORD_CONFIG": "none", "CONCORD_PROFILE": nil, "CONCORD_RULES": nil, "CONCORD_NOTIFY": nil, "PGPASSWORD": nil]

    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("config"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// PostgreSQL's URL without the password, for the password-protected test role, in a schema of that role's own
    /// (other tests' tables in `public` are not its to read).
    func postgresWithoutPassword(schema: String) -> String {
        TestStores.postgresPasswordURL.replacingOccurrences(of: ":concord-test-password@", with: "@") + "?options=-csearch_path%3D\(schema)"
    }

    @Test func storesFromTheFileAndAPasswordFromItsOwnFile() throws {
        let dir = try folder()
        let schema = TestStores.unique("config").lowercased()
        try PostgresConnection(url: TestStores.postgresURL).execute("CREATE SCHEMA \(schema) AUTHORIZATION concord_pw")
        defer {
            try? FileManager.default.removeItem(at: dir)
            _ = try? PostgresConnection(url: TestStores.postgresURL).execute("DROP SCHEMA \(schema) CASCADE")
        }
        let pw = dir.appendingPathComponent("pg.pw")
        try "concord-test-password\n".write(to: pw, atomically: true, encoding: .utf8)
        let config = dir.appendingPathComponent("concord.yaml")
        try """
            # the stores of the nightly audit
            postgres: {url: "\(postgresWithoutPassword(schema: schema))", password_file: \(pw.path)}
            redis: \(TestStores.redisURL(db: 57))
            graph: \(TestStores.falkorURL)/config_test
            connect-timeout: 5
            profiles:
              broken:
                redis: redis://127.0.0.1:1/0
                connect-timeout: 1
            """.write(to: config, atomically: true, encoding: .utf8)
        var env = clean
        env["CONCORD_REDIS_CA"] = ProcessInfo.processInfo.environment["CONCORD_REDIS_CA"] ?? nil
        let ok = try TestStores.run(concord, ["--config", config.path, "doctor"], environment: env)
        let said = String(decoding: ok.stdout, as: UTF8.self)
        // The password-protected role connects only with the password the file holds, and doctor never prints it.
        #expect(said.contains("postgres  ok") && said.contains("concord_pw:***@"), "\(said) \(ok.stderr)")
        #expect(!said.contains("concord-test-password") && !ok.stderr.contains("concord-test-password"))
        #expect(said.contains("redis     ok") && said.contains("/57"))

        // The profile is laid over the file: its Redis cannot be reached (exit 3), chosen by --profile or CONCORD_PROFILE.
        let broken = try TestStores.run(concord, ["doctor", "--config", config.path, "--profile", "broken"], environment: env)
        #expect(broken.status == 3, "\(broken.stderr)")
        #expect(String(decoding: broken.stdout, as: UTF8.self).contains("127.0.0.1:1"))
        var withProfile = env
        withProfile["CONCORD_CONFIG"] = config.path
        withProfile["CONCORD_PROFILE"] = "broken"
        #expect(try TestStores.run(concord, ["doctor"], environment: withProfile).status == 3)
        // A flag given wins over the profile and the file.
        let flag = try TestStores.run(concord, ["doctor", "--redis", TestStores.redisURL(db: 57)], environment: withProfile)
        // (doctor exits 1 when the test database lacks Concord's tables: the stores were reached, which is what counts here.)
        #expect(flag.status != 3 && String(decoding: flag.stdout, as: UTF8.self).contains("redis     ok"),
                "\(String(decoding: flag.stdout, as: UTF8.self)) \(flag.stderr)")
        // A profile the file does not have: exit 2, naming the ones it has.
        let none = try TestStores.run(concord, ["--profile", "prod", "doctor", "--config", config.path], environment: env)
        #expect(none.status == 2 && none.stderr.contains("no profile 'prod'") && none.stderr.contains("broken"), "\(none.stderr)")
        // A missing password file: exit 2 at its line, before any store is touched.
        try FileManager.default.removeItem(at: pw)
        let lost = try TestStores.run(concord, ["--config", config.path, "doctor"], environment: env)
        #expect(lost.status == 2 && lost.stderr.contains("concord.yaml:2:1: the secret's file \(pw.path) does not exist"), "\(lost.stderr)")
    }

    @Test func showNamesEachValuesSourceAndMasksSecrets() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("concord.yaml")
        try """
            postgres: postgresql://u:inline-secret@db:5432/w
            redis: redis://file:6379/0
            audit:
              format: json
              fail-on: warning
            maintain:
              deadletter:
                purge: {older-than: 14d}
            """.write(to: config, atomically: true, encoding: .utf8)
        var env = clean
        env["CONCORD_CONFIG"] = config.path
        env["CONCORD_REDIS_URL"] = "redis://from-env:6379/0"
        let show = try TestStores.run(concord, ["config", "show", "audit", "--fail-on", "never"], environment: env)
        let text = String(decoding: show.stdout, as: UTF8.self)
        let line = { (option: String) in text.split(separator: "\n").first { $0.contains("--\(option) ") }.map(String.init) ?? "" }
        #expect(show.status == 0, "\(show.stderr)")
        #expect(line("fail-on").contains("never") && line("fail-on").contains("[command line]"), "\(line("fail-on"))")
        #expect(line("redis").contains("redis://from-env:6379/0") && line("redis").contains("[env CONCORD_REDIS_URL]"))
        #expect(line("format").contains("json") && line("format").contains("concord.yaml:4:3]"))
        #expect(line("postgres").contains("u:***@db") && !text.contains("inline-secret"))
        #expect(line("grace").contains("5m") && line("grace").contains("[default]"))
        let nested = try TestStores.run(concord, ["config", "show", "maintain", "deadletter", "purge"], environment: env)
        #expect(String(decoding: nested.stdout, as: UTF8.self).contains("14d"), "\(String(decoding: nested.stdout, as: UTF8.self))")
        // `--config none` sets no file at all, whatever CONCORD_CONFIG (or /etc/concord/concord.yaml) says.
        let none = String(decoding: try TestStores.run(concord, ["config", "show", "audit", "--config", "none"], environment: env).stdout, as: UTF8.self)
        #expect(none.hasPrefix("configuration  none") && none.contains("redis://from-env") && !none.contains("concord.yaml:"), "\(none)")
        let group = try TestStores.run(concord, ["config", "show", "maintain"], environment: env)
        #expect(group.status == 2 && group.stderr.contains("has subcommands"))
    }

    @Test func checkReportsEveryProblemAtItsLineAndExits2() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.yaml")
        try """
            redis-port: 6379
            audit:
              formt: json
              connect-timeout: soon
            maintain:
              deadletters: {purge: {older-than: 3d}}
            profiles:
              prod:
                sync: {once: maybe}
                graph: {file: /nonexistent/graph-url}
            """.write(to: bad, atomically: true, encoding: .utf8)
        let check = try TestStores.run(concord, ["config", "check", bad.path], environment: clean)
        let lines = String(decoding: check.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(check.status == 2)
        #expect(lines.count == 6, "\(lines)")
        let expected = ["bad.yaml:1:1: no command has an option --redis-port", "bad.yaml:3:3: concord audit has no option --formt",
                        "bad.yaml:4:3: The value 'soon' is invalid for '--connect-timeout", "bad.yaml:6:3: concord maintain has no subcommand deadletters",
                        "bad.yaml:9:12: once is a flag: true or false", "bad.yaml:10:5: the secret's file /nonexistent/graph-url does not exist"]
        for (line, want) in zip(lines, expected) { #expect(line.hasSuffix(want) || line.contains(want), "\(line)") }
        // A syntax error: its line and column, exit 2; a file that is fine: ok, exit 0.
        let broken = dir.appendingPathComponent("broken.yaml")
        try "redis: [a, b\naudit: {}\n".write(to: broken, atomically: true, encoding: .utf8)
        let syntax = try TestStores.run(concord, ["config", "check", broken.path], environment: clean)
        #expect(syntax.status == 2 && String(decoding: syntax.stdout, as: UTF8.self).contains("broken.yaml:2:"), "\(String(decoding: syntax.stdout, as: UTF8.self))")
        let good = dir.appendingPathComponent("good.yaml")
        try "redis: redis://h:6379/0\naudit: {format: 'json,md', incremental: true}\nprofiles: {prod: {graph: 'bolt://g:7687'}}\n"
            .write(to: good, atomically: true, encoding: .utf8)
        let fine = try TestStores.run(concord, ["config", "check", good.path], environment: clean)
        #expect(fine.status == 0 && String(decoding: fine.stdout, as: UTF8.self).contains("ok (4 setting(s); profiles: prod)"),
                "\(String(decoding: fine.stdout, as: UTF8.self)) \(fine.stderr)")
        // Any command run with the broken file stops at once: exit 2, the file's problem named.
        let run = try TestStores.run(concord, ["--config", broken.path, "rules", "list"], environment: clean)
        #expect(run.status == 2 && run.stderr.contains("broken.yaml:2:"), "\(run.stderr)")
    }
}
