import ConcordConfig
import ConcordCore
import Foundation
import Testing

/// The configuration file as a library: positions, secrets by reference, profiles and the precedence flag > env > file > default.
@Suite struct ConfigFileTests {
    /// A command like `concord audit`: a store URL with an environment variable, a value option, a list option, a flag pair.
    let audit = CommandSpec(name: "audit", options: [
        OptionSpec(names: ["redis"], kind: .option, env: "CONCORD_REDIS_URL"),
        OptionSpec(names: ["format"], kind: .option, defaultValue: "json,md,html"),
        OptionSpec(names: ["output-dir"], shortNames: ["o"], kind: .option, defaultValue: "Reports"),
        OptionSpec(names: ["notify"], kind: .option, repeating: true),
        OptionSpec(names: ["recheck"], kind: .flag),
        OptionSpec(names: ["no-recheck"], kind: .flag),
        OptionSpec(names: ["incremental"], kind: .flag),
    ], subcommands: [:])

    func parse(_ text: String) throws -> ConfigFile { try ConfigFile.parse(text, path: "c.yaml") }

    @Test func precedenceIsFlagThenEnvironmentThenFileThenDefault() throws {
        let file = try parse("""
            redis: redis://file:6379/0
            format: json
            audit:
              output_dir: /var/reports
              notify: [http://a, http://b]
              recheck: false
            """)
        let r = try file.resolve(arguments: ["audit", "--format", "md"], path: ["audit"], command: audit, profile: nil,
                                 environment: ["CONCORD_REDIS_URL": "redis://env:6379/0"])
        // The flag given stays; the environment's redis wins over the file's, so the file's is not added; the rest come from the file.
        #expect(r.arguments == ["audit", "--output-dir=/var/reports", "--notify=http://a", "--notify=http://b", "--no-recheck", "--format", "md"])
        let source = Dictionary(uniqueKeysWithValues: r.entries.map { ($0.option.names[0], "\($0.source)") })
        #expect(source["format"] == "command line" && source["redis"] == "env CONCORD_REDIS_URL" && source["output-dir"] == "c.yaml:4:3")
        #expect(source["incremental"] == "default")
        // Without the environment variable the file's redis is used; a short flag given counts as given.
        let r2 = try file.resolve(arguments: ["audit", "-o", "x"], path: ["audit"], command: audit, profile: nil, environment: [:])
        #expect(r2.arguments.contains("--redis=redis://file:6379/0") && !r2.arguments.contains { $0.hasPrefix("--output-dir") })
        // A given --recheck wins over the file's `recheck: false` (its inverse is not added).
        let r3 = try file.resolve(arguments: ["audit", "--recheck"], path: ["audit"], command: audit, profile: nil, environment: [:])
        #expect(!r3.arguments.contains("--no-recheck"))
    }

    @Test func aProfileIsLaidOverTheBaseAtEveryLevel() throws {
        let file = try parse("""
            redis: redis://base/0
            audit: {format: json}
            profiles:
              prod:
                redis: redis://prod/0
                audit: {incremental: true}
            """)
        let base = try file.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: nil, environment: [:]).arguments
        #expect(base == ["audit", "--redis=redis://base/0", "--format=json"])
        let prod = try file.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: "prod", environment: [:]).arguments
        #expect(prod == ["audit", "--redis=redis://prod/0", "--format=json", "--incremental"])
        let unknown = #expect(throws: ConcordError.self) { try file.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: "staging") }
        #expect(unknown?.code == .usage && unknown?.message.contains("it has: prod") == true)
    }

    @Test func secretsComeFromFilesAndTheEnvironmentNeverFromTheFileItself() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("concord-config-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pw = dir.appendingPathComponent("pw").path
        try "p@ss:w/rd\n".write(toFile: pw, atomically: true, encoding: .utf8)
        setenv("CONCORD_TEST_SECRET_URL", "redis://:envpw@h:1/0", 1)
        let file = try parse("""
            redis: {url: "rediss://app@h:6380/0", password_file: \(pw)}
            audit:
              notify: {env: CONCORD_TEST_SECRET_URL}
            """)
        let cmd = CommandSpec(name: "audit", options: [OptionSpec(names: ["redis"], kind: .option), OptionSpec(names: ["notify"], kind: .option, repeating: true)],
                              subcommands: [:])
        let r = try file.resolve(arguments: ["audit"], path: ["audit"], command: cmd, profile: nil, environment: [:])
        // The password percent-encoded into the URL's user information; the final line break of the file dropped.
        #expect(r.arguments == ["audit", "--redis=rediss://app:p%40ss%3Aw%2Frd@h:6380/0", "--notify=redis://:envpw@h:1/0"])
        let shown = r.entries.map(\.shown).joined(separator: " ")
        #expect(!shown.contains("p%40ss") && !shown.contains("envpw") && shown.contains("rediss://app:***@h:6380/0 (password from file \(pw))"))
        // A secret whose file is missing is an error at its line.
        let missing = try parse("redis: {file: /nonexistent/concord-secret}\n")
        let e = #expect(throws: ConfigDiagnostic.self) { try missing.resolve(arguments: ["audit"], path: ["audit"], command: cmd, profile: nil) }
        #expect(e?.position.line == 1 && e?.message.contains("does not exist") == true)
    }

    @Test func problemsAreReportedAtTheirLineAndColumn() throws {
        let syntax = #expect(throws: ConfigErrors.self) { try parse("redis: redis://h/0\naudit:\n  format: [json,\n") }
        #expect(syntax?.diagnostics.first?.position.line == 4)
        let typed = #expect(throws: ConfigErrors.self) { try parse("- a\n- b\n") }
        #expect(typed?.diagnostics.first?.message.contains("mapping") == true)
        let duplicate = #expect(throws: ConfigErrors.self) { try parse("redis: a\nredis: b\n") }
        #expect(duplicate?.diagnostics.first?.message.contains("duplicate") == true)
        let half = #expect(throws: ConfigErrors.self) { try parse("redis: {url: \"redis://h/0\"}\n") }
        #expect(half?.diagnostics.first.map { "\($0.position.line):\($0.position.column)" } == "1:8")

        // In a command's own section, a key that is not one of its options is an error; at the top level it applies where it can.
        let file = try parse("rules: /etc/rules\naudit:\n  formt: json\n")
        let e = #expect(throws: ConfigErrors.self) { try file.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: nil, environment: [:]) }
        #expect(e?.description == "c.yaml:3:3: audit has no option --formt")
        let top = try parse("rules: /etc/rules\n")
        #expect(try top.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: nil, environment: [:]).arguments == ["audit"])
        // A list for an option that takes one value, a value for a flag.
        let list = try parse("format: [json, md]\n")
        #expect(throws: ConfigErrors.self) { try list.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: nil, environment: [:]) }
        let flag = try parse("incremental: maybe\n")
        #expect(throws: ConfigErrors.self) { try flag.resolve(arguments: ["audit"], path: ["audit"], command: audit, profile: nil, environment: [:]) }
    }

    @Test func aPasswordGoesIntoEveryURLShape() {
        #expect(URLPassword.insert("pw", into: "postgresql://concord@db:5432/workflow") == "postgresql://concord:pw@db:5432/workflow")
        #expect(URLPassword.insert("pw", into: "redis://h:6379/0") == "redis://:pw@h:6379/0")
        #expect(URLPassword.insert("new", into: "redis://u:old@h/0?x=1") == "redis://u:new@h/0?x=1")
        #expect(URLPassword.insert("p w", into: "redis+sentinel://app@s1:26379,s2:26379/m/0") == "redis+sentinel://app:p%20w@s1:26379,s2:26379/m/0")
    }
}
