import Antialias
import LowpassIR
import LowpassJIT
import LowpassPasses
import LowpassTensor
import LowpassZoo
import Testing

/// `base` ([1, C, H, W]) rolled by each (dy, dx), as torch.roll(base, (dy, dx), (2, 3)): one sample per shift.
func circularShifts(of base: Tensor, _ shifts: [(Int, Int)]) -> Tensor {
    let (c, h, w) = (base.shape[1], base.shape[2], base.shape[3])
    return Tensor(shape: [shifts.count, c, h, w]) { i in
        let (s, plane, y, x) = (i / (c * h * w), i / (h * w) % c, i / w % h, i % w)
        let (dy, dx) = shifts[s]
        return base[(plane * h + (y - dy % h + h) % h) * w + (x - dx % w + w) % w]
    }
}

/// The acceptance sample: (0, 0), the 15 other shifts in [0, 4)^2, and 32 random ones.
func shiftSample(size: Int, seed: UInt64) -> [(Int, Int)] {
    var generator = SplitMix64(seed: seed)
    let small = (0..<16).map { ($0 / 4, $0 % 4) }
    return small + (0..<32).map { _ in (Int(generator.nextUniform() * Double(size)), Int(generator.nextUniform() * Double(size))) }
}

/// The largest difference of any sample's output from sample 0's, relative to sample 0's largest magnitude.
func largestShiftError(_ output: Tensor) -> Double {
    let per = output.count / output.shape[0]
    let first = (0..<per).map { Double(output[$0]) }
    let scale = first.map(abs).max() ?? 1
    var worst = 0.0
    for s in 1..<output.shape[0] {
        for i in 0..<per { worst = max(worst, abs(Double(output[s * per + i]) - first[i]) / scale) }
    }
    return worst
}

@Suite("Adaptive polyphase sampling: the ops, the JIT kernels and exact invariance")
struct PolyphaseTests {
    private func reference(_ graph: Graph, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        try ReferenceInterpreter().run(graph, weights: Weights(tensors: [:]), inputs: inputs)
    }

    /// index = PolyphaseIndex(x); y = PolyphaseSelect(x, index), both outputs.
    private func chooseAndSelect(_ shape: [Int], strides: [Int], norm: String = "l2") -> Graph {
        Graph(name: "aps", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y", "index"], parameters: [],
              nodes: [Node(name: "choose", op: .polyphaseIndex, inputs: ["x"], outputs: ["index"], attributes: ["strides": .ints(strides), "norm": .string(norm)]),
                      Node(name: "select", op: .polyphaseSelect, inputs: ["x", "index"], outputs: ["y"], attributes: ["strides": .ints(strides)])])
    }

    /// Component k = i * sW + j starts at row i, column j; l2 and l1 can disagree; ties go to the lowest k;
    /// a 3x3 map wraps around; indices out of range are clamped, NaN reads as 0.
    @Test func referenceValuesByHand() throws {
        var values = [Float](repeating: 0, count: 16)
        for (r, c) in [(0, 1), (0, 3), (2, 1), (2, 3)] { values[r * 4 + c] = 1 }  // component 1: four ones (l2 4, l1 4)
        values[1 * 4 + 0] = 3  // component 2: one three (l2 9, l1 3)
        let x = Tensor(shape: [1, 1, 4, 4], values: values)
        let l2 = try reference(chooseAndSelect([1, 1, 4, 4], strides: [2, 2]), ["x": x])
        #expect(l2["index"]?.values == [2] && l2["y"]?.values == [3, 0, 0, 0])
        let l1 = try reference(chooseAndSelect([1, 1, 4, 4], strides: [2, 2], norm: "l1"), ["x": x])
        #expect(l1["index"]?.values == [1] && l1["y"]?.values == [1, 1, 1, 1])
        let zeros = try reference(chooseAndSelect([1, 2, 4, 4], strides: [2, 2]), ["x": Tensor(zeros: [1, 2, 4, 4])])
        #expect(zeros["index"]?.values == [0], "ties: the lowest index")

        let ramp = Tensor(shape: [1, 1, 3, 3]) { Float($0) }
        let select = Graph(name: "select", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 1, 3, 3])), ValueInfo(name: "k", type: TensorType(fixed: [1]))],
                           outputs: ["y"], parameters: [],
                           nodes: [Node(name: "select", op: .polyphaseSelect, inputs: ["x", "k"], outputs: ["y"])])
        func selected(_ k: Float) throws -> [Float]? { try reference(select, ["x": ramp, "k": Tensor(shape: [1], values: [k])])["y"]?.values }
        #expect(try selected(3) == [4, 3, 1, 0], "rows 1, 0 and columns 1, 0: wrapped")
        #expect(try selected(0) == [0, 2, 6, 8])
        #expect(try selected(7.9) == selected(3) && selected(-2) == selected(0) && selected(.nan) == selected(0) && selected(1.9) == selected(1))
    }

    static let kernelCases: [([Int], [Int], String)] = [
        ([2, 3, 8, 8], [2, 2], "l2"), ([2, 5, 16, 64], [2, 2], "l1"), ([1, 3, 40, 46], [2, 2], "l2"), ([1, 2, 7, 9], [2, 2], "l2"),
        ([2, 3, 9, 12], [3, 3], "l1"), ([1, 2, 12, 10], [2, 1], "l2"), ([3, 2, 1, 1], [2, 2], "l2"), ([1, 4, 6, 36], [1, 4], "l2"),
    ]

    /// Whole strides (vector sums, the stride-2 shuffle), wrap-around, stride 3 and mixed strides, row
    /// tails: the JIT chooses and copies exactly as the reference.
    @Test(arguments: kernelCases)
    func kernelsMatchTheReference(shape: [Int], strides: [Int], norm: String) throws {
        let graph = chooseAndSelect(shape, strides: strides, norm: norm)
        try expectMatchesReference(graph, Weights(tensors: [:]), inputs: ["x": randomTensor(shape, seed: 41)], tolerance: 0)
    }

    /// An index from the outside: clamped and truncated like the reference's, NaN as 0.
    @Test func selectReadsAnyIndex() throws {
        let graph = Graph(name: "select", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [4, 3, 10, 34])), ValueInfo(name: "k", type: TensorType(fixed: [4]))],
                          outputs: ["y"], parameters: [],
                          nodes: [Node(name: "select", op: .polyphaseSelect, inputs: ["x", "k"], outputs: ["y"])])
        try expectMatchesReference(graph, Weights(tensors: [:]), inputs: ["x": randomTensor([4, 3, 10, 34], seed: 42), "k": Tensor(shape: [4], values: [1.5, 9, .nan, -3])],
                                   tolerance: 0)
    }

    /// Strides past 8 (hostile graphs: 2^20 would mean 2^40 components to compare) are refused by the verifier.
    @Test func hugeStridesAreRefused() throws {
        for strides in [[1 << 20, 1 << 20], [9, 1], [0, 2]] {
            #expect(throws: Diagnostics.self) { try chooseAndSelect([1, 2, 8, 8], strides: strides).verify() }
        }
        _ = try chooseAndSelect([1, 2, 8, 8], strides: [8, 3]).verify()
    }

    /// An antialiased network rewritten by aps (each strided BlurPool at stride 1, circular, then polyphase
    /// sampling: APS + LPF) is exactly invariant too, its shortcut blurs keeping their main path's choice.
    @Test(arguments: ["resnet18", "densenet121"])
    func antialiasedNetworksBecomeInvariant(name: String) throws {
        let model = try #require(Zoo.model(named: name))
        let graph = try antialiased(model.graph(height: 64, width: 64), "antialias,aps")
        #expect(!graph.nodes.contains { $0.op == .blurPool && (try? $0.blurPoolSpec().strides) != [1, 1] }, "no blur subsamples")
        #expect(graph.nodes.filter { $0.op == .blurPool }.allSatisfy { (try? $0.blurPoolSpec().padMode) == .circular })
        let input = circularShifts(of: randomTensor([1, 3, 64, 64], seed: 46), shiftSample(size: 64, seed: 47))
        var options = CompileOptions()
        options.threads = 2
        let compiled = try CompiledModel(graph: graph, weights: try randomizedWeights(graph), inputShapes: [graph.inputs[0].name: input.shape], options: options)
        let error = largestShiftError(try #require(try compiled.run([graph.inputs[0].name: input])[graph.outputs[0]]))
        #expect(error <= 1e-5, "\(name): \(error)")
    }

    /// An APS network (with its circular pads, a blur and the shortcuts' shared choices) on the JIT equals the reference.
    @Test func apsNetworkMatchesTheReference() throws {
        let model = try #require(Zoo.model(named: "resnet18"))
        let graph = try antialiased(model.graph(height: 32, width: 32), "aps{filter=3}")
        #expect(graph.nodes.filter { $0.op == .polyphaseIndex }.count == 5 && graph.nodes.filter { $0.op == .polyphaseSelect }.count == 8)
        try expectMatchesReference(graph, try randomizedWeights(graph), inputs: [graph.inputs[0].name: randomTensor([2, 3, 32, 32], seed: 43)])
    }

    /// The point of the pass: for every circular shift in the sample, the output of the rewritten
    /// network equals the unshifted one (to float rounding); the original and the blurred ones do not.
    /// BatchNorm variances are scaled per model so that the output depends on the input (with
    /// MobileNetV2's at 0.5 to 1.5 its signal fades ten-fold a stage and any output passes).
    @Test(arguments: [("resnet18", 1.0), ("resnet50", 1.0), ("mobilenet_v2", 0.02), ("densenet121", 1.0)])
    func circularShiftsLeaveTheOutputUnchanged(name: String, varianceScale: Double) throws {
        let model = try #require(Zoo.model(named: name))
        let original = model.graph(height: 64, width: 64)
        let shifts = shiftSample(size: 64, seed: 44)
        let input = circularShifts(of: randomTensor([1, 3, 64, 64], seed: 45), shifts)
        var options = CompileOptions()
        options.threads = 2
        func shiftError(_ pipeline: String?) throws -> Double {
            let graph = try pipeline.map { try antialiased(original, $0) } ?? original
            var weights = try randomizedWeights(graph)
            for node in graph.nodes where node.op == .batchNormalization {
                if let variance = weights.tensors[node.inputs[4]] { weights.tensors[node.inputs[4]] = Tensor(shape: variance.shape) { Float(Double(variance[$0]) * varianceScale) } }
            }
            let compiled = try CompiledModel(graph: graph, weights: weights, inputShapes: [graph.inputs[0].name: input.shape], options: options)
            return largestShiftError(try #require(try compiled.run([graph.inputs[0].name: input])[graph.outputs[0]]))
        }
        let aps = try shiftError("aps")
        #expect(aps <= 1e-5, "\(name) with aps: relative change \(aps) under circular shifts")
        for pipeline in [nil, "antialias", "aps{pad=keep}"] as [String?] {
            let error = try shiftError(pipeline)
            #expect(error > 1e-3, "\(name) \(pipeline ?? "as it is") is not invariant: \(error)")
        }
    }
}
