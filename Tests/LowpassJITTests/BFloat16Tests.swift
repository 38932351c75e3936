import LowpassIR
import LowpassJIT
import LowpassTensor
import LowpassZoo
import Testing

/// How a target's bf16 convs multiply: AMX tiles, `vdpbf16ps`, or the fallback's FMAs.
func bfloat16Path(_ target: Target) -> String {
    target.hasAMX ? "AMX" : target.hasNativeBFloat16 ? "vdpbf16ps" : "fallback"
}

/// The targets the bf16 tests compile for: every tested target, and for each 16-lane one the same
/// without AMX and then without AVX512_BF16, so every path this CPU has runs, down to the fallback.
let bfloat16Targets: [Target] = testedTargets + testedTargets.filter { $0.lanes == 16 }.flatMap { target -> [Target] in
    let withoutAMX = target.without("amx-bf16")
    return [withoutAMX, withoutAMX.without("avx512bf16")].filter { bfloat16Path($0) != bfloat16Path(target) }
}

/// `bf16`: each conv's input and weights rounded to bfloat16, sums in fp32 (`Precision`), in the JIT
/// exactly as in the reference interpreter.
@Suite("bf16 precision")
struct BFloat16Tests {
    @Test func roundingIsToNearestEven() {
        let ulp = Float(1) / 128  // bfloat16's spacing just above 1
        #expect(Float(1).roundedToBFloat16 == 1)
        #expect((1 + ulp / 2).roundedToBFloat16 == 1, "a tie goes to the even neighbour, 1")
        #expect((1 + 3 * ulp / 2).roundedToBFloat16 == 1 + 2 * ulp, "a tie goes to the even neighbour, 1 + 2 ulp")
        #expect((1 + ulp / 2 + ulp / 64).roundedToBFloat16 == 1 + ulp, "past the tie rounds up")
        #expect(Float(-3.14159).roundedToBFloat16 == -3.140625)
        #expect(Float.greatestFiniteMagnitude.roundedToBFloat16 == .infinity)
        #expect(Float.infinity.roundedToBFloat16 == .infinity)
        #expect((-Float.zero).roundedToBFloat16.sign == .minus)
        #expect(Float.nan.roundedToBFloat16.isNaN)
        // A NaN whose payload lies only in the bits rounding drops stays NaN, not infinity.
        #expect(Float(bitPattern: 0x7F80_0001).roundedToBFloat16.isNaN)
    }

    /// Which bf16 code this machine tested, in one line of the test output.
    @Test func everyPathTheCPUHasIsTested() {
        let paths = bfloat16Targets.map { "\(bfloat16Path($0)) (\($0.lanes) lanes)" }
        var missing: [String] = []
        if !Target.host.has("amx-bf16") { missing.append("AMX (no AMX-BF16)") }
        if !Target.host.has("avx512bf16") { missing.append("vdpbf16ps (no AVX512_BF16)") }
        print("bf16 tests ran: \(paths.joined(separator: ", "))" + (missing.isEmpty ? "" : "; not run on this CPU: \(missing.joined(separator: ", "))"))
        let ran = Set(bfloat16Targets.map(bfloat16Path))
        #expect(ran.contains("fallback"))
        #expect(ran.contains("vdpbf16ps") == (Target.host.has("avx512bf16") && Target.host.lanes == 16))
        #expect(ran.contains("AMX") == Target.host.hasAMX)
    }

    /// A depthwise 1x1 conv of weight 1 outputs its rounded input: the JIT's vector rounding against
    /// Swift's, bit for bit, on ties, NaNs, infinities, signed zeros, subnormals and the largest floats.
    @Test func theJITRoundsInputsAsTheReferenceDoes() throws {
        let ulp = Float(1) / 128
        let special: [Float] = [1 + ulp / 2, 1 + 3 * ulp / 2, -(1 + ulp / 2), .nan, -.nan, Float(bitPattern: 0x7F80_0001), .infinity,
                                -.infinity, 0, -0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e-40, -1e-42, 3.14159, 65504]
        let input = Tensor(shape: [1, special.count, 1, 3]) { i in i % 3 == 0 ? special[i / 3] : Float(i) * 0.3371 }
        let (graph, weights) = oneNodeGraph(.conv, input: input.shape, ["group": .int(special.count)],
                                            parameters: [("w", Tensor(shape: [special.count, 1, 1, 1]) { _ in 1 })])
        for target in bfloat16Targets {
            var options = CompileOptions()
            options.target = target
            options.precision = .bf16
            let model = try CompiledModel(graph: graph, weights: weights, inputShapes: ["x": input.shape], options: options)
            let output = try #require(try model.run(["x": input])["y"])
            for i in 0..<input.count {
                let (expected, actual) = (input[i].roundedToBFloat16, output[i])
                // A sum's zero is +0 (0 + -0): the sign of a zero is the one thing a conv does not keep.
                #expect(expected.isNaN ? actual.isNaN : expected == 0 ? actual == 0 : expected.bitPattern == actual.bitPattern,
                        "\(target): \(input[i]) rounds to \(expected), the JIT gave \(actual)")
            }
        }
    }

    /// Every conv shape the f32 tests cover, in bf16 on every bf16 target: the reference rounds the
    /// same operands, so the two differ only in the order of fp32 sums.
    @Test(arguments: OpTests.convCases + [
        // Pairs of channels with one left over in the last pair; filters past a channel tile; partial pixel tiles.
        OpTests.ConvCase(batch: 2, channels: 35, size: (13, 11), filters: 37, kernel: (3, 3)),
        OpTests.ConvCase(channels: 64, size: (28, 28), filters: 64, kernel: (3, 3)),
        OpTests.ConvCase(channels: 300, size: (7, 7), filters: 70, kernel: (1, 1), pad: 0),
        // Read in place with AMX: kernels other than 3x3, no padding, maps narrower than a tile.
        OpTests.ConvCase(channels: 32, size: (9, 12), filters: 20, kernel: (1, 3), pad: 0),
        OpTests.ConvCase(batch: 2, channels: 20, size: (11, 9), filters: 33, kernel: (5, 5), pad: 2),
        OpTests.ConvCase(channels: 48, size: (3, 2), filters: 16, kernel: (3, 3), bias: false),
    ])
    func conv(_ c: OpTests.ConvCase) throws {
        let (graph, weights, inputs) = c.model()
        let models = try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets)
        for model in models {
            // The conv is the last kernel. Before it, with AMX a stride-1 conv's input is laid out in
            // channel blocks; without, a conv under several taps reads its input as pair planes.
            let kind = model.kernels.last?.kind ?? ""
            #expect(kind.contains("bf16"), "\(model.target): \(kind)")
            #expect(kind.contains("amx") == (model.target.hasAMX && !kind.contains("direct")), "\(model.target): \(kind)")
            let inPlace = model.target.hasAMX && c.stride == 1 && c.dilation == 1 && c.groups == 1 && c.kernel != (1, 1)
                && c.channels >= 16 && c.filters >= 16
            #expect(kind.contains("in place") == inPlace, "\(model.target): \(kind)")
            let pairPlanes = !model.target.hasAMX && !kind.contains("direct") && !kind.contains("column pairs") && c.groups == 1 && c.kernel != (1, 1)
            // With 16 lanes, convs under 2-9 taps over 24 filters or more have lanes over filters and read the planes with a border.
            let filterLanes = filterLanesTake(c, on: model.target)
            #expect(kind.contains("filter lanes") == filterLanes, "\(model.target): \(kind)")
            #expect((model.kernels.first?.kind == (filterLanes ? "bf16 pairs padded" : "bf16 pairs")) == pairPlanes, "\(model.target): \(model.kernels.map(\.kind))")
            #expect(model.kernels.count == (inPlace || pairPlanes ? 2 : 1), "\(model.target): \(model.kernels.map(\.kind))")
        }
    }

    /// Whether `FilterLaneConvKernel` takes conv `c` on `target` (its rule, restated).
    func filterLanesTake(_ c: OpTests.ConvCase, on target: Target) -> Bool {
        target.lanes == 16 && !target.hasAMX && c.groups == 1 && (2...9).contains(c.kernel.0 * c.kernel.1) && c.filters >= 24
    }

    /// Lanes over filters, pixels broadcast from pair planes with the conv's zero border: a row's last
    /// tile partly past the row (18x17 outputs in tiles of 9), filters past the last block (40 in blocks
    /// of 48) and an odd channel count at stride 2; dilation 2; a 1x3 kernel without padding (21 wide in
    /// tiles of 11); a border other than the kernel's (pads 0, 1 / 2, 0) at strides 1 x 2.
    @Test(arguments: [OpTests.ConvCase(batch: 2, channels: 33, size: (35, 33), filters: 40, kernel: (3, 3), stride: 2, pad: 1),
                      OpTests.ConvCase(channels: 16, size: (20, 20), filters: 24, kernel: (3, 3), pad: 2, dilation: 2),
                      OpTests.ConvCase(channels: 10, size: (9, 23), filters: 64, kernel: (1, 3), pad: 0, bias: false)])
    func filterLaneConv(_ c: OpTests.ConvCase) throws {
        let (graph, weights, inputs) = c.model()
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            let kinds = model.kernels.map(\.kind)
            #expect((kinds.last ?? "").contains("filter lanes") == filterLanesTake(c, on: model.target), "\(model.target): \(kinds)")
        }
    }

    /// A border that differs on every side of a 3x2 kernel at strides 1 x 2: the pair planes' border is
    /// the conv's, not one the kernel size implies.
    @Test func filterLaneConvWithAnUnevenBorder() throws {
        let (graph, weights) = oneNodeGraph(.conv, input: [1, 8, 10, 12], ["pads": .ints([0, 1, 2, 0]), "strides": .ints([1, 2])],
                                            parameters: [("w", randomTensor([30, 8, 3, 2], seed: 60)), ("b", randomTensor([30], seed: 61))])
        let inputs = ["x": randomTensor([1, 8, 10, 12], seed: 62)]
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            let kinds = model.kernels.map(\.kind)
            #expect((kinds.last ?? "").contains("filter lanes") == (model.target.lanes == 16 && !model.target.hasAMX), "\(model.target): \(kinds)")
        }
    }

    /// Stride-2 convs over few channels pair adjacent kernel columns instead of channels (a stem's 3
    /// channels under 7x7: 84 steps, not 98): an odd kernel width (the last pair's second column has no
    /// weight), borders on every side, one channel, a batch of two.
    @Test(arguments: [OpTests.ConvCase(channels: 3, size: (32, 32), filters: 10, kernel: (7, 7), stride: 2, pad: 3),
                      OpTests.ConvCase(batch: 2, channels: 3, size: (21, 64), filters: 9, kernel: (5, 5), stride: 2, pad: 2),
                      OpTests.ConvCase(channels: 1, size: (17, 33), filters: 6, kernel: (3, 3), stride: 2, pad: 0)])
    func stridedConvPairsColumns(_ c: OpTests.ConvCase) throws {
        let (graph, weights, inputs) = c.model()
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            let kinds = model.kernels.map(\.kind)
            #expect((kinds.last ?? "").contains("column pairs") == !model.target.hasAMX, "\(model.target): \(kinds)")
            #expect(kinds.count == 1, "\(model.target): \(kinds)")
        }
    }

    /// The whole-map schedule (small maps under large weights) in bf16, where no AMX takes the conv:
    /// spans of up to 256 channel pairs under one tap (515 channels: spans of 256 and 2 pairs, the last
    /// pair's odd channel zero), the last pixel by filter lanes (7x7, a broadcast pair against the
    /// filters' pairs); a 6x8 map is one pixel tile with 16 lanes. The threshold counts the packed
    /// weights' bytes, so bf16 takes the schedule where the weights are twice as many as in f32.
    @Test(arguments: [OpTests.WholeMapCase(batch: 1, channels: 515, height: 7, width: 7, filters: 460, kernel: 3, wholeMapAt: [8, 16]),
                      OpTests.WholeMapCase(batch: 2, channels: 301, height: 6, width: 8, filters: 800, kernel: 3, wholeMapAt: [8]),
                      OpTests.WholeMapCase(batch: 2, channels: 1030, height: 7, width: 7, filters: 1040, kernel: 3, groups: 2, wholeMapAt: [8, 16])])
    func wholeMapConv(_ c: OpTests.WholeMapCase) throws {
        let (graph, weights, inputs) = c.model(seed: 80)
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            if model.target.hasAMX {
                #expect(!(model.kernels.last?.kind ?? "").contains("whole-map"), "\(model.target): \(model.kernels.map(\.kind))")
            } else if model.target.lanes == 16 && c.groups == 1 {
                #expect((model.kernels.last?.kind ?? "").contains("filter lanes"), "\(model.target): \(model.kernels.map(\.kind))")
            } else {
                c.expectWholeMap(model)
            }
        }
    }

    /// Two convs under several taps reading one value (an odd channel count, so the last pair's high
    /// half is zero) share its pair planes: one `PairPlaneKernel`, and each conv's patch copies from it.
    @Test func convsReadingOneValueShareItsPairPlanes() throws {
        let (channels, size) = (7, 12)
        let graph = Graph(
            name: "two-convs", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [2, channels, size, size]))], outputs: ["y", "z"],
            parameters: [("w", [8, channels, 3, 3]), ("v", [12, channels, 5, 5])].map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) },
            nodes: [Node(name: "a", op: .conv, inputs: ["x", "w"], outputs: ["y"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "b", op: .conv, inputs: ["x", "v"], outputs: ["z"], attributes: ["pads": .ints([2, 2, 2, 2]), "strides": .ints([2, 2])])])
        let weights = Weights(tensors: ["w": randomTensor([8, channels, 3, 3], seed: 90), "v": randomTensor([12, channels, 5, 5], seed: 91)])
        let inputs = ["x": randomTensor([2, channels, size, size], seed: 92)]
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            let kinds = model.kernels.map(\.kind)
            #expect(kinds.filter { $0 == "bf16 pairs" }.count == (model.target.hasAMX ? 0 : 1), "\(model.target): \(kinds)")
            #expect(kinds.count == (model.target.hasAMX ? 2 : 3), "\(model.target): \(kinds)")
        }
    }

    /// x -> a (3x3) -> b0 (3x3) -> b = relu(b0) -> c (1x1) -> d (3x3) -> y = d + b, the convs' filters
    /// `filters` (c 1x1, the others 3x3 padded by 1); random weights and input from `seed`.
    func pairChain(channels: Int, height: Int, width: Int, filters: [Int], outputs: [String], seed: UInt64) -> (Graph, Weights, [String: Tensor]) {
        func conv(_ name: String, _ input: String, _ weight: String, pad: Int) -> Node {
            Node(name: name, op: .conv, inputs: [input, weight], outputs: [name], attributes: ["pads": .ints([pad, pad, pad, pad])])
        }
        let kernels = [3, 3, 1, 3], inputChannels = [channels] + filters.dropLast()
        let shapes = (0..<4).map { ("w\($0 + 1)", [filters[$0], inputChannels[$0], kernels[$0], kernels[$0]]) }
        let graph = Graph(
            name: "pair-chain", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [2, channels, height, width]))], outputs: outputs,
            parameters: shapes.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) },
            nodes: [conv("a", "x", "w1", pad: 1), conv("b0", "a", "w2", pad: 1), Node(name: "b", op: .relu, inputs: ["b0"], outputs: ["b"], attributes: [:]),
                    conv("c", "b", "w3", pad: 0), conv("d", "c", "w4", pad: 1),
                    Node(name: "y", op: .add, inputs: ["d", "b"], outputs: ["y"], attributes: [:])])
        let weights = Weights(tensors: Dictionary(uniqueKeysWithValues: shapes.enumerated().map { ($1.0, randomTensor($1.1, seed: seed + 1 + UInt64($0))) }))
        return (graph, weights, ["x": randomTensor([2, channels, height, width], seed: seed)])
    }

    /// Convs whose output only bf16 convs read write it as pair planes in their epilogue (`.only`:
    /// a chain of 3x3 convs, the first with an odd filter count, whose last pair has no high half), beside
    /// the floats where something else reads it too (`.alsoFloats`: a value a 1x1 conv reads in place
    /// and a residual add and the graph's output read as floats). The function is the same: the
    /// readers round it anyway, the residual add too, which reads b from c's pair planes
    /// (`residual-pairs`). Under 24 filters every conv keeps pixel lanes on both widths.
    @Test func convsWriteThePairPlanesTheirReadersTake() throws {
        let (graph, weights, inputs) = pairChain(channels: 6, height: 21, width: 21, filters: [23, 20, 12, 20], outputs: ["b", "y"], seed: 99)
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) where !model.target.hasAMX {
            let kinds = model.kernels.map(\.kind)
            // x as pair planes; a and c as pairs only, b as floats and pairs; d and its add as floats.
            #expect(kinds.filter { $0 == "bf16 pairs" }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.hasSuffix(" pairs]") }.count == 2, "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.hasSuffix(" +pairs]") }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.contains("+add") && $0.hasSuffix("residual-pairs]") }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.count == 5, "\(model.target): \(kinds)")
        }
    }

    /// Convs with lanes over filters write the pair planes their readers take too: with the border
    /// of a reader with lanes over filters (`a`, 29 filters: the last pair's high half zero, a block
    /// partly past the filters), or without one for a 1x1 conv that reads them in place, beside the
    /// floats a residual add reads (`b`). A pixel-lane conv (`c`, on 13-wide rows: its vectors of 16
    /// pixels cross rows) writes them with its filter-lane reader's border too.
    @Test func filterLaneConvsWriteThePairPlanesTheirReadersTake() throws {
        let (graph, weights, inputs) = pairChain(channels: 6, height: 16, width: 13, filters: [29, 26, 24, 26], outputs: ["y"], seed: 109)
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets)
        where model.target.lanes == 16 && !model.target.hasAMX {
            let kinds = model.kernels.map(\.kind)
            #expect(kinds.filter { $0 == "bf16 pairs padded" }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.contains("filter lanes") && $0.hasSuffix(" pairs]") }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.contains("packed") && $0.hasSuffix(" pairs]") }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.contains("filter lanes") && $0.hasSuffix(" +pairs]") }.count == 1, "\(model.target): \(kinds)")
            #expect(kinds.count == 5, "\(model.target): \(kinds)")
        }
    }

    /// Conv -> BatchNorm -> residual Add -> Relu in one kernel: bf16 rounds the conv's own weights and
    /// applies BatchNorm's scale to the sums, as the reference does, so they agree to fp32 rounding;
    /// Winograd, asked for, is not used.
    @Test func batchNormIsAppliedToTheSumsNotFoldedIntoRoundedWeights() throws {
        let (channels, filters, size) = (24, 32, 30)
        let graph = Graph(
            name: "conv-bn-add-relu", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [2, channels, size, size])),
                                                ValueInfo(name: "r", type: TensorType(fixed: [2, filters, size, size]))],
            outputs: ["y"],
            parameters: [("w", [filters, channels, 3, 3]), ("s", [filters]), ("b", [filters]), ("m", [filters]), ("v", [filters])].map {
                Parameter(name: $0.0, type: TensorType(fixed: $0.1))
            },
            nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "bn", op: .batchNormalization, inputs: ["c", "s", "b", "m", "v"], outputs: ["n"], attributes: [:]),
                    Node(name: "add", op: .add, inputs: ["n", "r"], outputs: ["a"], attributes: [:]),
                    Node(name: "relu", op: .relu, inputs: ["a"], outputs: ["y"], attributes: [:])])
        let weights = Weights(tensors: ["w": randomTensor([filters, channels, 3, 3], seed: 70), "s": randomTensor([filters], seed: 71, low: 0.5, high: 3),
                                        "b": randomTensor([filters], seed: 72), "m": randomTensor([filters], seed: 73),
                                        "v": randomTensor([filters], seed: 74, low: 0.1, high: 2)])
        let inputs = ["x": randomTensor([2, channels, size, size], seed: 75), "r": randomTensor([2, filters, size, size], seed: 76)]
        let models = try expectMatchesReference(graph, weights, inputs: inputs, winograd: true, precision: .bf16, on: bfloat16Targets)
        for model in models {
            let conv = model.kernels.last?.kind ?? ""
            #expect(conv.contains("bf16") && conv.hasPrefix("conv3x3+add+relu"), "\(model.target): \(model.kernels.map(\.kind))")
            // Before it, the input laid out once: in channel blocks (AMX) or as pair planes.
            #expect(model.kernels.count == 2, "\(model.target): \(model.kernels.map(\.kind))")
        }
        // And bf16 is a different function from f32: the test above would not notice a JIT that ignored it.
        let f32 = try ReferenceInterpreter().run(graph, weights: weights, inputs: inputs)["y"]
        let bf16 = try ReferenceInterpreter(precision: .bf16).run(graph, weights: weights, inputs: inputs)["y"]
        let difference = try #require(bf16).difference(to: try #require(f32)).relative
        #expect(difference > 1e-4 && difference < 2e-2, "bf16 against f32: \(difference)")
    }

    /// Bottleneck blocks as in ResNet-50: y0 = relu(1x1(x)), then twice y = relu(1x1(3x3(1x1(y))) + y).
    /// y0 and y1 are read by 1x1 convs only, as input and as residual: their convs write pair planes
    /// alone, no floats, and the residual adds read them (`residual-pairs`); y2, the graph's output, is
    /// floats. An odd filter count leaves the last pair's high half empty.
    @Test(arguments: [(1, 48), (2, 47)])
    func residualsReadFromPairPlanes(batch: Int, wide: Int) throws {
        var nodes: [Node] = [], shapes: [(String, [Int])] = []
        func conv(_ name: String, _ input: String, filters: Int, channels: Int, kernel: Int, residual: String? = nil) {
            shapes.append(("w_" + name, [filters, channels, kernel, kernel]))
            let pad = kernel / 2
            nodes.append(Node(name: name, op: .conv, inputs: [input, "w_" + name], outputs: [name + "_c"], attributes: ["pads": .ints([pad, pad, pad, pad])]))
            nodes += residual.map { [Node(name: name + "_add", op: .add, inputs: [name + "_c", $0], outputs: [name + "_s"])] } ?? []
            nodes.append(Node(name: name + "_relu", op: .relu, inputs: [residual == nil ? name + "_c" : name + "_s"], outputs: [name]))
        }
        conv("y0", "x", filters: wide, channels: 24, kernel: 1)
        for (block, input) in [("y1", "y0"), ("y2", "y1")] {
            conv(block + "a", input, filters: 16, channels: wide, kernel: 1)
            conv(block + "b", block + "a", filters: 16, channels: 16, kernel: 3)
            conv(block, block + "b", filters: wide, channels: 16, kernel: 1, residual: input)
        }
        // 8x8 maps: whole pixel tiles on both widths, so every conv can write pairs.
        let shape = [batch, 24, 8, 8]
        let graph = Graph(name: "bottlenecks", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y2"],
                          parameters: shapes.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) }, nodes: nodes)
        let weights = Weights(tensors: Dictionary(uniqueKeysWithValues: shapes.enumerated().map { ($1.0, randomTensor($1.1, seed: 120 + UInt64($0))) }))
        for model in try expectMatchesBFloat16Reference(graph, weights, inputs: ["x": randomTensor(shape, seed: 119)]) where !model.target.hasAMX {
            let kinds = model.kernels.map(\.kind)
            let adds = kinds.filter { $0.hasPrefix("conv1x1+add") }
            #expect(adds.count == 2 && adds.allSatisfy { $0.contains("residual-pairs") }, "\(model.target): \(kinds)")
            #expect(kinds.first?.hasSuffix(" pairs]") == true, "y0 as pairs only, \(model.target): \(kinds)")
        }
    }

    /// A residual read from pair planes a pass made (for the 3x3 conv's patch) by a 1x1 conv whose map
    /// ends in 4 pixels computed with lanes over filters, their residual read one pair at a time.
    @Test func residualOfAFilterLaneTailFromPairPlanes() throws {
        let shape = [1, 16, 14, 14]
        let graph = Graph(
            name: "tail", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y"],
            parameters: [("w", [16, 16, 3, 3]), ("v", [16, 16, 1, 1])].map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) },
            nodes: [Node(name: "a", op: .conv, inputs: ["x", "w"], outputs: ["a"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "b", op: .conv, inputs: ["a", "v"], outputs: ["b"]),
                    Node(name: "add", op: .add, inputs: ["b", "x"], outputs: ["s"]),
                    Node(name: "relu", op: .relu, inputs: ["s"], outputs: ["y"])])
        let weights = Weights(tensors: ["w": randomTensor([16, 16, 3, 3], seed: 130), "v": randomTensor([16, 16, 1, 1], seed: 131)])
        for model in try expectMatchesBFloat16Reference(graph, weights, inputs: ["x": randomTensor(shape, seed: 132)])
        where !model.target.hasAMX && model.target.lanes == 16 {
            #expect(model.kernels.last?.kind.contains("residual-pairs") == true, "\(model.target): \(model.kernels.map(\.kind))")
        }
    }

    /// An Add of two activations reads both rounded to bfloat16, wherever it runs: in an element-wise
    /// kernel (`a + b`, then ReLU), in a conv's activation (`c + sigmoid(c)`); an Add of a parameter
    /// (`+ k`) does not round. Unrounded operands would be off by up to 2^-9 of themselves, a hundred
    /// times the tolerance.
    @Test func addsOfTwoActivationsRoundTheirOperands() throws {
        let shape = [2, 16, 9, 11]
        let graph = Graph(
            name: "adds", inputs: ["a", "b"].map { ValueInfo(name: $0, type: TensorType(fixed: shape)) }, outputs: ["y", "z"],
            parameters: [Parameter(name: "w", type: TensorType(fixed: [16, 16, 3, 3])), Parameter(name: "k", type: TensorType(fixed: [1, 16, 1, 1]))],
            nodes: [Node(name: "sum", op: .add, inputs: ["a", "b"], outputs: ["s"]),
                    Node(name: "shift", op: .add, inputs: ["s", "k"], outputs: ["t"]),
                    Node(name: "relu", op: .relu, inputs: ["t"], outputs: ["y"]),
                    Node(name: "conv", op: .conv, inputs: ["a", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "gate", op: .sigmoid, inputs: ["c"], outputs: ["g"]),
                    Node(name: "gated", op: .add, inputs: ["c", "g"], outputs: ["z"])])
        let weights = Weights(tensors: ["w": randomTensor([16, 16, 3, 3], seed: 90), "k": randomTensor([1, 16, 1, 1], seed: 91)])
        let inputs = ["a": randomTensor(shape, seed: 92), "b": randomTensor(shape, seed: 93)]
        for model in try expectMatchesReference(graph, weights, inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            let kinds = model.kernels.map(\.kind)
            #expect(kinds.contains("elementwise add+add+relu") && kinds.contains { $0.hasPrefix("conv3x3+(sigmoid,add)") }, "\(model.target): \(kinds)")
        }
    }

    /// bf16 pools and blurs read their input as stored in bfloat16: on the interior (vectors) and at
    /// the borders, fused as max-blur, and output by output (`BlurKernel.direct`). Each result must
    /// match the bf16 reference to fp32 rounding and differ from the f32 one by about bf16's step,
    /// so a kernel that did not round its input fails.
    @Test func poolsAndBlursReadTheirInputRounded() throws {
        let shape = [2, 3, 13, 21]
        let pools: [(OpKind, Attributes)] = [
            (.blurPool, ["filter_size": .int(4), "strides": .ints([2, 2])]),
            (.blurPool, ["filter_size": .int(3), "strides": .ints([2, 2]), "pad_mode": .string("zero")]),
            (.blurPool, ["filter_size": .int(3), "strides": .ints([7, 5]), "pads": .ints([9, 1, 2, 8]), "pad_mode": .string("replicate")]),
            (.maxPool, ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            (.averagePool, ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            (.averagePool, ["kernel_shape": .ints([40, 40]), "strides": .ints([1, 1]), "pads": .ints([39, 39, 39, 39])]),
            (.globalAveragePool, [:]),
            (.adaptiveAveragePool, ["output_size": .ints([3, 4])]),
        ]
        var nodes = pools.enumerated().map { i, pool in Node(name: "pool\(i)", op: pool.0, inputs: ["x"], outputs: ["y\(i)"], attributes: pool.1) }
        nodes += [Node(name: "max", op: .maxPool, inputs: ["x"], outputs: ["m"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])]),
                  Node(name: "blur", op: .blurPool, inputs: ["m"], outputs: ["maxblur"], attributes: ["filter_size": .int(4), "strides": .ints([2, 2])])]
        let graph = Graph(name: "pools", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))],
                          outputs: pools.indices.map { "y\($0)" } + ["maxblur"], nodes: nodes)
        let inputs = ["x": randomTensor(shape, seed: 94)]
        let f32 = try ReferenceInterpreter().run(graph, weights: Weights(), inputs: inputs)
        for model in try expectMatchesReference(graph, Weights(), inputs: inputs, precision: .bf16, on: bfloat16Targets) {
            #expect(model.kernels.filter { $0.kind.hasSuffix(" bf16") }.count == pools.count + 1, "\(model.target): \(model.kernels.map(\.kind))")
            let results = try model.run(inputs)
            for name in graph.outputs {
                let (bf16, exact) = (try #require(results[name]), try #require(f32[name]))
                #expect(bf16.difference(to: exact).relative > 2e-4, "\(model.target): \(name) is the f32 result")
            }
        }
    }

    /// A blur or max-blur whose input a bf16 conv writes as pair planes reads its channel's half of
    /// them: planes of only blurs' readers without a border (the conv writes no floats), planes that
    /// a conv with lanes over filters also reads with its border; odd filter counts, two images, and
    /// the output-by-output path (`BlurKernel.direct`).
    @Test func blursReadPairPlanes() throws {
        let shape = [2, 5, 20, 22]
        func conv(_ name: String, _ input: String) -> Node {
            Node(name: name, op: .conv, inputs: [input, name + ".w"], outputs: [name], attributes: ["pads": .ints([1, 1, 1, 1])])
        }
        let blur: Attributes = ["filter_size": .int(4), "strides": .ints([2, 2])]
        let graph = Graph(
            name: "blurred", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["b1", "b2", "maxblur", "c3"],
            parameters: [("c1.w", [9, 5, 3, 3]), ("c2.w", [33, 5, 3, 3]), ("c3.w", [32, 33, 3, 3])].map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) },
            nodes: [conv("c1", "x"),
                    Node(name: "relu", op: .relu, inputs: ["c1"], outputs: ["r1"]),
                    Node(name: "blur1", op: .blurPool, inputs: ["r1"], outputs: ["b1"], attributes: blur),
                    Node(name: "blur2", op: .blurPool, inputs: ["r1"], outputs: ["b2"],
                         attributes: ["filter_size": .int(3), "strides": .ints([7, 5]), "pads": .ints([9, 1, 2, 8]), "pad_mode": .string("replicate")]),
                    conv("c2", "x"),
                    Node(name: "max", op: .maxPool, inputs: ["c2"], outputs: ["m"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])]),
                    Node(name: "blur3", op: .blurPool, inputs: ["m"], outputs: ["maxblur"], attributes: blur),
                    conv("c3", "c2")])
        let weights = Weights(tensors: ["c1.w": randomTensor([9, 5, 3, 3], seed: 95), "c2.w": randomTensor([33, 5, 3, 3], seed: 96),
                                        "c3.w": randomTensor([32, 33, 3, 3], seed: 97)])
        for model in try expectMatchesBFloat16Reference(graph, weights, inputs: ["x": randomTensor(shape, seed: 98)]) {
            let kinds = model.kernels.map(\.kind)
            #expect(kinds.filter { $0.hasSuffix("blurpool M=4 s=2 reflect bf16 pairs") }.count == 2, "\(model.target): \(kinds)")
            #expect(kinds.contains("blurpool M=3 s=7 replicate bf16 pairs"), "\(model.target): \(kinds)")
        }
    }

    /// A blur or max-blur whose output bf16 convs read writes it as pair planes, a pair of channels per
    /// work item: only those (1x1 convs reading them in place, one of them adding them as its
    /// residual), or beside the floats a graph output reads, with the border a conv with lanes over
    /// filters reads (16 lanes) or none (8 lanes); an odd channel count, two images, two bands of rows.
    /// No pair-plane pass is left, and an output-by-output blur (`BlurKernel.direct`) keeps writing
    /// floats, its reader's pass made for it.
    @Test func blursWritePairPlanes() throws {
        let shape = [2, 5, 40, 130]
        let blur: Attributes = ["filter_size": .int(4), "strides": .ints([2, 2])]
        let graph = Graph(
            name: "blurs", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["c2", "sum", "maxblur", "c3", "c5"],
            parameters: [("c1.w", [9, 5, 3, 3]), ("c2.w", [24, 9, 1, 1]), ("c3.w", [33, 9, 3, 3]), ("c4.w", [9, 9, 1, 1]), ("c5.w", [8, 9, 1, 1])]
                .map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) },
            nodes: [Node(name: "c1", op: .conv, inputs: ["x", "c1.w"], outputs: ["c1"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "relu", op: .relu, inputs: ["c1"], outputs: ["r1"]),
                    Node(name: "blur", op: .blurPool, inputs: ["r1"], outputs: ["b"], attributes: blur),
                    Node(name: "c2", op: .conv, inputs: ["b", "c2.w"], outputs: ["c2"]),
                    Node(name: "c4", op: .conv, inputs: ["b", "c4.w"], outputs: ["c4"]),
                    Node(name: "add", op: .add, inputs: ["c4", "b"], outputs: ["sum"]),
                    Node(name: "max", op: .maxPool, inputs: ["r1"], outputs: ["m"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])]),
                    Node(name: "maxblur", op: .blurPool, inputs: ["m"], outputs: ["maxblur"],
                         attributes: ["filter_size": .int(3), "strides": .ints([2, 2]), "pad_mode": .string("replicate")]),
                    Node(name: "c3", op: .conv, inputs: ["maxblur", "c3.w"], outputs: ["c3"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "sparse", op: .blurPool, inputs: ["r1"], outputs: ["s"],
                         attributes: ["filter_size": .int(3), "strides": .ints([7, 5]), "pads": .ints([9, 1, 2, 8])]),
                    Node(name: "c5", op: .conv, inputs: ["s", "c5.w"], outputs: ["c5"])])
        let weights = Weights(tensors: ["c1.w": randomTensor([9, 5, 3, 3], seed: 101), "c2.w": randomTensor([24, 9, 1, 1], seed: 102),
                                        "c3.w": randomTensor([33, 9, 3, 3], seed: 103), "c4.w": randomTensor([9, 9, 1, 1], seed: 104),
                                        "c5.w": randomTensor([8, 9, 1, 1], seed: 105)])
        for model in try expectMatchesBFloat16Reference(graph, weights, inputs: ["x": randomTensor(shape, seed: 106)]) {
            let kinds = model.kernels.map(\.kind)
            #expect(kinds.contains("blurpool M=4 s=2 reflect bf16 pairs to pairs"), "\(model.target): \(kinds)")
            #expect(kinds.contains("maxblurpool M=3 s=2 replicate bf16 pairs to pairs"), "\(model.target): \(kinds)")
            #expect(kinds.contains("blurpool M=3 s=7 reflect bf16 pairs"), "\(model.target): \(kinds)")
            #expect(kinds.filter { $0.hasPrefix("bf16 pairs") }.count == 1, "\(model.target): \(kinds)")
        }
    }

    /// 1x1 convs on a 14x14 map, whose last 4 pixels (196 = 4 x 48 or 8 x 24 + 4) a filter-lane tail
    /// computes, write their readers' pair planes there too, pixel by pixel: with the border of a 3x3
    /// reader (odd filter count), without one for a 1x1 conv that reads them as input and as residual
    /// (the tail adding that residual from the pairs), and beside the floats a graph output reads. No
    /// pair-plane pass is left.
    @Test func filterLaneTailsWritePairPlanes() throws {
        let shape = [2, 24, 14, 14]
        func conv(_ name: String, _ input: String, pads: Int = 0) -> Node {
            Node(name: name, op: .conv, inputs: [input, name + ".w"], outputs: [name], attributes: ["pads": .ints(Array(repeating: pads, count: 4))])
        }
        let shapes = [("c1.w", [33, 24, 1, 1]), ("c2.w", [32, 33, 3, 3]), ("c3.w", [24, 24, 1, 1]), ("c4.w", [24, 24, 1, 1]), ("c5.w", [16, 24, 1, 1])]
        let graph = Graph(
            name: "tails", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["c2", "y", "c5"],
            parameters: shapes.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1)) },
            nodes: [conv("c1", "x"), Node(name: "relu", op: .relu, inputs: ["c1"], outputs: ["r1"]), conv("c2", "r1", pads: 1),
                    conv("c3", "x"), conv("c4", "c3"), Node(name: "add", op: .add, inputs: ["c4", "c3"], outputs: ["y"]), conv("c5", "y")])
        let weights = Weights(tensors: Dictionary(uniqueKeysWithValues: shapes.enumerated().map { ($1.0, randomTensor($1.1, seed: UInt64(110 + $0))) }))
        for model in try expectMatchesBFloat16Reference(graph, weights, inputs: ["x": randomTensor(shape, seed: 120)]) {
            let kinds = model.kernels.map(\.kind)
            #expect(!kinds.contains { $0.hasPrefix("bf16 pairs") }, "\(model.target): \(kinds)")
            guard !model.target.hasAMX else { continue }
            #expect(kinds.contains { $0.hasPrefix("conv1x1+relu [packed") && $0.hasSuffix(" pairs]") }, "\(model.target): \(kinds)")
            #expect(kinds.contains { $0.hasPrefix("conv1x1+add [packed") && $0.hasSuffix("residual-pairs +pairs]") }, "\(model.target): \(kinds)")
        }
    }

    /// Whole networks with BatchNorm, blur, depthwise and concatenation. Layer by layer the JIT equals
    /// the bf16 reference to fp32 rounding (above), but through a network a sum that differs from the
    /// reference's (double) one in its last fp32 bit rounds now and then to the neighbouring bfloat16
    /// at the next conv, and over tens of layers those flips grow to bf16's own noise: the JIT then
    /// differs from the bf16 reference about as much as either differs from f32. So the JIT's bf16
    /// result must be as close to the f32 function as the reference's bf16 result is, and not be f32.
    /// The targets of one vector width without AMX compute each conv's sums in the same order
    /// (`vdpbf16ps` and the fallback alike), so their results agree far more closely than either does
    /// with the reference. AMX sums in its own order, and so do 16 lanes over filters against 8 over
    /// pixels.
    @Test(arguments: [("resnet18", "antialias{max-pool-kernel=2}"), ("resnet50", ""), ("mobilenet_v2", "antialias"), ("densenet121", "")])
    func network(name: String, pipeline: String) throws {
        let model = try #require(Zoo.model(named: name))
        var graph = model.graph(height: 64, width: 64)
        if !pipeline.isEmpty { graph = try antialiased(graph, pipeline) }
        let (input, weights, output) = (randomTensor([2, 3, 64, 64], seed: 77), try randomizedWeights(graph), graph.outputs[0])
        let inputs = [graph.inputs[0].name: input]
        let f32 = try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: inputs)[output])
        let bf16 = try #require(try ReferenceInterpreter(precision: .bf16).run(graph, weights: weights, inputs: inputs)[output])
        let referenceError = bf16.difference(to: f32).relative
        var results: [Tensor] = []
        for target in bfloat16Targets {
            var options = CompileOptions()
            options.target = target
            options.precision = .bf16
            let jit = try CompiledModel(graph: graph, weights: weights, inputShapes: inputs.mapValues(\.shape), options: options)
            let result = try #require(try jit.run(inputs)[output])
            let error = result.difference(to: f32).relative
            #expect(error <= 1.5 * referenceError && error >= 0.3 * referenceError,
                    "\(target): bf16 against f32 \(error), the reference's \(referenceError)")
            results.append(result)
        }
        for lanes in [8, 16] {
            let vectorPaths = zip(bfloat16Targets, results).filter { !$0.0.hasAMX && $0.0.lanes == lanes }
            for (target, result) in vectorPaths.dropFirst() {
                #expect(result.difference(to: vectorPaths[0].1).relative <= 1e-5, "\(target) against \(vectorPaths[0].0)")
            }
        }
    }
}

/// Compiles and runs `graph` in bf16 on every bf16 target against the bf16 reference. A value the
/// engines round may go to the neighbouring bfloat16 in one and not the other (their fp32 sums differ
/// in the last bit): one bfloat16 step, 2^-8 of it, carried on by a residual to the output undiluted.
/// Such flips are rare; a missed rounding point or a misread operand moves most values. So at most 1
/// in 50 elements may differ by more than 1e-5 of the largest magnitude, and none by more than 2^-6
/// of it.
@discardableResult
func expectMatchesBFloat16Reference(_ graph: Graph, _ weights: Weights, inputs: [String: Tensor],
                                    sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [CompiledModel] {
    let reference = try ReferenceInterpreter(precision: .bf16).run(graph, weights: weights, inputs: inputs)
    return try bfloat16Targets.map { target in
        var options = CompileOptions()
        options.target = target
        options.precision = .bf16
        let model = try CompiledModel(graph: graph, weights: weights, inputShapes: inputs.mapValues(\.shape), options: options)
        let jit = try model.run(inputs)
        for name in graph.outputs {
            let expected = try #require(reference[name], sourceLocation: sourceLocation)
            let actual = try #require(jit[name], sourceLocation: sourceLocation)
            let scale = (0..<expected.count).reduce(Float(0)) { max($0, abs(expected[$1])) }
            let differing = (0..<expected.count).filter { abs(actual[$0] - expected[$0]) > 1e-5 * scale }
            #expect(differing.count * 50 <= expected.count, "output \(name), \(target): \(differing.count) of \(expected.count) differ", sourceLocation: sourceLocation)
            let worst = differing.map { abs(actual[$0] - expected[$0]) / scale }.max() ?? 0
            #expect(worst <= 1.0 / 64, "output \(name), \(target): off by \(worst) of the largest value", sourceLocation: sourceLocation)
        }
        return model
    }
}
