import Foundation
import Reparam
import Testing
import LowpassIR
import LowpassPasses
import LowpassTensor
import LowpassZoo

/// Every re-parameterized graph computes the original function (reference interpreter, random weights).
@Suite("Re-parameterization")
struct ReparamTests {
    static let registry = PassRegistry(plugins: [ReparamPlugin.self])

    func run(_ pipeline: String, _ graph: Graph, _ weights: [String: Tensor]) throws -> (graph: Graph, weights: [String: Tensor], report: PipelineReport) {
        let passes = try Self.registry.configure(try Pipeline(parsing: pipeline))
        let result = try PassManager(log: { _ in }).run(passes, on: Model(graph: graph, weights: weights))
        return (result.graph, result.model.weights ?? weights, result.report)
    }

    /// Random weights, with BN statistics away from the identity so that folding matters.
    func randomWeights(_ graph: Graph) -> [String: Tensor] {
        SeededRecipe.weights(for: graph).tensors
    }

    func expectSameFunction(_ a: Graph, _ wa: [String: Tensor], _ b: Graph, _ wb: [String: Tensor], shape: [Int],
                            sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        var random = SplitMix64(seed: 11)
        let input = Tensor(shape: shape) { _ in Float(random.nextGaussian()) }
        let name = a.inputs[0].name
        let expected = try ReferenceInterpreter().run(a, weights: Weights(tensors: wa), inputs: [name: input])
        let actual = try ReferenceInterpreter().run(b, weights: Weights(tensors: wb), inputs: [name: input])
        for output in a.outputs {
            let d = try #require(actual[output]).difference(to: try #require(expected[output]))
            #expect(d.relative < 1e-5, "\(output): \(d)", sourceLocation: sourceLocation)
        }
    }

    @Test func foldBNOnTheSeedNetwork() throws {
        let graph = try #require(Zoo.model(named: "seed-mnist-net")).graph()
        let weights = randomWeights(graph)
        let (folded, newWeights, _) = try run("fold-bn", graph, weights)
        #expect(folded.nodes.filter { $0.op == .batchNormalization }.count == 2, "the two BatchNorm1d after Linear layers stay (not after a conv)")
        #expect(folded.nodes.filter { $0.op == .conv }.allSatisfy { $0.inputs.count == 3 })
        #expect(folded.parameter(named: "features.0.bias") != nil && folded.parameter(named: "features.1.running_mean") == nil)
        try expectSameFunction(graph, weights, folded, newWeights, shape: [2, 1, 28, 28])
    }

    @Test func fuseTheACNetSeed() throws {
        let acnet = try #require(Zoo.model(named: "seed-acnet")).graph()
        let plain = try #require(Zoo.model(named: "seed-mnist-net")).graph()
        let weights = randomWeights(acnet)
        let (fused, newWeights, report) = try run("fuse-branches", acnet, weights)
        #expect(fused.nodes.filter { $0.op == .conv }.count == plain.nodes.filter { $0.op == .conv }.count)
        #expect(!fused.nodes.contains { $0.op == .add || $0.op == .mul })
        #expect(report.remarks.contains { $0.message.contains("fused 3 branches (3x3 + 1x3 + 3x1) and a scale") || $0.message.contains("fused 3 branches") })
        try expectSameFunction(acnet, weights, fused, newWeights, shape: [2, 1, 28, 28])
        let (both, bothWeights, _) = try run("fuse-branches,fold-bn", acnet, weights)
        try expectSameFunction(acnet, weights, both, bothWeights, shape: [2, 1, 28, 28])
    }

    /// The seed block as PyTorch exports it, `(c(x) + h(x) + v(x)) / 3`: a Div by the constant 3, which
    /// fold-bn,fuse-branches absorb like the Mul by a third, leaving one conv per block.
    @Test func fuseTheACNetSeedDividedByThree() throws {
        var acnet = try #require(Zoo.model(named: "seed-acnet")).graph()
        let plain = try #require(Zoo.model(named: "seed-mnist-net")).graph()
        acnet.parameters.append(Parameter(name: "three", type: TensorType(fixed: []), inlineData: [3]))
        let scales = acnet.nodes.filter { $0.op == .mul && $0.inputs[1] == "one_third" }.count
        for i in acnet.nodes.indices where acnet.nodes[i].op == .mul && acnet.nodes[i].inputs[1] == "one_third" {
            acnet.nodes[i] = Node(name: acnet.nodes[i].name, op: .div, inputs: [acnet.nodes[i].inputs[0], "three"], outputs: acnet.nodes[i].outputs)
        }
        #expect(scales > 0 && acnet.nodes.filter { $0.op == .div }.count == scales)
        let weights = randomWeights(acnet)
        let (fused, newWeights, _) = try run("fold-bn,fuse-branches", acnet, weights)
        #expect(fused.nodes.filter { $0.op == .conv }.count == plain.nodes.filter { $0.op == .conv }.count)
        #expect(!fused.nodes.contains { [.add, .mul, .div].contains($0.op) }, "\(fused.nodes.map(\.op))")
        // The BatchNormalizations left are the classifier's, after its Gemms.
        for bn in fused.nodes where bn.op == .batchNormalization {
            #expect(fused.producerIndex(of: bn.inputs[0]).map { fused.nodes[$0].op } == .gemm, "\(bn.name)")
        }
        try expectSameFunction(acnet, weights, fused, newWeights, shape: [2, 1, 28, 28])
    }

    /// A block of parallel convs on one input, each optionally with bias and BN, summed, optionally scaled.
    func block(kernel k: Int, stride: Int, groups: Int, bias: Bool, bn: Bool, identity: Bool, channels c: Int = 4) -> Graph {
        var nodes: [Node] = []
        var parameters: [Parameter] = []
        var leaves: [String] = []
        let shapes: [(String, Int, Int)] = [("square", k, k), ("row", 1, k), ("column", k, 1), ("point", 1, 1)]
        for (name, kh, kw) in shapes {
            let pads = [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2]
            parameters.append(Parameter(name: "\(name).weight", type: TensorType(fixed: [c, c / groups, kh, kw])))
            var inputs = ["x", "\(name).weight"]
            if bias { parameters.append(Parameter(name: "\(name).bias", type: TensorType(fixed: [c]))); inputs.append("\(name).bias") }
            nodes.append(Node(name: name, op: .conv, inputs: inputs, outputs: [name], attributes: ["pads": .ints(pads), "strides": .ints([stride, stride]), "group": .int(groups)]))
            var leaf = name
            if bn {
                parameters += ["weight", "bias", "running_mean", "running_var"].map { Parameter(name: "\(name).bn.\($0)", type: TensorType(fixed: [c])) }
                nodes.append(Node(name: "\(name).bn", op: .batchNormalization, inputs: [name] + ["weight", "bias", "running_mean", "running_var"].map { "\(name).bn.\($0)" }, outputs: ["\(name).bn"]))
                leaf = "\(name).bn"
            }
            leaves.append(leaf)
        }
        if identity && stride == 1 {
            parameters += ["weight", "bias", "running_mean", "running_var"].map { Parameter(name: "id.bn.\($0)", type: TensorType(fixed: [c])) }
            nodes.append(Node(name: "id.bn", op: .batchNormalization, inputs: ["x"] + ["weight", "bias", "running_mean", "running_var"].map { "id.bn.\($0)" }, outputs: ["id.bn"]))
            leaves.append("id.bn")
        }
        var sum = leaves[0]
        for (i, leaf) in leaves.dropFirst().enumerated() {
            nodes.append(Node(name: "add\(i)", op: .add, inputs: [sum, leaf], outputs: ["add\(i)"]))
            sum = "add\(i)"
        }
        parameters.append(Parameter(name: "scale", type: TensorType(fixed: [1]), inlineData: [1.0 / Float(leaves.count)]))
        nodes.append(Node(name: "scaled", op: .mul, inputs: [sum, "scale"], outputs: ["y"]))
        nodes.append(Node(name: "relu", op: .relu, inputs: ["y"], outputs: ["r"]))
        return Graph(name: "block", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", .fixed(c), 11, 10]))], outputs: ["r"],
                     parameters: parameters, nodes: nodes)
    }

    static let variations: [(Int, Int, Int, Bool, Bool)] = [
        (3, 1, 1, true, true), (3, 2, 1, true, true), (5, 1, 1, false, true), (5, 2, 2, true, false), (3, 1, 4, false, false), (5, 1, 2, true, true),
    ]

    @Test(arguments: variations)
    func fusedBlocksComputeTheSame(kernel: Int, stride: Int, groups: Int, bias: Bool, bn: Bool) throws {
        let graph = block(kernel: kernel, stride: stride, groups: groups, bias: bias, bn: bn, identity: true)
        let weights = randomWeights(graph)
        let (fused, newWeights, report) = try run("fuse-branches", graph, weights)
        #expect(fused.nodes.filter { $0.op == .conv }.count == 1, "\(report.remarks)")
        #expect(fused.nodes.map(\.op) == [.conv, .relu])
        try expectSameFunction(graph, weights, fused, newWeights, shape: [2, 4, 11, 10])
    }

    @Test func aRepVGGLikeStackFuses() throws {
        // Three RepVGG blocks (3x3+BN, 1x1+BN, identity BN) in a row.
        var graph = Graph(name: "repvgg", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", 4, 9, 9]))], outputs: [])
        var x = "x"
        for b in 0..<3 {
            let p = "stage.\(b)"
            for (name, k) in [("dense", 3), ("point", 1)] {
                graph.parameters.append(Parameter(name: "\(p).\(name).weight", type: TensorType(fixed: [4, 4, k, k])))
                graph.nodes.append(Node(name: "\(p).\(name)", op: .conv, inputs: [x, "\(p).\(name).weight"], outputs: ["\(p).\(name)"],
                                        attributes: k == 3 ? ["pads": .ints([1, 1, 1, 1])] : [:]))
                graph.parameters += ["weight", "bias", "running_mean", "running_var"].map { Parameter(name: "\(p).\(name).bn.\($0)", type: TensorType(fixed: [4])) }
                graph.nodes.append(Node(name: "\(p).\(name).bn", op: .batchNormalization, inputs: ["\(p).\(name)"] + ["weight", "bias", "running_mean", "running_var"].map { "\(p).\(name).bn.\($0)" }, outputs: ["\(p).\(name).bn"]))
            }
            graph.parameters += ["weight", "bias", "running_mean", "running_var"].map { Parameter(name: "\(p).id.\($0)", type: TensorType(fixed: [4])) }
            graph.nodes.append(Node(name: "\(p).id", op: .batchNormalization, inputs: [x] + ["weight", "bias", "running_mean", "running_var"].map { "\(p).id.\($0)" }, outputs: ["\(p).id"]))
            graph.nodes.append(Node(name: "\(p).sum1", op: .add, inputs: ["\(p).dense.bn", "\(p).point.bn"], outputs: ["\(p).sum1"]))
            graph.nodes.append(Node(name: "\(p).sum2", op: .add, inputs: ["\(p).sum1", "\(p).id"], outputs: ["\(p).sum2"]))
            graph.nodes.append(Node(name: "\(p).relu", op: .relu, inputs: ["\(p).sum2"], outputs: ["\(p).relu"]))
            x = "\(p).relu"
        }
        graph.outputs = [x]
        let weights = randomWeights(graph)
        let (fused, newWeights, _) = try run("fuse-branches", graph, weights)
        #expect(fused.nodes.map(\.op) == [.conv, .relu, .conv, .relu, .conv, .relu])
        try expectSameFunction(graph, weights, fused, newWeights, shape: [2, 4, 9, 9])
    }

    /// BN -> Conv folds into the conv when the conv has no padding, and is refused (with a reason) when it has.
    @Test(arguments: [0, 1])
    func batchNormBeforeAConv(padding: Int) throws {
        let stats = ["weight", "bias", "running_mean", "running_var"]
        let graph = Graph(name: "bn-conv", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", 4, 7, 7]))], outputs: ["y"],
                          parameters: stats.map { Parameter(name: "bn.\($0)", type: TensorType(fixed: [4])) }
                              + [Parameter(name: "conv.weight", type: TensorType(fixed: [6, 2, 3, 3]))],
                          nodes: [Node(name: "bn", op: .batchNormalization, inputs: ["x"] + stats.map { "bn.\($0)" }, outputs: ["b"]),
                                  Node(name: "conv", op: .conv, inputs: ["b", "conv.weight"], outputs: ["y"],
                                       attributes: ["group": .int(2), "pads": .ints(Array(repeating: padding, count: 4))])])
        let weights = randomWeights(graph)
        let (folded, newWeights, report) = try run("fold-bn", graph, weights)
        if padding == 0 {
            #expect(folded.nodes.map(\.op) == [.conv])
            try expectSameFunction(graph, weights, folded, newWeights, shape: [2, 4, 7, 7])
        } else {
            #expect(folded == graph)
            #expect(report.remarks.contains { $0.id == .notFolded && $0.message.contains("padded") })
        }
    }

    @Test func inexactCasesAreRefusedWithAReason() throws {
        // Different groups.
        var g = block(kernel: 3, stride: 1, groups: 1, bias: true, bn: false, identity: false)
        g.nodes[1].attributes["group"] = .int(2)
        if let i = g.parameters.firstIndex(where: { $0.name == "row.weight" }) { g.parameters[i].type = TensorType(fixed: [4, 2, 1, 3]) }
        var (result, _, report) = try run("fuse-branches", g, randomWeights(g))
        #expect(result == g)
        #expect(report.remarks.contains { $0.id == .notFused && $0.message.contains("groups differ") })
        // A kernel off centre: the 1x3 conv padded as if it were a 1x1.
        g = block(kernel: 3, stride: 1, groups: 1, bias: true, bn: false, identity: false)
        g.nodes[1].attributes["pads"] = .ints([0, 0, 0, 2])
        (result, _, report) = try run("fuse-branches", g, randomWeights(g))
        #expect(result.nodes.contains { $0.op == .add })
        #expect(report.remarks.contains { $0.id == .notFused && $0.message.contains("not aligned") })
        // A branch read elsewhere.
        g = block(kernel: 3, stride: 1, groups: 1, bias: true, bn: false, identity: false)
        g.outputs.append("row")
        (result, _, report) = try run("fuse-branches", g, randomWeights(g))
        #expect(report.remarks.contains { $0.id == .notFused && $0.message.contains("read outside the sum") })
        // No weights at all.
        let seed = try #require(Zoo.model(named: "seed-mnist-net")).graph()
        #expect(throws: PipelineFailure.self) {
            _ = try PassManager(log: { _ in }).run(try Self.registry.configure(try Pipeline(parsing: "fold-bn")), on: Model(graph: seed))
        }
    }
}
