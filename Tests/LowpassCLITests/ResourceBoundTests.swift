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
}
