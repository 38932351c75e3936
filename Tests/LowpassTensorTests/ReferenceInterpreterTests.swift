import Foundation
import Testing
import LowpassIR
@testable import LowpassTensor

@Suite("Reference interpreter")
struct ReferenceInterpreterTests {
    /// Runs a one-node graph on one input tensor.
    func run(_ op: OpKind, _ input: Tensor, _ attributes: Attributes = [:], parameters: [String: Tensor] = [:]) throws -> Tensor {
        let names = parameters.keys.sorted()
        let graph = Graph(
            name: "one", inputs: [ValueInfo(name: "x", type: TensorType(fixed: input.shape))], outputs: ["y"],
            parameters: names.map { Parameter(name: $0, type: TensorType(fixed: parameters[$0]?.shape ?? [])) },
            nodes: [Node(name: "n", op: op, inputs: ["x"] + names, outputs: ["y"], attributes: attributes)])
        let outputs = try ReferenceInterpreter().run(graph, weights: Weights(tensors: parameters), inputs: ["x": input])
        return try #require(outputs["y"])
    }

    // Hand-computed cases: small enough to check on paper.

    @Test func blurPoolFilter2Stride2IsAWindowMean() throws {
        // M=2 pads (0, 1): each output is the mean of a 2x2 block; the last row/column reflect.
        let x = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let y = try run(.blurPool, x, ["filter_size": .int(2)])
        #expect(y.shape == [1, 1, 2, 2])
        // windows: rows {0,1} cols {0,1}: (1+2+4+5)/4 = 3; rows {0,1} cols {2, reflect 1}: (3+2+6+5)/4 = 4
        // rows {2, reflect 1}: cols {0,1}: (7+8+4+5)/4 = 6; cols {2,1}: (9+8+6+5)/4 = 7
        #expect(y.values == [3, 4, 6, 7])
    }

    @Test func blurPoolFilter3ZeroPadding() throws {
        // M=3, taps [1,2,1]/4, pads (1,1), zero mode, on a single 1 at the centre of 3x3, stride 1
        let x = Tensor(shape: [1, 1, 3, 3], values: [0, 0, 0, 0, 1, 0, 0, 0, 0])
        let y = try run(.blurPool, x, ["filter_size": .int(3), "strides": .ints([1, 1]), "pad_mode": .string("zero")])
        #expect(y.values == [1, 2, 1, 2, 4, 2, 1, 2, 1].map { Float($0) / 16 })
    }

    @Test func blurPoolFilter1IsSubsampling() throws {
        let x = Tensor(shape: [1, 1, 4, 4]) { Float($0) }
        #expect(try run(.blurPool, x, ["filter_size": .int(1)]).values == [0, 2, 8, 10])
    }

    @Test func convolutionByHand() throws {
        let x = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let w = Tensor(shape: [1, 1, 2, 2], values: [1, 0, 0, -1])
        let b = Tensor(shape: [1], values: [10])
        let y = try run(.conv, x, [:], parameters: ["w": w, "z.bias": b])
        #expect(y.values == [6, 6, 6, 6], "x[i][j] - x[i+1][j+1] = -4, plus bias 10")
    }

    @Test func maxPoolIgnoresPaddingAndAveragePoolCountsOnlyRealCells() throws {
        let x = Tensor(shape: [1, 1, 2, 2], values: [-1, -2, -3, -4])
        let attributes: Attributes = ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 0, 0])]
        #expect(try run(.maxPool, x, attributes).values == [-1, -1, -1, -1])
        #expect(try run(.averagePool, x, attributes).values == [-1, -1.5, -2, -2.5])
        var including = attributes
        including["count_include_pad"] = .int(1)
        #expect(try run(.averagePool, x, including).values == [-0.25, -0.75, -1, -2.5])
    }

    @Test func softmaxAndActivations() throws {
        let x = Tensor(shape: [1, 3], values: [-4, 0, 4])
        let s = try run(.softmax, x)
        #expect(abs(s.values.reduce(0, +) - 1) < 1e-6)
        #expect(try run(.relu, x).values == [0, 0, 4])
        #expect(try run(.clip, x, ["min": .float(0), "max": .float(3)]).values == [0, 0, 3])
        #expect(try run(.hardSwish, x).values == [-0.0, 0, 4])
        #expect(try run(.hardSigmoid, x).values == [0, 0.5, 1])
    }

    @Test func rejectsInputsOfTheWrongShape() {
        let graph = Graph(name: "g", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", 3, 4, 4]))], outputs: ["y"],
                          nodes: [Node(name: "r", op: .relu, inputs: ["x"], outputs: ["y"])])
        #expect(throws: Diagnostics.self) { try ReferenceInterpreter().run(graph, weights: Weights(), inputs: ["x": Tensor(zeros: [2, 3, 4, 5])]) }
        #expect(throws: Diagnostics.self) { try ReferenceInterpreter().run(graph, weights: Weights(), inputs: [:]) }
        #expect(throws: Diagnostics.self) { try ReferenceInterpreter().run(graph, weights: Weights(), inputs: ["x": Tensor(zeros: [2, 3, 4, 4]), "extra": Tensor(zeros: [1])]) }
        #expect((try? ReferenceInterpreter().run(graph, weights: Weights(), inputs: ["x": Tensor(zeros: [5, 3, 4, 4])])) != nil, "N binds to 5")
    }

    // PyTorch fixtures: BlurPool for M = 1...7 in all pad modes, MaxPool + BlurPool, a small residual
    // CNN with BN, and a network mixing every other op (see Tests/Fixtures/generate.py).

    @Test(arguments: Fixtures.cases)
    func matchesPyTorch(fixture: String) throws {
        let folder = Fixtures.path(fixture)
        let graph = try Graph.load(contentsOf: folder + "/graph.json")
        let weights = try Weights.load(for: graph, graphPath: folder + "/graph.json")
        #expect(weights.warnings.isEmpty || graph.parameters.allSatisfy { $0.inlineData != nil })
        let input = try NPY.read(contentsOf: folder + "/input.npy")
        let expected = try NPY.read(contentsOf: folder + "/expected.npy")
        let outputs = try ReferenceInterpreter().run(graph, weights: weights, inputs: [graph.inputs[0].name: input])
        let actual = try #require(outputs[graph.outputs[0]])
        #expect(actual.shape == expected.shape)
        let difference = actual.difference(to: expected)
        #expect(difference.relative < 1e-5, "\(fixture): max abs \(difference.absolute), relative \(difference.relative)")
    }

    @Test func fixturesCoverTheRequiredCases() {
        let cases = Set(Fixtures.cases)
        for m in 1...7 { for mode in ["reflect", "replicate", "zero"] { #expect(cases.contains("blurpool-m\(m)-\(mode)")) } }
        #expect(cases.isSuperset(of: ["maxblurpool", "small-convnet", "ops-mix"]))
    }
}

@Suite("Weights")
struct WeightsTests {
    @Test func initializationIsDeterministicAndShaped() throws {
        let graph = try Graph.load(contentsOf: Fixtures.path("small-convnet/graph.json"))
        var unweighted = graph
        unweighted.weightsFile = nil
        let a = try Weights.load(for: unweighted, graphPath: nil)
        let b = try Weights.load(for: unweighted, graphPath: nil)
        #expect(a.warnings.count == 1 && a.warnings[0].contains("random"))
        let conv = try #require(a["conv1.weight"])
        #expect(conv.values == b["conv1.weight"]?.values)
        #expect(a["bn1.weight"]?.values.allSatisfy { $0 == 1 } == true)
        #expect(a["bn1.running_var"]?.values.allSatisfy { $0 == 1 } == true)
        #expect(a["bn1.running_mean"]?.values.allSatisfy { $0 == 0 } == true)
        // He-normal with fan-out 8*3*3 = 72: standard deviation sqrt(2/72) = 0.167
        let std = (conv.values.map { Double($0 * $0) }.reduce(0, +) / Double(conv.count)).squareRoot()
        #expect(abs(std - (2.0 / 72).squareRoot()) < 0.05)
    }

    @Test func wrongShapedAndMissingWeightsAreNamed() throws {
        let folder = Fixtures.temporaryDirectory()
        var graph = try Graph.load(contentsOf: Fixtures.path("small-convnet/graph.json"))
        graph.parameters[0].type = TensorType(fixed: [8, 3, 5, 5])
        graph.parameters.append(Parameter(name: "fc.weigth", type: TensorType(fixed: [10, 16])))
        let graphPath = folder + "/graph.json"
        try Data(graph.jsonText().utf8).write(to: URL(fileURLWithPath: graphPath))
        try FileManager.default.copyItem(atPath: Fixtures.path("small-convnet/weights.safetensors"), toPath: folder + "/weights.safetensors")
        do {
            _ = try Weights.load(for: graph, graphPath: graphPath)
            Issue.record("loading should fail")
        } catch {
            #expect(error.description.contains("weights.safetensors: conv1.weight: parameter 'conv1.weight' is declared [8, 3, 5, 5] in the graph but has shape [8, 3, 3, 3] in the weight file"))
            #expect(error.description.contains("parameter 'fc.weigth' is not in the weight file (closest name in the file: 'fc.weight')"))
        }
    }
}
