import Foundation
import Testing
import LowpassIR

/// Diagnostic ids are declared once (`DiagnosticID`), each with its meaning; the docs list them from
/// there, and ids the docs name are real ones.
@Suite("Diagnostic ids")
struct DiagnosticCatalogTests {
    static let root = ImportTableTests.root

    /// docs/diagnostics.md, as the catalog renders it.
    static func page() -> String {
        var lines = ["# Diagnostics", "",
                     "Every error, warning and note Lowpass prints ends with a stable id in brackets, such as",
                     "`[bad-attribute]`: scripts and tests may match on it. This page lists every id and what it means.",
                     "It is generated from `Sources/LowpassIR/DiagnosticID.swift`; to regenerate it, run",
                     "`LOWPASS_WRITE_DOCS=1 swift test --filter DiagnosticCatalogTests`.", "",
                     "| id | meaning |", "|---|---|"]
        lines += DiagnosticID.all.map { "| `\($0.rawValue)` | \($0.meaning) |" }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func idsAreUniqueAndSorted() {
        let names = DiagnosticID.all.map(\.rawValue)
        #expect(Set(names).count == names.count)
        #expect(names == names.sorted())
        #expect(DiagnosticID.all.allSatisfy { !$0.meaning.isEmpty })
    }

    @Test func theDiagnosticsPageIsCurrent() throws {
        let path = Self.root + "/docs/diagnostics.md"
        if ProcessInfo.processInfo.environment["LOWPASS_WRITE_DOCS"] == "1" {
            try Self.page().write(toFile: path, atomically: true, encoding: .utf8)
        }
        let current = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        #expect(current == Self.page(), "docs/diagnostics.md is stale: regenerate it (LOWPASS_WRITE_DOCS=1)")
    }

    /// Every id is reported somewhere (no dead entries), and every `[id]` or backquoted id the other
    /// docs name in their diagnostics tables is in the catalog.
    @Test func theCatalogMatchesTheCodeAndTheDocs() throws {
        var sources = ""
        for folder in ["Sources", "Plugins"] {
            for file in FileManager.default.enumerator(atPath: Self.root + "/" + folder)?.compactMap({ $0 as? String }) ?? []
            where file.hasSuffix(".swift") && !file.hasSuffix("DiagnosticID.swift") {
                sources += try String(contentsOfFile: Self.root + "/" + folder + "/" + file, encoding: .utf8)
            }
        }
        for id in DiagnosticID.all {
            let camel = id.rawValue.split(separator: "-").enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
            let name = camel == "jit" ? "jitError" : camel
            #expect(sources.contains(".\(name)"), "'\(id.rawValue)' is declared but never reported")
        }
        let known = Set(DiagnosticID.all.map(\.rawValue))
        let doc = try String(contentsOfFile: Self.root + "/docs/graph-format.md", encoding: .utf8)
        let section = doc.components(separatedBy: "## 8. Verification and diagnostics").last?.components(separatedBy: "## 9.").first ?? ""
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let id = line.split(separator: "`")[1]
            #expect(known.contains(String(id)), "docs/graph-format.md names '\(id)', which no diagnostic has")
        }
    }
}
