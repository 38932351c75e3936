import Foundation
import Testing
import LowpassIR
import LowpassTensor

/// Inputs built to exhaust time, memory or the stack end in a clear error or a correct result.
@Suite("Resource bounds")
struct ResourceBoundTests {
    @Test func aHundredThousandNodeChainRuns() throws {
        let folder = CLI.temporaryDirectory()
        let count = 100_000
        var graph = Graph(name: "chain", inputs: [ValueInfo(name: "v0", type: TensorType(.f32, ["N", 4]))], outputs: ["v\(count)"])
        graph.nodes = (1...count).map { Node(name: "n\($0)", op: $0 % 2 == 0 ? .relu : .identity, inputs: ["v\($0 - 1)"], outputs: ["v\($0)"]) }
        try graph.jsonText().write(toFile: folder + "/chain.json", atomically: true, encoding: .utf8)
        try NPY.write(Tensor(shape: [2, 4], values: [-2, -1, 0, 1, 2, 3, -4, 5]), to: folder + "/x.npy")
        let start = Date()
        let result = try CLI.run(["run", folder + "/chain.json", "--input", folder + "/x.npy", "--output-dir", folder + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try NPY.read(contentsOf: folder + "/out/v\(count).npy").values == [0, 0, 0, 1, 2, 3, 0, 5])
        #expect(Date().timeIntervalSince(start) < 120)
    }

    @Test func aHugeDeclaredInputIsRefusedBeforeAllocating() throws {
        let folder = CLI.temporaryDirectory()
        let graph = Graph(name: "big", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 3, 8, 8]))], outputs: ["y"],
                          nodes: [Node(name: "pad", op: .pad, inputs: ["x"], outputs: ["y"], attributes: ["pads": .ints([0, 0, 0, 0, 0, 0, 1 << 30, 1 << 30])])])
        try graph.jsonText().write(toFile: folder + "/big.json", atomically: true, encoding: .utf8)
        let result = try CLI.run(["verify", folder + "/big.json"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("[tensor-too-large]"))
    }

    /// Parameters to seed and intermediates are checked against the machine's memory before anything
    /// is allocated: a 6 KB graph declaring 100 unused tensors of 2^32 elements each (1.6 TB) is
    /// refused at once, naming the largest; a JIT arena over `LOWPASS_MEMORY_BUDGET_MB` likewise.
    @Test func totalMemoryIsBounded() throws {
        let folder = CLI.temporaryDirectory()
        let bombs = (0..<100).map { #"{"name": "bomb\#($0)", "dtype": "f32", "shape": [65536, 65536]}"# }
        try CLI.write(#"{"format": "lowpass-graph", "version": 1, "name": "bomb", "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 1, 2, 2]}], "outputs": ["y"], "parameters": [{"name": "w", "dtype": "f32", "shape": [4, 1, 1, 1]}, \#(bombs.joined(separator: ", "))], "nodes": [{"name": "c", "op": "Conv", "inputs": ["x", "w"], "outputs": ["y"]}]}"#,
                      to: folder + "/bomb.json")
        try NPY.write(Tensor(zeros: [1, 1, 2, 2]), to: folder + "/x.npy")
        let bomb = try CLI.run(["run", folder + "/bomb.json", "--input", folder + "/x.npy", "--output-dir", folder + "/out"], timeout: 60)
        #expect(bomb.status == 1)
        #expect(bomb.stderr.contains("[memory-budget]") && bomb.stderr.contains("'bomb0' (4294967296 elements)"), "\(bomb.stderr)")

        try CLI.write(#"{"format": "lowpass-graph", "version": 1, "name": "arena", "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 1, 1024, 1024]}], "outputs": ["y"], "parameters": [], "nodes": [{"name": "p", "op": "MaxPool", "inputs": ["x"], "outputs": ["m"], "attributes": {"kernel_shape": [1, 1]}}, {"name": "r", "op": "Relu", "inputs": ["m"], "outputs": ["y"]}]}"#,
                      to: folder + "/arena.json")
        try NPY.write(Tensor(zeros: [1, 1, 1024, 1024]), to: folder + "/big.npy")
        let arguments = ["run", folder + "/arena.json", "--input", folder + "/big.npy", "--output-dir", folder + "/out"]
        let refused = try CLI.run(arguments, environment: ["LOWPASS_MEMORY_BUDGET_MB": "2"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("the intermediates need 4.0 MiB") && refused.stderr.contains("[memory-budget]"), "\(refused.stderr)")
        #expect(try CLI.run(arguments, environment: ["LOWPASS_MEMORY_BUDGET_MB": "64"]).status == 0)
    }
}
