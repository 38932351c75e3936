import Foundation
import Testing

/// The README's module table is the architecture: every `import` in Sources/ and Plugins/ is one the
/// table allows its module, so a layer that starts leaning on one above it fails here.
@Suite("Import directions")
struct ImportTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let system: Set<String> = ["Foundation", "FoundationEssentials", "Dispatch", "Synchronization", "Glibc", "Darwin", "Musl"]

    /// Module -> what it may import, from the README table under "may import".
    static func table() throws -> [String: Set<String>] {
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        var table: [String: Set<String>] = [:]
        var everything = Set<String>()
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| module | may import |") }) else { return [:] }
        for line in lines[(header + 2)...].prefix(while: { $0.hasPrefix("|") }) {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2 else { continue }
            func names(_ cell: String) -> [String] {
                cell.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            }
            var allowed = Set(names(cells[1]))
            if cells[1].hasPrefix("all of the above") { allowed.formUnion(everything) }
            for module in names(cells[0]) { table[module] = allowed; everything.insert(module) }
        }
        return table
    }

    /// Module name -> its folder, as Package.swift lays them out.
    static let folders: [String: String] = [
        "LowpassIR": "Sources/LowpassIR", "LowpassTensor": "Sources/LowpassTensor", "LowpassPasses": "Sources/LowpassPasses",
        "LowpassZoo": "Sources/LowpassZoo", "LowpassONNX": "Sources/LowpassONNX", "LowpassJIT": "Sources/LowpassJIT",
        "LowpassPyTorch": "Sources/LowpassPyTorch", "lowpass": "Sources/lowpass", "Cleanup": "Plugins/Cleanup", "Antialias": "Plugins/Antialias", "Reparam": "Plugins/Reparam",
    ]

    @Test func everyImportIsOneTheTableAllows() throws {
        let table = try Self.table()
        #expect(Set(table.keys) == Set(Self.folders.keys), "the README table names every module once")
        var checked = 0
        for (module, folder) in Self.folders {
            let allowed = try #require(table[module], "\(module) is missing from the README table")
            let files = FileManager.default.enumerator(atPath: Self.root + "/" + folder)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            #expect(!files.isEmpty, "\(folder) has Swift files")
            for file in files {
                let text = try String(contentsOfFile: Self.root + "/" + folder + "/" + file, encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ").map(String.init)
                    guard let at = words.firstIndex(of: "import"), at + 1 < words.count,
                          words[..<at].allSatisfy({ ["@testable", "public", "internal", "@_exported", "@preconcurrency"].contains($0) }) else { continue }
                    let imported = words[at + 1]
                    checked += 1
                    #expect(Self.system.contains(imported) || allowed.contains(imported),
                            "\(folder)/\(file) imports \(imported); the README allows \(module) only \(allowed.sorted())")
                }
            }
        }
        #expect(checked > 50)
    }
}
