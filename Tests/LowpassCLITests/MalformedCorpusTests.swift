import Foundation
import Testing

/// Every file of Tests/Malformed (made by Tests/Malformed/make.py) goes through the command that reads
/// it; each must end in a failure exit, not a crash, with its expected message, and write nothing.
@Suite("Malformed input corpus")
struct MalformedCorpusTests {
    struct Case: CustomStringConvertible, Sendable {
        var reader: String
        var input: String
        var expected: [String]
        var description: String { "\(reader)/\((input as NSString).lastPathComponent)" }
    }

    static let cases: [Case] = {
        let root = CLI.repository + "/Tests/Malformed"
        var found: [Case] = []
        for reader in ["graph", "npy", "safetensors", "pipeline", "onnx"] {
            let folder = root + "/" + reader
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for file in files.sorted() where file.hasSuffix(".expected") {
                let base = String(file.dropLast(".expected".count))
                guard let input = files.first(where: { $0.hasPrefix(base + ".") && !$0.hasSuffix(".expected") }),
                      let text = try? String(contentsOfFile: folder + "/" + file, encoding: .utf8) else { continue }
                found.append(Case(reader: reader, input: folder + "/" + input, expected: text.split(separator: "\n").map(String.init)))
            }
        }
        return found
    }()

    @Test func theCorpusIsLargeAndCoversEveryReader() {
        #expect(Self.cases.count >= 40)
        for reader in ["graph", "npy", "safetensors", "pipeline", "onnx"] { #expect(Self.cases.contains { $0.reader == reader }) }
    }

    @Test(arguments: cases)
    func failsCleanly(_ malformed: Case) throws {
        let out = CLI.temporaryDirectory() + "/out"
        let arguments: [String]
        switch malformed.reader {
        case "graph":
            arguments = ["run", malformed.input, "--input", "x=" + CLI.fixture("blurpool-m4-reflect/input.npy"), "--output-dir", out]
        case "npy":
            arguments = ["run", CLI.fixture("blurpool-m4-reflect/graph.json"), "--input", "x=" + malformed.input, "--output-dir", out]
        case "safetensors":
            arguments = ["run", CLI.fixture("small-convnet/graph.json"), "--weights", malformed.input,
                         "--input", "x=" + CLI.fixture("small-convnet/input.npy"), "--output-dir", out]
        case "onnx":
            arguments = ["import", malformed.input, "-o", out + ".json"]
        default:
            let pipeline = try String(contentsOfFile: malformed.input, encoding: .utf8)
            arguments = ["rewrite", CLI.fixture("small-convnet/graph.json"), "-o", out + ".json", "--passes", pipeline]
        }
        let result = try CLI.run(arguments)
        #expect(result.exitedNormally, "crashed: \(result.stderr.suffix(500))")
        #expect(result.status == 1)
        for piece in malformed.expected {
            #expect(result.stderr.contains(piece), "expected '\(piece)' in: \(result.stderr)")
        }
        #expect(!result.stderr.contains("Fatal error"))
        #expect(!FileManager.default.fileExists(atPath: out + ".json"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).isEmpty, "no partial output")
    }
}
