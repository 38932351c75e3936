import LowpassIR
import LowpassJIT
import LowpassTensor
import Testing

/// Every op, JIT against the reference interpreter, on random data and shapes chosen to hit the edges:
/// odd sizes, 1x1 maps, channel counts that are not a multiple of the vector width, batch 1 and > 1.
@Suite("JIT ops match the reference")
struct OpTests {
    struct ConvCase: CustomTestStringConvertible, Sendable {
        var batch = 1, channels = 3, size = (9, 7), filters = 5, kernel = (3, 3), stride = 1, pad = 1, dilation = 1, groups = 1
        var bias = true
        var testDescription: String {
            "n\(batch) c\(channels) \(size.0)x\(size.1) m\(filters) k\(kernel.0)x\(kernel.1) s\(stride) p\(pad) d\(dilation) g\(groups)\(bias ? "" : " nobias")"
        }

        /// The one-conv graph, its random weights and a random input.
        func model() -> (graph: Graph, weights: Weights, inputs: [String: Tensor]) {
            var parameters = [("w", randomTensor([filters, channels / groups, kernel.0, kernel.1], seed: 1))]
            if bias { parameters.append(("b", randomTensor([filters], seed: 2))) }
            let (graph, weights) = oneNodeGraph(.conv, input: [batch, channels, size.0, size.1], [
                "strides": .ints([stride, stride]), "pads": .ints([pad, pad, pad, pad]),
                "dilations": .ints([dilation, dilation]), "group": .int(groups),
            ], parameters: parameters)
            return (graph, weights, ["x": randomTensor([batch, channels, size.0, size.1], seed: 3)])
        }
    }

    static let convCases: [ConvCase] = [
        ConvCase(),
        ConvCase(batch: 2, channels: 16, size: (14, 14), filters: 24, kernel: (3, 3)),
        ConvCase(channels: 13, size: (1, 1), filters: 7, kernel: (1, 1), pad: 0),
        ConvCase(batch: 3, channels: 8, size: (7, 7), filters: 17, kernel: (1, 1), pad: 0, bias: false),
        ConvCase(channels: 3, size: (23, 19), filters: 9, kernel: (7, 7), stride: 2, pad: 3),
        ConvCase(channels: 6, size: (11, 12), filters: 10, kernel: (3, 3), stride: 2, pad: 1, groups: 2),
        ConvCase(batch: 2, channels: 12, size: (10, 9), filters: 12, kernel: (3, 3), pad: 1, groups: 12),
        ConvCase(channels: 5, size: (12, 13), filters: 6, kernel: (3, 3), pad: 2, dilation: 2),
        ConvCase(channels: 4, size: (8, 8), filters: 6, kernel: (5, 5), pad: 0),
        ConvCase(channels: 4, size: (9, 9), filters: 8, kernel: (1, 3), pad: 0),
        ConvCase(channels: 8, size: (6, 5), filters: 4, kernel: (1, 1), stride: 2, pad: 0),
        ConvCase(batch: 2, channels: 9, size: (5, 6), filters: 33, kernel: (3, 3), pad: 1, groups: 3),
        // A last pixel tile of one vector: several channel tiles at once, chunks not a multiple of them.
        ConvCase(batch: 4, channels: 8, size: (7, 7), filters: 28, kernel: (1, 1), pad: 0),
        ConvCase(channels: 16, size: (7, 7), filters: 30, kernel: (3, 3)),
        // A last pixel tile of a few pixels by lanes over filters: 1 pixel left by tiles of 24 (above) and
        // of 16 (deep reductions take 6 channels x 2 vectors), 4 pixels left at batch 2, a partial channel tile.
        ConvCase(channels: 460, size: (7, 7), filters: 14, kernel: (3, 3)),
        ConvCase(batch: 2, channels: 460, size: (14, 14), filters: 8, kernel: (3, 3)),
        // Stride 2 onto rows of whole vectors: interior taps are two loads and an even-lane shuffle.
        ConvCase(channels: 3, size: (32, 32), filters: 8, kernel: (7, 7), stride: 2, pad: 3),
        ConvCase(batch: 2, channels: 5, size: (31, 32), filters: 6, kernel: (1, 1), stride: 2, pad: 0),
        // Stride 2 onto rows that are not whole vectors (29 and 25 outputs wide): a vector crossing into the
        // next row takes those lanes from a second span; the plane's last vectors fall back to gathers.
        ConvCase(batch: 2, channels: 5, size: (44, 58), filters: 7, kernel: (3, 3), stride: 2, pad: 1),
        ConvCase(channels: 6, size: (40, 50), filters: 9, kernel: (1, 1), stride: 2, pad: 0),
    ]

    @Test(arguments: convCases)
    func conv(_ c: ConvCase) throws {
        let (graph, weights, inputs) = c.model()
        try expectMatchesReference(graph, weights, inputs: inputs)
    }

    /// Small maps under large weights (4 MB and more), weights-stationary: spans of the reduction with
    /// partial sums in between (64 channels: one span per tap; 300: spans of 256 and 44; 600 and 520 1x1:
    /// three spans, the middle one neither first nor last), a last pixel by filter lanes (7x7) or none
    /// (6x8), chunks past the last channel tile (400 filters), a partial channel tile (2042 filters),
    /// batch 2. `wholeMapAt` is the vector widths that take the schedule: with 16 lanes a 7x7 or 6x8 map
    /// is one pixel tile of the packed conv, whose weights are read once per image anyway, except under
    /// the deep 300-channel reduction (a patch of two-vector tiles); a 14x14 map is 9 tiles of 24 pixels
    /// with 8 lanes, three of 64 and 4 pixels with 16.
    struct WholeMapCase: CustomTestStringConvertible, Sendable {
        var batch: Int, channels: Int, height: Int, width: Int, filters: Int, kernel: Int, groups = 1, wholeMapAt: Set<Int>
        var testDescription: String { "n\(batch) c\(channels) \(height)x\(width) m\(filters) k\(kernel) g\(groups)" }

        func model(seed: UInt64) -> (Graph, Weights, [String: Tensor]) {
            let pad = kernel / 2
            let (graph, weights) = oneNodeGraph(.conv, input: [batch, channels, height, width], ["pads": .ints([pad, pad, pad, pad]), "group": .int(groups)],
                                                parameters: [("w", randomTensor([filters, channels / groups, kernel, kernel], seed: seed)),
                                                             ("b", randomTensor([filters], seed: seed + 1))])
            return (graph, weights, ["x": randomTensor([batch, channels, height, width], seed: seed + 2)])
        }

        /// The conv is the last kernel; a whole-map one reads the patch a kernel before it made.
        func expectWholeMap(_ model: CompiledModel) {
            let kinds = model.kernels.map(\.kind), wholeMap = wholeMapAt.contains(model.target.lanes)
            #expect((kinds.last ?? "").contains("[whole-map") == wholeMap, "\(model.target): \(kinds)")
            #expect(kinds.contains { $0.hasPrefix("whole-map patch") } == wholeMap, "\(model.target): \(kinds)")
        }
    }

    @Test(arguments: [WholeMapCase(batch: 1, channels: 64, height: 7, width: 7, filters: 1840, kernel: 3, wholeMapAt: [8]),
                      WholeMapCase(batch: 2, channels: 300, height: 7, width: 7, filters: 400, kernel: 3, wholeMapAt: [8, 16]),
                      WholeMapCase(batch: 1, channels: 64, height: 6, width: 8, filters: 1840, kernel: 3, wholeMapAt: [8]),
                      WholeMapCase(batch: 1, channels: 600, height: 7, width: 7, filters: 1840, kernel: 1, wholeMapAt: [8]),
                      WholeMapCase(batch: 2, channels: 520, height: 6, width: 8, filters: 2042, kernel: 1, wholeMapAt: [8]),
                      WholeMapCase(batch: 1, channels: 512, height: 14, width: 14, filters: 232, kernel: 3, wholeMapAt: [16]),
                      // Groups: each image's patch holds both groups' spans.
                      WholeMapCase(batch: 2, channels: 1024, height: 7, width: 7, filters: 1040, kernel: 3, groups: 2, wholeMapAt: [8, 16]),
                      // Under 4 MB of weights the packed conv is faster on 14x14 maps, with either width.
                      WholeMapCase(batch: 1, channels: 256, height: 14, width: 14, filters: 256, kernel: 3, wholeMapAt: [])])
    func wholeMapConv(_ c: WholeMapCase) throws {
        let (graph, weights, inputs) = c.model(seed: 60)
        for model in try expectMatchesReference(graph, weights, inputs: inputs) { c.expectWholeMap(model) }
    }

    /// Stride-1 3x3 convs run by Winograd: odd maps (partial tiles and partial tile vectors), both
    /// paddings, channel counts off the vector width, the epilogue's relu. The cases take each layout
    /// with either width: F(2x2) and F(4x4), rows of one piece or two pieces a vector (`2x8`), and rows
    /// of several vectors (the 70-wide map), four pieces of 4 (12x12); on 7x7, 16 lanes would be mostly
    /// empty and the conv stays direct. `layouts` is the expected layout for 8 and 16 lanes.
    static let winogradCases: [(batch: Int, channels: Int, filters: Int, height: Int, width: Int, pad: Int, layouts: [Int: String])] = [
        (1, 8, 8, 28, 28, 1, [8: "F(4x4,3x3) 8", 16: "F(4x4,3x3) 2x8"]),
        (2, 16, 24, 31, 29, 1, [8: "F(4x4,3x3) 8", 16: "F(2x2,3x3) 16"]),
        (1, 13, 9, 33, 30, 0, [8: "F(4x4,3x3) 8", 16: "F(4x4,3x3) 2x8"]),
        (2, 9, 17, 29, 41, 1, [8: "F(4x4,3x3) 8", 16: "F(4x4,3x3) 16"]),
        (1, 64, 12, 30, 32, 0, [8: "F(4x4,3x3) 8", 16: "F(2x2,3x3) 16"]),
        (1, 16, 20, 14, 14, 1, [8: "F(2x2,3x3) 8", 16: "F(2x2,3x3) 2x8"]),
        (1, 12, 16, 19, 70, 1, [8: "F(4x4,3x3) 8", 16: "F(4x4,3x3) 16"]),
        (2, 16, 16, 12, 12, 1, [8: "F(4x4,3x3) 2x4", 16: "F(4x4,3x3) 4x4"]),
        (1, 24, 16, 7, 7, 1, [8: "F(4x4,3x3) 2x4", 16: "direct"]),
    ]

    @Test(arguments: winogradCases)
    func winogradConv(c: (batch: Int, channels: Int, filters: Int, height: Int, width: Int, pad: Int, layouts: [Int: String])) throws {
        let parameters = [("w", randomTensor([c.filters, c.channels, 3, 3], seed: 50)), ("b", randomTensor([c.filters], seed: 51))]
        let graph = Graph(
            name: "winograd", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [c.batch, c.channels, c.height, c.width]))], outputs: ["y"],
            parameters: parameters.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1.shape)) },
            nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w", "b"], outputs: ["c"], attributes: ["pads": .ints([c.pad, c.pad, c.pad, c.pad])]),
                    Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["y"])])
        let models = try expectMatchesReference(graph, Weights(tensors: Dictionary(uniqueKeysWithValues: parameters)),
                                                inputs: ["x": randomTensor([c.batch, c.channels, c.height, c.width], seed: 52)], winograd: true)
        for model in models {
            #expect(model.kernels.count == 1)
            if c.layouts[model.target.lanes] == "direct" {
                #expect(model.kernels.first?.kind.hasPrefix("conv3x3+relu") == true, "\(model.target)")
                continue
            }
            // "winograd3x3+relu [F(4x4,3x3) 8ch x 3x2x8 tiles]": the transform, and the pieces after the vector count.
            let kind = model.kernels.first?.kind ?? ""
            let words = kind.split(separator: " ")
            let layout = words.count > 3 ? "\(words[1].dropFirst()) \(words[words.count - 2].drop { $0 != "x" }.dropFirst())" : ""
            #expect(kind.hasPrefix("winograd3x3+relu") && layout == c.layouts[model.target.lanes], "\(model.target): \(kind)")
        }
    }

    static let blurCases: [(Int, String, Int)] = (1...7).flatMap { m in ["reflect", "replicate", "zero", "circular"].map { (m, $0, 2) } }
        + [(4, "reflect", 1), (3, "zero", 3), (5, "replicate", 1), (3, "circular", 1), (4, "circular", 3)]

    @Test(arguments: blurCases)
    func blurPool(filter: Int, mode: String, stride: Int) throws {
        for shape in [[2, 3, 37, 45], [1, 2, 1, 1], [1, 1, 5, 3], [1, 2, 16, 64]] where mode != "reflect" || min(shape[2], shape[3]) > filter / 2 {
            let (graph, weights) = oneNodeGraph(.blurPool, input: shape, [
                "filter_size": .int(filter), "pad_mode": .string(mode), "strides": .ints([stride, stride]),
            ])
            try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 4)])
        }
    }

    /// Windows, strides and pads far past the map (hostile graphs; no antialiasing layer has them) run
    /// output by output, bounded by the output's size: strides of 2^31-1 and 2^24 took 1 TB and 6.5 GB,
    /// pads of 2^20 never finished compiling, a 2^20 x 2^20 max pool never finished running.
    @Test func windowsFarLargerThanTheMap() throws {
        let shape = [1, 2, 8, 8]
        let x = randomTensor(shape, seed: 80)
        let huge = 1 << 20
        let cases: [(OpKind, Attributes)] = [
            (.blurPool, ["filter_size": .int(4), "strides": .ints([2147483647, 2147483647])]),
            (.blurPool, ["filter_size": .int(4), "strides": .ints([1 << 24, 1 << 24])]),
            (.blurPool, ["filter_size": .int(4), "strides": .ints([huge, huge]), "pads": .ints([huge, huge, huge, huge]), "pad_mode": .string("zero")]),
            (.blurPool, ["filter_size": .int(5), "strides": .ints([7, 3]), "pads": .ints([9, 1, 2, 30]), "pad_mode": .string("replicate")]),
            (.maxPool, ["kernel_shape": .ints([huge, huge]), "strides": .ints([huge, huge]), "pads": .ints([huge - 1, huge - 1, huge - 1, huge - 1])]),
            (.averagePool, ["kernel_shape": .ints([huge, huge]), "strides": .ints([huge, huge]), "pads": .ints([huge - 1, huge - 1, huge - 1, huge - 1])]),
            (.averagePool, ["kernel_shape": .ints([30, 20]), "strides": .ints([70, 3]), "pads": .ints([29, 2, 5, 19]),
                            "count_include_pad": .int(1), "ceil_mode": .int(1)]),
            (.averagePool, ["kernel_shape": .ints([30, 20]), "strides": .ints([70, 3]), "pads": .ints([29, 2, 5, 19])]),
        ]
        for (op, attributes) in cases {
            let (graph, weights) = oneNodeGraph(op, input: shape, attributes)
            try expectMatchesReference(graph, weights, inputs: ["x": x])
        }
        let maxBlur = Graph(
            name: "maxblur", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y"],
            nodes: [Node(name: "max", op: .maxPool, inputs: ["x"], outputs: ["m"],
                         attributes: ["kernel_shape": .ints([20, 20]), "strides": .ints([1, 1]), "pads": .ints([19, 19, 19, 19])]),
                    Node(name: "blur", op: .blurPool, inputs: ["m"], outputs: ["y"],
                         attributes: ["filter_size": .int(3), "strides": .ints([5, 5]), "pad_mode": .string("replicate")])])
        for model in try expectMatchesReference(maxBlur, Weights(), inputs: ["x": x]) { #expect(model.kernels.count == 1) }
    }

    /// Empty tensors (a batch of 0, a conv of 0 filters, a Gemm of 0 columns) give empty results, as
    /// in the reference; they trapped on a division by zero (in bf16 too: the search for the convs that
    /// read pair planes sized a kernel for every conv). A non-empty result of an empty operand is
    /// refused with a reason.
    @Test(arguments: [Precision.f32, .bf16])
    func emptyTensors(_ precision: Precision) throws {
        let conv = oneNodeGraph(.conv, input: [0, 3, 8, 8], ["pads": .ints([1, 1, 1, 1])], parameters: [("w", randomTensor([4, 3, 3, 3], seed: 81))])
        try expectMatchesReference(conv.0, conv.1, inputs: ["x": Tensor(zeros: [0, 3, 8, 8])], precision: precision)
        let noFilters = oneNodeGraph(.conv, input: [1, 3, 8, 8], parameters: [("w", Tensor(zeros: [0, 3, 3, 3]))])
        for model in try expectMatchesReference(noFilters.0, noFilters.1, inputs: ["x": randomTensor([1, 3, 8, 8], seed: 82)], precision: precision) {
            #expect(model.kernels.isEmpty)
        }
        let noColumns = oneNodeGraph(.gemm, input: [2, 3], parameters: [("B", Tensor(zeros: [3, 0]))])
        try expectMatchesReference(noColumns.0, noColumns.1, inputs: ["x": randomTensor([2, 3], seed: 83)])
        let blur = oneNodeGraph(.blurPool, input: [0, 2, 9, 9], ["filter_size": .int(4), "strides": .ints([2, 2])])
        try expectMatchesReference(blur.0, blur.1, inputs: ["x": Tensor(zeros: [0, 2, 9, 9])])

        let noDepth = oneNodeGraph(.gemm, input: [2, 0], parameters: [("B", Tensor(zeros: [0, 3]))])
        #expect(throws: Diagnostics.self) {
            _ = try CompiledModel(graph: noDepth.0, weights: noDepth.1, inputShapes: ["x": [2, 0]])
        }
        // A mean over no pixels: the JIT gave NaN, the reference 0. Both refuse it now, at verification.
        let emptyMap = oneNodeGraph(.globalAveragePool, input: [1, 2, 0, 5])
        #expect(throws: Diagnostics.self) { _ = try ReferenceInterpreter().run(emptyMap.0, weights: emptyMap.1, inputs: ["x": Tensor(zeros: [1, 2, 0, 5])]) }
        #expect(throws: Diagnostics.self) { _ = try CompiledModel(graph: emptyMap.0, weights: emptyMap.1, inputShapes: ["x": [1, 2, 0, 5]]) }
    }

    /// BatchNormalization with variance + epsilon = 0 divides by zero. The JIT gave NaN where the
    /// reference gave inf; both now evaluate PyTorch's x * scale + offset (`BatchNormAffine`) and agree
    /// bit for bit on the infinities and NaNs, while the healthy channel stays exact.
    @Test func batchNormWithZeroVarianceAgreesEverywhere() throws {
        let statistics: [(String, Tensor)] = [("scale", Tensor(shape: [3], values: [1, 1, 2])), ("B", Tensor(shape: [3], values: [0, 0.5, 1])),
                                              ("mean", Tensor(shape: [3], values: [0, 1, 0.25])), ("var", Tensor(shape: [3], values: [0, 0, 1]))]
        let (graph, weights) = oneNodeGraph(.batchNormalization, input: [1, 3, 4, 4], ["epsilon": .float(0)], parameters: statistics)
        let x = Tensor(shape: [1, 3, 4, 4]) { i in i == 16 ? 0 : Float((i * 37) % 11) - 5 }
        let reference = try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": x])["y"])
        #expect(reference.values.prefix(32).allSatisfy { !$0.isFinite }, "channels 0 and 1 divide by zero")
        #expect(reference.values.suffix(16).allSatisfy { $0.isFinite })
        for target in testedTargets {
            var options = CompileOptions()
            options.target = target
            let jit = try #require(try CompiledModel(graph: graph, weights: weights, inputShapes: ["x": x.shape], options: options).run(["x": x])["y"])
            for i in 0..<reference.count {
                let (a, b) = (jit[i], reference[i])
                #expect(a.isNaN && b.isNaN || abs(a - b) <= 1e-5 * max(1, abs(b)) || a == b, "element \(i) on \(target): JIT \(a), reference \(b)")
            }
        }
    }

    struct PoolCase: Sendable, CustomTestStringConvertible {
        var op: OpKind, kernel: Int, stride: Int, pad: Int, ceil = false, includePad = false, shape = [2, 3, 11, 10]
        var testDescription: String { "\(op.rawValue) k\(kernel) s\(stride) p\(pad)\(ceil ? " ceil" : "")\(includePad ? " include-pad" : "") \(shape)" }
    }

    static let poolCases: [PoolCase] = [
        PoolCase(op: .maxPool, kernel: 3, stride: 2, pad: 1),
        PoolCase(op: .maxPool, kernel: 2, stride: 1, pad: 0),
        PoolCase(op: .maxPool, kernel: 2, stride: 2, pad: 0, ceil: true),
        PoolCase(op: .maxPool, kernel: 3, stride: 1, pad: 1, shape: [1, 17, 1, 1]),
        PoolCase(op: .averagePool, kernel: 3, stride: 2, pad: 1),
        PoolCase(op: .averagePool, kernel: 3, stride: 2, pad: 1, includePad: true),
        PoolCase(op: .averagePool, kernel: 2, stride: 2, pad: 0, ceil: true, shape: [1, 5, 7, 9]),
        PoolCase(op: .averagePool, kernel: 3, stride: 2, pad: 1, ceil: true, includePad: true, shape: [1, 5, 8, 9]),
        PoolCase(op: .maxPool, kernel: 3, stride: 2, pad: 1, shape: [2, 3, 32, 32]),
        PoolCase(op: .averagePool, kernel: 3, stride: 2, pad: 1, shape: [1, 4, 16, 64]),
        // Output rows of 25 and 30: vectors that cross rows read two spans (above).
        PoolCase(op: .maxPool, kernel: 3, stride: 2, pad: 1, shape: [2, 3, 50, 49]),
        PoolCase(op: .averagePool, kernel: 2, stride: 2, pad: 0, shape: [1, 4, 40, 60]),
    ]

    @Test(arguments: poolCases)
    func pool(_ c: PoolCase) throws {
        var attributes: Attributes = ["kernel_shape": .ints([c.kernel, c.kernel]), "strides": .ints([c.stride, c.stride]),
                                      "pads": .ints([c.pad, c.pad, c.pad, c.pad]), "ceil_mode": .int(c.ceil ? 1 : 0)]
        if c.op == .averagePool { attributes["count_include_pad"] = .int(c.includePad ? 1 : 0) }
        let (graph, weights) = oneNodeGraph(c.op, input: c.shape, attributes)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(c.shape, seed: 5)])
    }

    @Test(arguments: [[2, 5, 7, 7], [1, 3, 1, 1], [3, 2, 9, 13]])
    func globalAveragePool(shape: [Int]) throws {
        let (graph, weights) = oneNodeGraph(.globalAveragePool, input: shape)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 6)])
    }

    @Test(arguments: [([1, 3, 13, 11], [7, 7]), ([2, 2, 6, 6], [1, 1]), ([1, 2, 5, 4], [3, 2])])
    func adaptiveAveragePool(shape: [Int], size: [Int]) throws {
        let (graph, weights) = oneNodeGraph(.adaptiveAveragePool, input: shape, ["output_size": .ints(size)])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 7)])
    }

    /// A constant B in column tiles, read from either layout: 70 columns are two tiles with 16 lanes (the
    /// second of 6 columns) and five with 8.
    @Test(arguments: [(false, false, [70]), (true, false, [1, 70]), (false, true, [3, 1]), (true, true, [])])
    func gemm(transA: Bool, transB: Bool, biasShape: [Int]) throws {
        let (m, k, n) = (3, 19, 70)
        var parameters = [("B", randomTensor(transB ? [n, k] : [k, n], seed: 8))]
        if !biasShape.isEmpty { parameters.append(("C", randomTensor(biasShape, seed: 9))) }
        let (graph, weights) = oneNodeGraph(.gemm, input: transA ? [k, m] : [m, k], [
            "transA": .int(transA ? 1 : 0), "transB": .int(transB ? 1 : 0), "alpha": .float(0.5), "beta": .float(2),
        ], parameters: parameters)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(transA ? [k, m] : [m, k], seed: 10)])
    }

    /// Rows in tiles of up to 8 (16 lanes) or 4 (8 lanes): 13 and 9 rows leave a last tile that repeats
    /// its last row; 70 columns a partial column tile.
    @Test(arguments: [([2, 3, 4, 5], [5, 9]), ([3, 1, 6, 4], [2, 4, 7]), ([7, 12], [12, 20]), ([13, 40], [40, 70]), ([2, 9, 33], [33, 18])])
    func matMul(a: [Int], b: [Int]) throws {
        let (graph, weights) = oneNodeGraph(.matMul, input: a, parameters: [("B", randomTensor(b, seed: 11))])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(a, seed: 12)])
    }

    /// NaN in the input stays NaN through ReLU, Clip, MaxPool and the fused max-blur pool, as in PyTorch
    /// and the reference (an ordered compare alone would hand back the other operand).
    @Test func nanPropagates() throws {
        let shape = [2, 3, 9, 10]
        var x = randomTensor(shape, seed: 70)
        x.withUnsafeMutableBufferPointer { p in for i in stride(from: 5, to: p.count, by: 37) { p[i] = .nan } }
        let pool: Attributes = ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]
        for (op, attributes) in [(OpKind.relu, Attributes()), (.clip, ["min": .float(-0.3), "max": .float(0.6)]), (.maxPool, pool)] {
            let (graph, weights) = oneNodeGraph(op, input: shape, attributes)
            try expectMatchesReference(graph, weights, inputs: ["x": x])
        }
        let maxBlur = Graph(
            name: "maxblur", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y"],
            nodes: [Node(name: "max", op: .maxPool, inputs: ["x"], outputs: ["m"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])]),
                    Node(name: "blur", op: .blurPool, inputs: ["m"], outputs: ["y"], attributes: ["filter_size": .int(4), "strides": .ints([2, 2])])])
        try expectMatchesReference(maxBlur, Weights(), inputs: ["x": x])
    }

    @Test(arguments: [OpKind.relu, .sigmoid, .hardSwish, .hardSigmoid, .clip, .identity, .dropout])
    func unary(op: OpKind) throws {
        let attributes: Attributes = op == .clip ? ["min": .float(-0.3), "max": .float(0.6)] : [:]
        for shape in [[2, 3, 5, 7], [1, 1, 1, 1], [4, 19]] {
            let (graph, weights) = oneNodeGraph(op, input: shape, attributes)
            try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 13, low: -4, high: 4)])
        }
    }

    @Test(arguments: [OpKind.add, .mul])
    func binaryBroadcasts(op: OpKind) throws {
        for (shape, other) in [([2, 3, 5, 7], [2, 3, 5, 7]), ([2, 3, 5, 7], [1, 3, 1, 1]), ([2, 3, 5, 7], [7]), ([2, 3, 5, 7], [3, 1, 7]), ([2, 9], [])] {
            let (graph, weights) = oneNodeGraph(op, input: shape, parameters: [("b", randomTensor(other, seed: 14))])
            try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 15)])
        }
    }

    @Test func batchNormalization() throws {
        let c = 6
        let (graph, weights) = oneNodeGraph(.batchNormalization, input: [2, c, 5, 3], ["epsilon": .float(1e-3)], parameters: [
            ("gamma", randomTensor([c], seed: 16)), ("beta", randomTensor([c], seed: 17)),
            ("mean", randomTensor([c], seed: 18)), ("var", randomTensor([c], seed: 19, low: 0.1, high: 2)),
        ])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor([2, c, 5, 3], seed: 20)])
    }

    @Test(arguments: [1, -1, 0])
    func concat(axis: Int) throws {
        let shape = [2, 3, 4, 5]
        var other = shape
        other[axis < 0 ? 3 : axis] = 2
        let (graph, weights) = oneNodeGraph(.concat, input: shape, ["axis": .int(axis)], parameters: [("b", randomTensor(other, seed: 21))])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 22)])
    }

    /// A wide Concat (every input's part is a work item found through a table of sizes): 100 inputs of
    /// 1-3 channels, along channels and along the last axis.
    @Test(arguments: [1, 3])
    func wideConcat(axis: Int) throws {
        let shape = [2, 2, 3, 5]
        let parameters = (0..<99).map { i -> (String, Tensor) in
            var other = shape
            other[axis] = 1 + i % 3
            return ("p\(i)", randomTensor(other, seed: 100 + UInt64(i)))
        }
        let (graph, weights) = oneNodeGraph(.concat, input: shape, ["axis": .int(axis)], parameters: parameters)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 99)])
    }

    @Test(arguments: ["constant", "reflect", "edge", "wrap"])
    func pad(mode: String) throws {
        let (graph, weights) = oneNodeGraph(.pad, input: [1, 2, 5, 6], [
            "pads": .ints([0, 1, 2, 3, 0, 0, 3, 1]), "mode": .string(mode), "value": .float(0.25),
        ])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor([1, 2, 5, 6], seed: 23)])
    }

    @Test(arguments: [1, -1])
    func softmax(axis: Int) throws {
        for op in [OpKind.softmax, .logSoftmax] {
            let (graph, weights) = oneNodeGraph(op, input: [3, 10, 4], ["axis": .int(axis)])
            try expectMatchesReference(graph, weights, inputs: ["x": randomTensor([3, 10, 4], seed: 24, low: -5, high: 5)])
        }
        // Far apart logits: Softmax underflows to 0, LogSoftmax stays exact.
        let (graph, weights) = oneNodeGraph(.logSoftmax, input: [1, 2], ["axis": .int(-1)])
        let y = try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": Tensor(shape: [1, 2], values: [0, 200])])["y"])
        #expect(y.values == [-200, 0])
    }

    @Test func flattenAndReshape() throws {
        let (graph, weights) = oneNodeGraph(.flatten, input: [2, 3, 4, 5], ["axis": .int(1)])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor([2, 3, 4, 5], seed: 25)])
    }
}
