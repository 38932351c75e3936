import LowpassIR
import LowpassJIT
import LowpassTensor
import Testing

/// A conv with a residual writes its output over the residual where nothing reads the residual
/// afterwards (`Kernel.inPlaceArgument`, `MemoryPlan`): each element must be read before it is written,
/// by the work item that writes it, once.
@Suite("JIT outputs written over their residual")
struct InPlaceOutputTests {
    static let height = 28, width = 28

    /// The arena bytes of `planes` maps, in whole cache lines.
    func bytes(_ planes: Int) -> Int { (planes * Self.height * Self.width + 15) / 16 * 64 }

    /// `nodes` over input x (`batch` images of 8 channels) ending in z = globalAveragePool(y), their
    /// parameters and weights from `parameters`, and x, random from `seed`.
    func graph(_ nodes: [Node], parameters: [(String, Tensor)], batch: Int = 1, seed: UInt64) -> (Graph, Weights, [String: Tensor]) {
        let shape = [batch, 8, Self.height, Self.width]
        let graph = Graph(name: "in-place", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["z"],
                          parameters: parameters.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1.shape)) },
                          nodes: nodes + [Node(name: "gap", op: .globalAveragePool, inputs: ["y"], outputs: ["z"])])
        return (graph, Weights(tensors: Dictionary(uniqueKeysWithValues: parameters)), ["x": randomTensor(shape, seed: seed)])
    }

    /// r = conv_r(x), s = conv_s(x), y = relu(conv_y(s) + r) (then z): y may take r's
    /// memory. 40 filters over a 28x28 map: channel tiles that do not divide into the groups a partial
    /// last pixel tile fuses, so a group's last tiles repeat the chunk's last one.
    func residualBlock(batch: Int, filters: Int) -> (Graph, Weights, [String: Tensor]) {
        let parameters = [("wr", randomTensor([filters, 8, 1, 1], seed: 80)), ("ws", randomTensor([24, 8, 3, 3], seed: 81)),
                          ("wy", randomTensor([filters, 24, 1, 1], seed: 82)), ("by", randomTensor([filters], seed: 83))]
        let nodes = [
            Node(name: "conv_r", op: .conv, inputs: ["x", "wr"], outputs: ["r"]),
            Node(name: "conv_s", op: .conv, inputs: ["x", "ws"], outputs: ["s"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "conv_y", op: .conv, inputs: ["s", "wy", "by"], outputs: ["t"]),
            Node(name: "add", op: .add, inputs: ["t", "r"], outputs: ["u"]),
            Node(name: "relu", op: .relu, inputs: ["u"], outputs: ["y"]),
        ]
        return graph(nodes, parameters: parameters, batch: batch, seed: 84)
    }

    @Test(arguments: [(1, 40), (2, 40), (1, 64)])
    func outputTakesTheResidualsMemory(batch: Int, filters: Int) throws {
        let (graph, weights, inputs) = residualBlock(batch: batch, filters: filters)
        for precision in [Precision.f32, .bf16] {
            // In bf16 a sum that the two engines add in another order may round to the neighbouring
            // bfloat16 before the residual is added (2^-8 of that value; one or two of 31 360 here).
            let (targets, tolerance) = precision == .bf16 ? (bfloat16Targets, 1e-4) : (testedTargets, 1e-5)
            for model in try expectMatchesReference(graph, weights, inputs: inputs, tolerance: tolerance, precision: precision, on: targets)
            where precision == .f32 {
                #expect(model.kernels.map(\.kind).filter { $0.hasPrefix("conv1x1+add+relu") }.count == 1, "\(model.target)")
                // r and s, and no room of y's own (z is the caller's). With several images the first
                // kernels run image by image, their buffers holding one image.
                if batch == 1 { #expect(model.arenaBytes == bytes(filters) + bytes(24), "\(model.target)") }
            }
        }
    }

    /// relu(conv(r) + r): the residual is the conv's input too, which other work items still read, so
    /// the output gets memory of its own.
    @Test func notOverTheConvsOwnInput() throws {
        let parameters = [("wr", randomTensor([32, 8, 3, 3], seed: 85)), ("wy", randomTensor([32, 32, 1, 1], seed: 86))]
        let nodes = [
            Node(name: "conv_r", op: .conv, inputs: ["x", "wr"], outputs: ["r"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "conv_y", op: .conv, inputs: ["r", "wy"], outputs: ["t"]),
            Node(name: "add", op: .add, inputs: ["t", "r"], outputs: ["u"]),
            Node(name: "relu", op: .relu, inputs: ["u"], outputs: ["y"]),
        ]
        let (graph, weights, inputs) = graph(nodes, parameters: parameters, seed: 87)
        for model in try expectMatchesReference(graph, weights, inputs: inputs) {
            #expect(model.arenaBytes == 2 * bytes(32), "\(model.target)")
        }
    }

    /// In bf16, a conv adding a float residual whose output only convs read, as bordered bfloat16 pair
    /// planes, writes a layout other than its residual's: it must not write over it even where the two
    /// are the same size. 32 channels of 5x6 are 960 floats per image, and so are 16 pair planes of
    /// 7x8 (the border of a 3x3 conv's padding) and their 64 floats of slack.
    @Test func notOverAResidualOfAnotherLayout() throws {
        let shape = [2, 32, 5, 6]
        func conv(_ name: String, _ input: String) -> Node {
            Node(name: name, op: .conv, inputs: [input, name + ".w"], outputs: [name], attributes: ["pads": .ints([1, 1, 1, 1])])
        }
        let graph = Graph(
            name: "layouts", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y"],
            parameters: ["a.w", "b.w", "c.w"].map { Parameter(name: $0, type: TensorType(fixed: [32, 32, 3, 3])) },
            nodes: [conv("a", "x"), Node(name: "relu", op: .relu, inputs: ["a"], outputs: ["r"]),
                    conv("b", "r"), Node(name: "add", op: .add, inputs: ["b", "r"], outputs: ["s"]),
                    conv("c", "s"), Node(name: "gap", op: .globalAveragePool, inputs: ["c"], outputs: ["y"])])
        let weights = Weights(tensors: ["a.w": randomTensor([32, 32, 3, 3], seed: 91), "b.w": randomTensor([32, 32, 3, 3], seed: 92),
                                        "c.w": randomTensor([32, 32, 3, 3], seed: 93)])
        try expectMatchesBFloat16Reference(graph, weights, inputs: ["x": randomTensor(shape, seed: 94)])
    }

    /// relu(a * b) as an element-wise kernel over two convs' outputs: its output takes a's memory.
    @Test func elementwiseOutputTakesAnOperandsMemory() throws {
        let parameters = [("wa", randomTensor([24, 8, 3, 3], seed: 88)), ("wb", randomTensor([24, 8, 1, 1], seed: 89))]
        let nodes = [
            Node(name: "conv_a", op: .conv, inputs: ["x", "wa"], outputs: ["a"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "conv_b", op: .conv, inputs: ["x", "wb"], outputs: ["b"]),
            Node(name: "product", op: .mul, inputs: ["a", "b"], outputs: ["p"]),
            Node(name: "relu", op: .relu, inputs: ["p"], outputs: ["y"]),
        ]
        let (graph, weights, inputs) = graph(nodes, parameters: parameters, seed: 90)
        for model in try expectMatchesReference(graph, weights, inputs: inputs) {
            #expect(model.kernels.map(\.kind).contains("elementwise mul+relu"), "\(model.target)")
            #expect(model.arenaBytes == 2 * bytes(24), "\(model.target)")
        }
    }
}
