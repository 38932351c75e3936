import Foundation
import Testing
import LowpassIR

/// docs/graph-format.md's op tables and docs/graph.schema.json's op parts are generated from the op
/// catalogue; these tests fail when either file differs from what the catalogue says. To regenerate:
/// `LOWPASS_WRITE_DOCS=1 swift test --filter OpCatalogueDocsTests`.
@Suite("Op catalogue docs")
struct OpCatalogueDocsTests {
    static let root = ImportTableTests.root
    static let write = ProcessInfo.processInfo.environment["LOWPASS_WRITE_DOCS"] == "1"
    static let begin = "<!-- generated from the op catalogue (Sources/LowpassIR); regenerate with LOWPASS_WRITE_DOCS=1 swift test --filter OpCatalogueDocsTests -->"
    static let end = "<!-- end of the generated op tables -->"

    @Test func theGraphFormatOpTablesAreCurrent() throws {
        let path = Self.root + "/docs/graph-format.md"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let parts = text.components(separatedBy: Self.begin)
        let after = parts.count == 2 ? parts[1].components(separatedBy: Self.end) : []
        try #require(after.count == 2, "docs/graph-format.md lacks the generated-table markers")
        let expected = parts[0] + Self.begin + "\n\n" + OpSchema.markdownTables() + "\n\n" + Self.end + after[1]
        if Self.write { try expected.write(toFile: path, atomically: true, encoding: .utf8) }
        let current = try String(contentsOfFile: path, encoding: .utf8)
        #expect(current == expected, "docs/graph-format.md's op tables are stale: regenerate them (LOWPASS_WRITE_DOCS=1)")
    }

    @Test func theJSONSchemaOpsAreCurrent() throws {
        let path = Self.root + "/docs/graph.schema.json"
        let document = try JSONValue.parse(String(contentsOfFile: path, encoding: .utf8))
        let (names, arity, attributes) = OpSchema.jsonSchemaParts()
        let expected = document
            .replacing(["$defs", "node", "properties", "op", "enum"], with: names)
            .replacing(["$defs", "node", "allOf"], with: arity)
            .replacing(["$defs", "attributes"], with: attributes)
        if Self.write { try expected.formatted().write(toFile: path, atomically: true, encoding: .utf8) }
        let current = try String(contentsOfFile: path, encoding: .utf8)
        #expect(current == expected.formatted(), "docs/graph.schema.json is stale: regenerate it (LOWPASS_WRITE_DOCS=1)")
    }

    /// The generated schema accepts every graph in Graphs/ (when python3 has jsonschema).
    @Test func everyOpHasADocumentedSummaryAndOutput() {
        for schema in OpSchema.all {
            #expect(!schema.summary.isEmpty && !schema.output.isEmpty, "\(schema.kind)")
            for spec in schema.attributes { #expect(!spec.help.isEmpty, "\(schema.kind).\(spec.name)") }
        }
    }
}

extension JSONValue {
    /// The document with the value at `path` (object keys) replaced.
    func replacing(_ path: [String], with value: JSONValue) -> JSONValue {
        guard let key = path.first else { return value }
        guard case .object(var members) = self, let index = members.firstIndex(where: { $0.key == key }) else { return self }
        members[index].value = members[index].value.replacing(Array(path.dropFirst()), with: value)
        return .object(members)
    }
}
