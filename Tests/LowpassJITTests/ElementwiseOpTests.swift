import LowpassIR
import LowpassJIT
import LowpassTensor
import Testing

/// Every element-wise op of the catalogue, JIT against the reference: alone on tensors of rank 1 to 6
/// with odd sizes, broadcast both ways against runtime inputs and constants (a one-element constant
/// becomes a literal in the kernel), chained into one kernel, and in a conv's epilogue.
@Suite("JIT element-wise ops match the reference")
struct ElementwiseOpTests {
    static let ops = OpKind.allCases.filter { $0.schema.isElementwise }

    /// Attributes away from the defaults, so they are really read.
    static func attributes(_ op: OpKind) -> [Attributes] {
        switch op {
        case .clip: return [["min": .float(-0.3), "max": .float(0.6)]]
        case .leakyRelu: return [["alpha": .float(0.2)]]
        case .elu: return [["alpha": .float(0.7)]]
        case .celu: return [["alpha": .float(1.3)]]
        case .selu: return [[:], ["alpha": .float(1.5), "gamma": .float(0.9)]]
        case .hardSigmoid: return [["alpha": .float(0.3), "beta": .float(0.4)]]
        case .gelu: return [[:], ["approximate": .string("tanh")]]
        default: return [[:]]
        }
    }

    /// Input ranges where the op is defined (positive bases for Pow, away from 0 for divisors).
    static func range(_ op: OpKind, input: Int) -> (Double, Double) {
        switch (op, input) {
        case (.log, _), (.sqrt, _), (.pow, 0): return (0.05, 3)
        case (.reciprocal, _), (.div, 1): return (0.3, 2)
        case (.pow, _): return (-2, 2)
        default: return (-4, 4)
        }
    }

    /// A graph of one node reading runtime inputs `x0, x1, ...` of `shapes` and constants of `constantShapes`.
    static func graph(_ op: OpKind, _ attributes: Attributes, inputs shapes: [[Int]], constants constantShapes: [[Int]] = [],
                      constantsFirst: Bool = false, seed: UInt64) -> (Graph, Weights, [String: Tensor]) {
        let inputNames = shapes.indices.map { "x\($0)" }, constantNames = constantShapes.indices.map { "c\($0)" }
        var tensors: [String: Tensor] = [:], feeds: [String: Tensor] = [:]
        let order = constantsFirst ? constantNames + inputNames : inputNames + constantNames
        for (position, name) in order.enumerated() {
            let shape = name.hasPrefix("x") ? shapes[Int(name.dropFirst())!] : constantShapes[Int(name.dropFirst())!]
            let (low, high) = range(op, input: position)
            let tensor = randomTensor(shape, seed: seed + UInt64(position), low: low, high: high)
            if name.hasPrefix("x") { feeds[name] = tensor } else { tensors[name] = tensor }
        }
        let graph = Graph(name: "one", inputs: inputNames.enumerated().map { ValueInfo(name: $1, type: TensorType(fixed: shapes[$0])) },
                          outputs: ["y"], parameters: constantNames.map { Parameter(name: $0, type: TensorType(fixed: tensors[$0]!.shape)) },
                          nodes: [Node(name: "n", op: op, inputs: order, outputs: ["y"], attributes: attributes)])
        return (graph, Weights(tensors: tensors), feeds)
    }

    static let shapes = [[7], [3, 5], [2, 3, 5], [2, 3, 5, 7], [1, 2, 3, 2, 5], [2, 1, 3, 2, 2, 3]]

    @Test(arguments: ops)
    func alone(op: OpKind) throws {
        let count = op.schema.isVariadic ? 3 : op.schema.inputs.count
        for attributes in Self.attributes(op) {
            for (k, shape) in Self.shapes.enumerated() {
                let (graph, weights, feeds) = Self.graph(op, attributes, inputs: Array(repeating: shape, count: count), seed: UInt64(10 * k))
                try expectMatchesReference(graph, weights, inputs: feeds, tolerance: 2e-5)
            }
        }
    }

    /// Operands of other ranks and sizes broadcast into the output, at run time and as constants, on
    /// either side; a one-element constant (a literal in the kernel) includes Pow's fast exponents.
    @Test(arguments: ops.filter { $0.schema.inputs.count > 1 || $0.schema.isVariadic })
    func broadcasts(op: OpKind) throws {
        let cases: [([Int], [Int])] = [([2, 3, 5, 7], [1, 3, 1, 1]), ([2, 3, 5, 7], [7]), ([2, 3, 5, 7], [3, 1, 7]), ([1, 3, 1, 1], [2, 3, 5, 7]),
                                       ([4, 1, 2, 1, 3, 2], [1, 5, 1, 1, 3, 1]), ([2, 9], [])]
        for (k, (shape, other)) in cases.enumerated() {
            let seed = UInt64(100 + 10 * k)
            var (graph, weights, feeds) = Self.graph(op, [:], inputs: [shape, other], seed: seed)
            try expectMatchesReference(graph, weights, inputs: feeds, tolerance: 2e-5)
            (graph, weights, feeds) = Self.graph(op, [:], inputs: [shape], constants: [other], seed: seed)
            try expectMatchesReference(graph, weights, inputs: feeds, tolerance: 2e-5)
            (graph, weights, feeds) = Self.graph(op, [:], inputs: [shape], constants: [other], constantsFirst: true, seed: seed)
            try expectMatchesReference(graph, weights, inputs: feeds, tolerance: 2e-5)
        }
        if op == .pow {
            for exponent: Float in [2, 0.5, 3, -1, 1, 1.7] {
                let graph = Graph(name: "pow", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [3, 17]))], outputs: ["y"],
                                  parameters: [Parameter(name: "e", type: TensorType(fixed: []))],
                                  nodes: [Node(name: "n", op: .pow, inputs: ["x", "e"], outputs: ["y"])])
                try expectMatchesReference(graph, Weights(tensors: ["e": Tensor(shape: [], values: [exponent])]),
                                           inputs: ["x": randomTensor([3, 17], seed: 7, low: 0.1, high: 3)], tolerance: 2e-5)
            }
        }
    }

    /// SiLU as exported (x * Sigmoid(x)), GELU into a residual and a LeakyRelu, Mish into a Div by a
    /// constant: each chain is one kernel, reading each operand once.
    @Test func chainsAreOneKernel() throws {
        let shape = [2, 5, 6, 7]
        let chains: [[Node]] = [
            [Node(name: "s", op: .sigmoid, inputs: ["x"], outputs: ["s"]), Node(name: "m", op: .mul, inputs: ["x", "s"], outputs: ["y"])],
            [Node(name: "g", op: .gelu, inputs: ["x"], outputs: ["g"]), Node(name: "a", op: .add, inputs: ["g", "r"], outputs: ["a"]),
             Node(name: "l", op: .leakyRelu, inputs: ["a"], outputs: ["y"], attributes: ["alpha": .float(0.1)])],
            [Node(name: "m", op: .mish, inputs: ["x"], outputs: ["m"]), Node(name: "d", op: .div, inputs: ["m", "three"], outputs: ["y"])],
        ]
        for (k, nodes) in chains.enumerated() {
            let graph = Graph(name: "chain", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape)), ValueInfo(name: "r", type: TensorType(fixed: shape))],
                              outputs: ["y"], parameters: [Parameter(name: "three", type: TensorType(fixed: []))], nodes: nodes)
            let weights = Weights(tensors: ["three": Tensor(shape: [], values: [3])])
            for model in try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: UInt64(200 + k), low: -3, high: 3),
                                                                              "r": randomTensor(shape, seed: UInt64(210 + k))]) {
                #expect(model.kernels.count == 1, "\(model.kernels.map(\.kind))")
            }
        }
    }

    /// Every one-input activation runs in the conv's epilogue: one kernel, named after it.
    @Test(arguments: ops.filter { $0.schema.isActivation && $0.schema.inputs.count == 1 })
    func convEpilogue(op: OpKind) throws {
        let c = 5
        let graph = Graph(
            name: "conv-act", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [2, c, 9, 8]))], outputs: ["y"],
            parameters: [Parameter(name: "w", type: TensorType(fixed: [7, c, 3, 3])), Parameter(name: "b", type: TensorType(fixed: [7]))],
            nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w", "b"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "act", op: op, inputs: ["c"], outputs: ["y"], attributes: Self.attributes(op).last ?? [:])])
        let weights = Weights(tensors: ["w": randomTensor([7, c, 3, 3], seed: 300), "b": randomTensor([7], seed: 301)])
        for model in try expectMatchesReference(graph, weights, inputs: ["x": randomTensor([2, c, 9, 8], seed: 302)], tolerance: 2e-5) {
            #expect(model.kernels.count == 1, "\(model.kernels.map(\.kind))")
            #expect(model.kernels.first?.nodes == ["conv", "act"])
        }
    }

    /// Activations as exporters write them out (SiLU, HardSwish, exact GELU), after a conv, its BN and
    /// a residual: the whole region runs in the conv's epilogue. When a value inside the region is also
    /// read elsewhere (here a graph output), the region is not fused and the result is still right.
    @Test(arguments: [false, true])
    func writtenOutActivationsJoinTheConvEpilogue(innerValueIsAnOutput: Bool) throws {
        let c = 5, shape = [2, c, 9, 8]
        func n(_ name: String, _ op: OpKind, _ inputs: [String], _ attributes: Attributes = [:]) -> Node {
            Node(name: name, op: op, inputs: inputs, outputs: [name], attributes: attributes)
        }
        let prefix = [n("conv", .conv, ["x", "w", "b"], ["pads": .ints([1, 1, 1, 1])]),
                      n("bn", .batchNormalization, ["conv", "gamma", "beta", "mean", "var"]), n("res", .add, ["bn", "r"])]
        let activations: [(String, [Node])] = [
            ("silu", [n("s", .sigmoid, ["res"]), n("y", .mul, ["res", "s"])]),
            ("hardswish", [n("a", .add, ["res", "three"]), n("k", .clip, ["a"], ["min": .float(0), "max": .float(6)]),
                           n("m", .mul, ["res", "k"]), n("y", .div, ["m", "six"])]),
            ("gelu", [n("d", .div, ["res", "root2"]), n("e", .erf, ["d"]), n("p", .add, ["e", "one"]),
                      n("m", .mul, ["res", "p"]), n("y", .mul, ["m", "half"])]),
        ]
        let tensors: [String: Tensor] = [
            "w": randomTensor([7, c, 3, 3], seed: 310), "b": randomTensor([7], seed: 311), "gamma": randomTensor([7], seed: 312),
            "beta": randomTensor([7], seed: 313), "mean": randomTensor([7], seed: 314), "var": randomTensor([7], seed: 315, low: 0.5, high: 2),
            "three": Tensor(shape: [], values: [3]), "six": Tensor(shape: [], values: [6]), "root2": Tensor(shape: [], values: [Float(2).squareRoot()]),
            "one": Tensor(shape: [], values: [1]), "half": Tensor(shape: [], values: [0.5]),
        ]
        let outShape = [2, 7, 9, 8]
        for (name, activation) in activations {
            let inner = activation[0].outputs[0]
            let graph = Graph(
                name: "conv-\(name)", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape)), ValueInfo(name: "r", type: TensorType(fixed: outShape))],
                outputs: innerValueIsAnOutput ? ["y", inner] : ["y"],
                parameters: tensors.map { Parameter(name: $0.key, type: TensorType(fixed: $0.value.shape)) }.sorted { $0.name < $1.name },
                nodes: prefix + activation)
            let inputs = ["x": randomTensor(shape, seed: 316, low: -2, high: 2), "r": randomTensor(outShape, seed: 317)]
            for model in try expectMatchesReference(graph, Weights(tensors: tensors), inputs: inputs, tolerance: 2e-5) {
                if innerValueIsAnOutput {
                    #expect(model.kernels.count > 1, "\(name): \(model.kernels.map(\.kind))")
                } else {
                    #expect(model.kernels.count == 1, "\(name): \(model.kernels.map(\.kind))")
                    #expect(model.kernels.first?.nodes == prefix.map(\.name) + activation.map(\.name))
                }
            }
        }
    }
}
