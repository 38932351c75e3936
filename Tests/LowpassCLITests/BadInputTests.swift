import Foundation
import Testing
import LowpassIR
import LowpassTensor

/// Each kind of bad input ends in a short error that names the place, a failure status, and no crash.
@Suite("Errors on bad input")
struct BadInputTests {
    /// A copy of the small-convnet fixture in a fresh folder, with `edit` applied to its graph text.
    func brokenFixture(_ edit: (String) -> String) throws -> (folder: String, graph: String) {
        let folder = CLI.temporaryDirectory()
        let text = try String(contentsOfFile: CLI.fixture("small-convnet/graph.json"), encoding: .utf8)
        try CLI.write(edit(text), to: folder + "/graph.json")
        for file in ["weights.safetensors", "input.npy"] {
            try FileManager.default.copyItem(atPath: CLI.fixture("small-convnet/" + file), toPath: folder + "/" + file)
        }
        return (folder, folder + "/graph.json")
    }

    /// Runs the graph and checks the failure: a normal exit with status 1, a short message containing
    /// every piece of `expected`, and no output file left behind.
    func expectFailure(_ folder: String, graph: String, input: String? = nil, _ expected: [String],
                       sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let out = folder + "/out"
        let result = try CLI.run(["run", graph, "--input", "x=" + (input ?? folder + "/input.npy"), "--output-dir", out])
        #expect(result.exitedNormally, "the process must not crash", sourceLocation: sourceLocation)
        #expect(result.status == 1, sourceLocation: sourceLocation)
        for piece in expected { #expect(result.stderr.contains(piece), "stderr: \(result.stderr)", sourceLocation: sourceLocation) }
        #expect(!result.stderr.contains("\n\n"), "one paragraph", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
        let written = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(written.isEmpty, "no partial output: \(written)", sourceLocation: sourceLocation)
    }

    /// An input wrong in two dimensions is one finding, printed once (it was one per dimension).
    @Test func anInputOfTheWrongShapeIsReportedOnce() throws {
        let (folder, graph) = try brokenFixture { $0 }
        try NPY.write(Tensor(zeros: [2, 3, 13, 11]), to: folder + "/wrong.npy")
        try expectFailure(folder, graph: graph, input: folder + "/wrong.npy", ["has shape [2, 3, 13, 11]", "[input-shape]"])
        let result = try CLI.run(["run", graph, "--input", "x=" + folder + "/wrong.npy", "--output-dir", folder + "/out"])
        #expect(result.stderr.components(separatedBy: "[input-shape]").count == 2, "\(result.stderr)")
    }

    @Test func malformedJSON() throws {
        let (folder, graph) = try brokenFixture { $0.replacingOccurrences(of: "\"outputs\": [", with: "\"outputs\" [") }
        try expectFailure(folder, graph: graph, ["graph.json: not valid JSON: line", "expected ':' after key", "[malformed-json]"])
    }

    @Test func unknownOp() throws {
        let (folder, graph) = try brokenFixture { $0.replacingOccurrences(of: "\"op\": \"Relu\"", with: "\"op\": \"ReLU\"") }
        try expectFailure(folder, graph: graph, ["graph.json: $.nodes[2].op: node 'relu1': unknown op 'ReLU' (did you mean 'Relu'?)", "[unknown-op]"])
    }

    @Test func missingAttribute() throws {
        let (folder, graph) = try brokenFixture { text in
            text.replacingOccurrences(of: #""kernel_shape": \[\s*3,\s*3\s*\],"#, with: "", options: .regularExpression)
        }
        try expectFailure(folder, graph: graph, ["graph.json: $.nodes[7]: node 'pool': MaxPool needs attribute 'kernel_shape'", "[missing-attribute]"])
    }

    @Test func wrongShapedWeight() throws {
        let (folder, graph) = try brokenFixture { $0 }
        let weights = folder + "/weights.safetensors"
        var file = try SafeTensorsFile.read(contentsOf: weights)
        file.tensors["fc.weight"] = Tensor(zeros: [10, 15])
        try FileManager.default.removeItem(atPath: weights)
        try file.write(to: weights)
        try expectFailure(folder, graph: graph, ["weights.safetensors: fc.weight: parameter 'fc.weight' is declared [10, 16] in the graph but has shape [10, 15] in the weight file", "[parameter-shape]"])
    }

    @Test func truncatedSafetensors() throws {
        let (folder, graph) = try brokenFixture { $0 }
        let weights = folder + "/weights.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: weights))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: weights))
        try expectFailure(folder, graph: graph, ["weights.safetensors:", "the file is truncated", "[bad-safetensors]"])
    }

    @Test func npyOfTheWrongShape() throws {
        let (folder, graph) = try brokenFixture { $0 }
        let input = folder + "/wrong.npy"
        try NPY.write(Tensor(zeros: [2, 3, 12, 11]), to: input)
        try expectFailure(folder, graph: graph, input: input, ["input 'x' has shape [2, 3, 12, 11], but the graph declares f32[N,3,12,12]", "[input-shape]"])
    }

    @Test func npyThatIsNotAnArray() throws {
        let (folder, graph) = try brokenFixture { $0 }
        let input = folder + "/text.npy"
        try CLI.write("not numpy", to: input)
        try expectFailure(folder, graph: graph, input: input, ["text.npy: not a .npy file", "[bad-npy]"])
    }

    @Test func missingFiles() throws {
        let folder = CLI.temporaryDirectory()
        try expectFailure(folder, graph: folder + "/absent.json", input: CLI.fixture("small-convnet/input.npy"),
                          ["absent.json: cannot read the graph file", "[unreadable-file]"])
    }

    @Test func verifyReportsEveryProblem() throws {
        let (_, graph) = try brokenFixture { text in
            text.replacingOccurrences(of: "\"op\": \"Relu\"", with: "\"op\": \"Relu\", \"attributes\": {\"alpha\": 1}")
                .replacingOccurrences(of: #""outputs": \[\s*"y"\s*\],\s*"parameters""#, with: #""outputs": ["nothing"], "parameters""#,
                                      options: .regularExpression)
        }
        let result = try CLI.run(["verify", graph])
        #expect(result.status == 1)
        #expect(result.stderr.components(separatedBy: "[unknown-attribute]").count == 4, "all three Relu nodes: \(result.stderr)")
        #expect(result.stderr.contains("graph output 'nothing' is never defined [undefined-value]"))
    }
}
