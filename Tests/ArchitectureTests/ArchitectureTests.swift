import ConcordTestSupport
import Foundation
import Testing

/// docs/architecture.md's module graph against the code: every module imports exactly the project and C modules its
/// line lists, and each C library is imported by one module only.
@Suite struct ArchitectureTests {
    static let root = TestStores.repositoryRoot

    /// The ```modules block: module → the modules it may (and does) import.
    static func declared() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        guard let start = text.range(of: "```modules\n"), let end = text.range(of: "```", range: start.upperBound..<text.endIndex) else {
            throw ArchitectureError("docs/architecture.md has no ```modules block")
        }
        var out: [String: Set<String>] = [:]
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count >= 1 else { continue }
            out[String(parts[0]).trimmingCharacters(in: .whitespaces)] = Set((parts.count > 1 ? parts[1] : "").split(separator: " ").map(String.init))
        }
        return out
    }

    struct ArchitectureError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The project and C modules each Swift module under Sources/ imports.
    static func imported() throws -> [String: Set<String>] {
        let sources = root.appendingPathComponent("Sources")
        var out: [String: Set<String>] = [:]
        for module in try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted() {
            let dir = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(atPath: dir.path) else { continue }
            var swift = false
            var imports = Set<String>()
            for case let file as String in files where file.hasSuffix(".swift") {
                swift = true
                for line in try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).split(separator: "\n") {
                    let words = line.split(separator: " ")
                    guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") }), i + 1 < words.count else { continue }
                    let name = String(words[i + 1])
                    if name.hasPrefix("Concord") || (name.hasPrefix("C") && name.dropFirst().first?.isUppercase == true) { imports.insert(name) }
                }
            }
            if swift { out[module] = imports }
        }
        return out
    }

    @Test func everyModuleImportsExactlyWhatTheArchitectureSays() throws {
        let declared = try Self.declared(), imported = try Self.imported()
        let unlisted = Set(imported.keys).subtracting(declared.keys).sorted(), gone = Set(declared.keys).subtracting(imported.keys).sorted()
        #expect(unlisted.isEmpty && gone.isEmpty, "modules in the code but not in docs/architecture.md: \(unlisted); listed but not in Sources/: \(gone)")
        for (module, uses) in imported.sorted(by: { $0.key < $1.key }) {
            let allowed = declared[module] ?? []
            #expect(uses.subtracting(allowed).isEmpty, "\(module) imports \(uses.subtracting(allowed).sorted()), which docs/architecture.md does not list")
            #expect(allowed.subtracting(uses).isEmpty, "docs/architecture.md lists \(allowed.subtracting(uses).sorted()) for \(module), which it never imports")
        }
    }

    @Test func eachCLibraryHasOneOwner() throws {
        var owners: [String: [String]] = [:]
        for (module, uses) in try Self.imported() { for c in uses where !c.hasPrefix("Concord") { owners[c, default: []].append(module) } }
        #expect(Set(owners.keys) == ["CLibPQ", "CHiredis", "CJansson", "COpenSSL"], "\(owners)")
        for (c, modules) in owners { #expect(modules.count == 1, "\(c) is imported by \(modules.sorted())") }
        #expect(try Self.imported()["ConcordCore"] == [], "ConcordCore must depend on nothing")
    }
}
