import Foundation

/// Paths to the committed fixtures in Tests/Fixtures (made by Tests/Fixtures/generate.py).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func path(_ name: String) -> String { directory + "/" + name }

    static var cases: [String] {
        guard let data = FileManager.default.contents(atPath: path("manifest.json")),
              let names = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return names
    }

    /// One folder of this test process's for every output file, removed when the process exits.
    static let scratch: String = {
        let path = NSTemporaryDirectory() + "lowpass-tensor-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Fixtures.scratch) }
        return path
    }()

    /// A fresh empty folder for a test's output files.
    static func temporaryDirectory() -> String {
        let path = scratch + "/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
