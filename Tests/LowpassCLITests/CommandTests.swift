import Foundation
import Testing
import LowpassIR
import LowpassTensor

@Suite("lowpass commands")
struct CommandTests {
    let example = "Graphs/examples/mnist-blurpool-small.json"

    @Test func inspectPrintsShapesParametersAndMultiplyAdds() throws {
        let result = try CLI.run(["inspect", example])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("%net.6: f32[N,64,12,12] = BlurPool(net.5) {filter_size=3, pad_mode=reflect}  # 82.94 K MACs"))
        #expect(result.stdout.contains("parameters: 391,370 learnable; 392,330 stored in 26 tensors"))
        #expect(result.stdout.contains("multiply-adds: 37,181,056 per sample"))
    }

    @Test func inspectSpeaksJSONAndDOT() throws {
        let json = try CLI.run(["inspect", example, "--format", "json"])
        let summary = try JSONValue.parse(json.stdout)
        #expect(summary["parameters"] == .int(391_370))
        #expect(summary["multiply_adds"] == .int(37_181_056))
        let dot = try CLI.run(["inspect", example, "--format", "dot"])
        #expect(dot.stdout.hasPrefix("digraph"))
        #expect(dot.stdout.contains(#""node:net.5" -> "node:net.6" [label="f32[N,64,24,24]"]"#))
    }

    @Test func verifyAcceptsAGoodGraphWithItsWeights() throws {
        let result = try CLI.run(["verify", CLI.fixture("small-convnet/graph.json")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("ok:"))
    }

    @Test func runWritesOutputsEqualToTheReference() throws {
        let out = CLI.temporaryDirectory()
        let result = try CLI.run(["run", CLI.fixture("small-convnet/graph.json"), "--input", "x=" + CLI.fixture("small-convnet/input.npy"),
                                  "--output-dir", out])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("y: [2, 10]"))
        #expect(result.stdout.contains("sample 1 top-5:"))
        #expect(try CLI.relativeError(of: out + "/y.npy", toFixture: "small-convnet/expected.npy") < 1e-5)
    }

    @Test func runWarnsWhenWeightsAreRandom() throws {
        let result = try CLI.run(["run", example, "--input", "Graphs/examples/digit-7.npy", "--output-dir", CLI.temporaryDirectory()])
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning: graph 'mnist-blurpool-small' names no weight file: parameters are random"))
    }

    @Test func helpDescribesTheCommands() throws {
        let result = try CLI.run(["--help"])
        for command in ["inspect", "run", "verify"] { #expect(result.stdout.contains(command)) }
        let run = try CLI.run(["run", "--help"])
        #expect(run.stdout.contains("--engine"))
        #expect(run.stdout.contains("NAME=FILE"))
    }
}
