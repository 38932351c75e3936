import Foundation
import LowpassTensor
import Testing

/// What commands refuse to read or replace (issue 24's file defects): each case failed before its fix.
@Suite("Files: what is never read or replaced")
struct FileSafetyTests {
    let example = CLI.fixture("small-convnet/graph.json")

    /// A copy of the small-convnet fixture (graph and weights) in a fresh folder.
    func fixtureCopy() throws -> (folder: String, graph: String) {
        let folder = CLI.temporaryDirectory()
        for file in ["graph.json", "weights.safetensors", "input.npy"] {
            try FileManager.default.copyItem(atPath: CLI.fixture("small-convnet/" + file), toPath: folder + "/" + file)
        }
        return (folder, folder + "/graph.json")
    }

    func fileType(_ path: String) -> FileAttributeType? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
    }

    /// A FIFO (or, through a link, a device) at the output path stays what it was; before, the atomic
    /// rename put a regular file in its place (as root, `-o /dev/null` replaced the system's).
    @Test(arguments: ["rewrite", "export"])
    func anOutputThatIsNotARegularFileIsRefused(command: String) throws {
        let folder = CLI.temporaryDirectory()
        let fifo = folder + "/out"
        #expect(mkfifo(fifo, 0o644) == 0)
        let link = folder + "/null-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/null")
        for target in [fifo, link] {
            let arguments = command == "rewrite" ? ["rewrite", example, "-o", target, "--passes", "dce"] : ["export", example, "-o", target]
            let result = try CLI.run(arguments, timeout: 30)
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("[write-refused]"), "\(result.stderr)")
        }
        #expect(fileType(fifo) != .typeRegular)
        #expect(fileType(link) == .typeSymbolicLink)
        #expect(fileType("/dev/null") == .typeCharacterSpecial)
    }

    /// `--in-place` through a symbolic link replaces the file it names and keeps the link.
    @Test func aLinkIsWrittenThrough() throws {
        let (folder, graph) = try fixtureCopy()
        let link = folder + "/link.json"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: graph)
        let result = try CLI.run(["rewrite", link, "--in-place", "--passes", "dce"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(fileType(link) == .typeSymbolicLink)
        #expect(fileType(graph) == .typeRegular)
    }

    /// A FIFO as the graph, the weights or an input fails at once instead of waiting for a writer.
    @Test func aFIFOIsNotReadFrom() throws {
        let (folder, graph) = try fixtureCopy()
        let fifo = folder + "/fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        for arguments in [["verify", fifo], ["run", graph, "--weights", fifo, "--input", "x=" + folder + "/input.npy", "--output-dir", folder + "/out"],
                          ["run", graph, "--input", "x=" + fifo, "--output-dir", folder + "/out"]] {
            let result = try CLI.run(arguments, timeout: 30)
            #expect(result.exitedNormally && result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("not a regular file (a FIFO)"), "\(result.stderr)")
        }
    }

    /// Every command that writes refuses to write over what it reads, or two outputs onto one file.
    @Test func outputsNeverReplaceInputs() throws {
        let (folder, graph) = try fixtureCopy()
        let weights = folder + "/weights.safetensors"
        let onnx = folder + "/model.onnx"
        #expect(try CLI.run(["export", graph, "-o", onnx]).status == 0)
        let before = try [graph, weights, onnx].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        for arguments in [["export", graph, "-o", graph], ["export", graph, "-o", weights],
                          ["import", onnx, "-o", onnx], ["import", onnx, "-o", folder + "/model.safetensors"],
                          ["rewrite", graph, "-o", weights, "--passes", "dce"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 1, "\(arguments) succeeded: \(result.stdout)")
            #expect(result.stderr.contains("[would-overwrite-input]"), "\(arguments): \(result.stderr)")
        }
        let after = try [graph, weights, onnx].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(before == after)
        #expect(!FileManager.default.fileExists(atPath: folder + "/model.safetensors"))
    }

    /// External data reached through a link must lie inside the model's folder too: a link to
    /// /etc/passwd gave a weight its first bytes. A link to a file beside the model still reads.
    @Test func externalDataLinkedFromOutsideIsRefused() throws {
        let folder = CLI.temporaryDirectory(), outside = CLI.temporaryDirectory()
        try FileManager.default.copyItem(atPath: CLI.fixture("onnx/external-data.onnx"), toPath: folder + "/m.onnx")
        try FileManager.default.copyItem(atPath: CLI.fixture("onnx/external-data.bin"), toPath: outside + "/real.bin")
        try FileManager.default.createSymbolicLink(atPath: folder + "/external-data.bin", withDestinationPath: outside + "/real.bin")
        let refused = try CLI.run(["import", folder + "/m.onnx", "-o", folder + "/m.json"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("outside the model's folder"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.json"))

        try FileManager.default.removeItem(atPath: folder + "/external-data.bin")
        try FileManager.default.copyItem(atPath: outside + "/real.bin", toPath: folder + "/real.bin")
        try FileManager.default.createSymbolicLink(atPath: folder + "/external-data.bin", withDestinationPath: "real.bin")
        let accepted = try CLI.run(["import", folder + "/m.onnx", "-o", folder + "/m.json"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        // Named by a bare file name, the model's folder is the working directory (it was "", which
        // resolved nowhere, and every model with external data failed to import).
        let bare = try CLI.run(["import", "m.onnx", "-o", "bare.json"], directory: folder)
        #expect(bare.status == 0, "\(bare.stderr)")
    }

    /// A temporary file left by a writer that died (its process gone) is removed by the next write to
    /// the same target; one of a live process is not.
    @Test func staleTemporaryFilesAreRemoved() throws {
        let (folder, graph) = try fixtureCopy()
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let stale = folder + "/.out.json.lowpass-tmp-\(finished.processIdentifier)-0"
        let live = folder + "/.out.json.lowpass-tmp-\(getpid())-0"
        for path in [stale, live] { try CLI.write("partial", to: path) }
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/out.json", "--passes", "dce"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains("lowpass-tmp") && !$0.hasSuffix("\(getpid())-0") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func outputAndInPlaceTogetherAreRefused() throws {
        let (folder, graph) = try fixtureCopy()
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/b.json", "--in-place", "--passes", "dce"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not both"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/b.json"))
    }

    /// The system reads a path only up to a NUL: "a\u0000b.safetensors" loaded `a`.
    @Test func aWeightsPathWithANULIsRefused() throws {
        let (folder, graph) = try fixtureCopy()
        try FileManager.default.copyItem(atPath: folder + "/weights.safetensors", toPath: folder + "/a")
        var text = try String(contentsOfFile: graph, encoding: .utf8)
        let weightsLine = try #require(text.range(of: #""weights": "[^"]*""#, options: .regularExpression))
        text.replaceSubrange(weightsLine, with: #""weights": "a\u0000b.safetensors""#)
        try CLI.write(text, to: graph)
        let result = try CLI.run(["verify", graph])
        #expect(result.status == 1)
        #expect(result.stderr.contains("$.weights"), "\(result.stderr)")
        #expect(result.stderr.contains("NUL"), "\(result.stderr)")
    }
}

/// `run` writes all its outputs or none, never two to one file, never over an input.
@Suite("Files: run's outputs")
struct RunOutputTests {
    /// A graph computing `outputs` as Relus of its one input `x` [1, 4].
    func graph(outputs: [String]) throws -> (folder: String, graph: String, input: String) {
        let folder = CLI.temporaryDirectory()
        let nodes: [[String: Any]] = outputs.enumerated().map { i, name in ["name": "n\(i)", "op": "Relu", "inputs": ["x"], "outputs": [name]] }
        let graph: [String: Any] = ["format": "lowpass-graph", "version": 1, "name": "outputs", "outputs": outputs, "parameters": [Any](),
                                    "inputs": [["name": "x", "dtype": "f32", "shape": [1, 4]]], "nodes": nodes]
        try JSONSerialization.data(withJSONObject: graph).write(to: URL(fileURLWithPath: folder + "/graph.json"))
        try NPY.write(Tensor(shape: [1, 4], values: [1, -2, 3, -4]), to: folder + "/x.npy")
        return (folder, folder + "/graph.json", folder + "/x.npy")
    }

    func written(_ folder: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() }

    @Test func twoOutputsOneFileAreRefused() throws {
        let (folder, graph, input) = try graph(outputs: ["sub/dir", "sub_dir"])
        let result = try CLI.run(["run", graph, "--input", "x=" + input, "--output-dir", folder + "/out"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("outputs 'sub/dir' and 'sub_dir' would both be written to"), "\(result.stderr)")
        #expect(written(folder + "/out").isEmpty)
    }

    /// A name too long for a file fails before any output is written (`y.npy` was left behind).
    @Test func allOrNone() throws {
        let (folder, graph, input) = try graph(outputs: ["y", String(repeating: "z", count: 300)])
        let result = try CLI.run(["run", graph, "--input", "x=" + input, "--output-dir", folder + "/out"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("[bad-output-name]"), "\(result.stderr)")
        #expect(written(folder + "/out").isEmpty)
    }

    /// The longest name a file can have still writes (its temporary file's name is shortened).
    @Test func theLongestOutputNameWrites() throws {
        let name = String(repeating: "z", count: 251)
        let (folder, graph, input) = try graph(outputs: [name])
        let result = try CLI.run(["run", graph, "--input", "x=" + input, "--output-dir", folder + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(written(folder + "/out") == [name + ".npy"])
    }

    @Test func anOutputNeverReplacesAnInput() throws {
        let (folder, graph, _) = try graph(outputs: ["x2"])
        try NPY.write(Tensor(shape: [1, 4], values: [1, -2, 3, -4]), to: folder + "/x2.npy")
        let result = try CLI.run(["run", graph, "--input", "x=" + folder + "/x2.npy", "--output-dir", folder])
        #expect(result.status == 1)
        #expect(result.stderr.contains("[would-overwrite-input]"), "\(result.stderr)")
        #expect(try NPY.read(contentsOf: folder + "/x2.npy").values == [1, -2, 3, -4])
        let twice = try CLI.run(["run", graph, "--input", "x=" + folder + "/x2.npy", "--input", "x=" + folder + "/x2.npy", "--output-dir", folder + "/out"])
        #expect(twice.status == 1)
        #expect(twice.stderr.contains("--input x is given twice"), "\(twice.stderr)")
    }
}
