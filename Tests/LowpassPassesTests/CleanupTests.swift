import Cleanup
import Foundation
import Testing
import LowpassIR
import LowpassTensor
@testable import LowpassPasses

/// Each cleanup pass: small labelled before/after pairs in the text form, and a numeric check that
/// the function is unchanged on random weights and inputs.
@Suite("Cleanup passes")
struct CleanupTests {
    let registry = PassRegistry(plugins: [CleanupPlugin.self])

    func run(_ pipeline: String, on graph: Graph) throws -> Graph {
        let passes = try registry.configure(try Pipeline(parsing: pipeline))
        return try PassManager(log: { _ in }).run(passes, on: graph).graph
    }

    /// Node lines of the text form, without the header and parameters.
    func body(_ graph: Graph) -> [String] {
        graph.text(showParameters: false).split(separator: "\n").dropFirst().filter { !$0.contains("input ") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }

    static let x = ValueInfo(name: "x", type: TensorType(.f32, ["N", 4, 3, 3]))

    @Test func dceRemovesUnusedNodesAndParameters() throws {
        let before = Graph(name: "g", inputs: [Self.x], outputs: ["a"],
                           parameters: [Parameter(name: "p", type: TensorType(fixed: [1]))],
                           nodes: [Node(name: "a", op: .relu, inputs: ["x"], outputs: ["a"]),
                                   Node(name: "b", op: .sigmoid, inputs: ["x"], outputs: ["b"]),
                                   Node(name: "c", op: .mul, inputs: ["b", "p"], outputs: ["c"])])
        #expect(body(try run("dce", on: before)) == ["%a: f32[N,4,3,3] = Relu(x)", "output a"])
    }

    @Test func removeIdentityBypassesDropoutAndIdentity() throws {
        let before = Graph(name: "g", inputs: [Self.x], outputs: ["y"],
                           nodes: [Node(name: "r", op: .relu, inputs: ["x"], outputs: ["r"]),
                                   Node(name: "d", op: .dropout, inputs: ["r"], outputs: ["d"]),
                                   Node(name: "i", op: .identity, inputs: ["d"], outputs: ["i"]),
                                   Node(name: "y", op: .sigmoid, inputs: ["i"], outputs: ["y"])])
        #expect(body(try run("remove-identity", on: before)) == [
            "%r: f32[N,4,3,3] = Relu(x)", "%y: f32[N,4,3,3] = Sigmoid(r)", "output y"])
    }

    @Test func removeIdentityKeepsGraphOutputNames() throws {
        let before = Graph(name: "g", inputs: [Self.x], outputs: ["out"],
                           nodes: [Node(name: "r", op: .relu, inputs: ["x"], outputs: ["r"]),
                                   Node(name: "id", op: .identity, inputs: ["r"], outputs: ["out"])])
        #expect(body(try run("remove-identity", on: before)) == ["%out: f32[N,4,3,3] = Relu(x)  # r", "output out"])
        let passthrough = Graph(name: "g", inputs: [Self.x], outputs: ["out"],
                                nodes: [Node(name: "id", op: .identity, inputs: ["x"], outputs: ["out"])])
        #expect(try run("remove-identity", on: passthrough) == passthrough, "an input-to-output Identity stays")
    }

    @Test func canonicalizeForms() throws {
        let before = Graph(
            name: "g", inputs: [Self.x], outputs: ["y"],
            parameters: [Parameter(name: "k", type: TensorType(fixed: [4, 4, 3, 3])), Parameter(name: "w", type: TensorType(fixed: [4, 2])),
                         Parameter(name: "b", type: TensorType(fixed: [2]))],
            nodes: [Node(name: "conv", op: .conv, inputs: ["x", "k"], outputs: ["c"],
                         attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])]),
                    Node(name: "clip", op: .clip, inputs: ["c"], outputs: ["r"], attributes: ["min": .float(0)]),
                    Node(name: "pool", op: .globalAveragePool, inputs: ["r"], outputs: ["p"]),
                    Node(name: "reshape", op: .reshape, inputs: ["p"], outputs: ["f"], attributes: ["shape": .ints([0, -1])]),
                    Node(name: "mm", op: .matMul, inputs: ["f", "w"], outputs: ["m"]),
                    Node(name: "fc", op: .add, inputs: ["m", "b"], outputs: ["y"])])
        #expect(body(try run("canonicalize", on: before)) == [
            "%c: f32[N,4,3,3] = Conv(x, k) {pads=[1,1,1,1]}  # conv",
            "%r: f32[N,4,3,3] = Relu(c)  # clip",
            "%p: f32[N,4,1,1] = GlobalAveragePool(r)  # pool",
            "%f: f32[N,4] = Flatten(p)  # reshape",
            "%y: f32[N,2] = Gemm(f, w, b)  # fc",
            "output y",
        ])
        let after = try run("canonicalize", on: before)
        #expect(try run("canonicalize", on: after) == after, "idempotent")
    }

    /// The cleanup pipeline computes the same function as the graph it was given.
    @Test(arguments: ["ops-mix", "small-convnet"])
    func preservesTheFunction(fixture: String) throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/" + fixture
        var graph = try Graph.load(contentsOf: folder + "/graph.json")
        graph.weightsFile = nil  // random weights: the check must not depend on the trained values
        let weights = try Weights.load(for: graph, graphPath: nil)
        let rewritten = try run("remove-identity,canonicalize,dce", on: graph)
        #expect(rewritten != graph)
        var random = SplitMix64(seed: 7)
        let shape = graph.inputs[0].type.binding(["N": 3]).fixedShape ?? []
        let input = Tensor(shape: shape) { _ in Float(random.nextGaussian()) }
        let name = graph.inputs[0].name
        let expected = try ReferenceInterpreter().run(graph, weights: weights, inputs: [name: input])
        let actual = try ReferenceInterpreter().run(rewritten, weights: weights, inputs: [name: input])
        for output in graph.outputs {
            let difference = try #require(actual[output]).difference(to: try #require(expected[output]))
            #expect(difference.relative < 1e-6, "\(output): \(difference)")
        }
    }
}
