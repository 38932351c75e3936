import LowpassIR
import LowpassJIT
import LowpassTensor
import Testing

/// Transpose, Slice, Tile, Squeeze, Unsqueeze, the reductions, ArgMax/ArgMin and the normalizations, JIT against the reference on ranks 1 to 6
/// with odd sizes, negative axes and indices, backwards steps, and both keepdims.
@Suite("JIT data movement and reductions match the reference")
struct TensorOpTests {
    func check(_ op: OpKind, _ shape: [Int], _ attributes: Attributes, seed: UInt64, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let (graph, weights) = oneNodeGraph(op, input: shape, attributes)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: seed)], sourceLocation: sourceLocation)
    }

    @Test(arguments: [([7], [0]), ([3, 5], [1, 0]), ([2, 3, 5], [2, 0, 1]), ([2, 3, 5, 7], [0, 2, 3, 1]), ([2, 3, 5, 7], [0, 3, 1, 2]),
                      ([1, 2, 3, 2, 5], [4, 2, 0, 3, 1]), ([2, 1, 3, 2, 2, 3], [0, 2, 1, 4, 3, 5]), ([4, 6, 17], [2, 1, 0])])
    func transpose(shape: [Int], perm: [Int]) throws {
        try check(.transpose, shape, ["perm": .ints(perm)], seed: 1)
    }

    @Test func transposeWithoutPermReversesTheAxes() throws {
        try check(.transpose, [2, 3, 5, 7], [:], seed: 2)
    }

    @Test(arguments: [
        ([19], [2], [17], nil, nil),
        ([19], [-1], [-20], nil, [-1]),                              // backwards over the whole axis
        ([5, 23], [1, 20], [4, 2], [0, 1], [1, -3]),
        ([2, 3, 9, 11], [0, 1], [1 << 30, -1], [-1, 2], [2, 1]),   // ends past the axis, negative axes
        ([2, 6, 7, 8], [3], [6], [1], nil),                          // channel split
        ([2, 3, 5, 7, 2, 3], [1, -2], [3, 0], [2, 3], [1, -2]),
        ([4, 5], [10], [20], nil, nil),                              // empty
    ] as [([Int], [Int], [Int], [Int]?, [Int]?)])
    func slice(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws {
        var attributes: Attributes = ["starts": .ints(starts), "ends": .ints(ends)]
        if let axes { attributes["axes"] = .ints(axes) }
        if let steps { attributes["steps"] = .ints(steps) }
        try check(.slice, shape, attributes, seed: 3)
    }

    @Test func squeezeAndUnsqueezeAreRenamings() throws {
        try check(.squeeze, [2, 1, 5, 1], ["axes": .ints([1, -1])], seed: 4)
        try check(.squeeze, [1, 3, 1], [:], seed: 5)
        let (graph, weights) = oneNodeGraph(.unsqueeze, input: [3, 4], ["axes": .ints([0, -1, 2])])
        for model in try expectMatchesReference(graph, weights, inputs: ["x": randomTensor([3, 4], seed: 6)]) {
            #expect(model.kernels.count <= 1, "a renaming needs no kernel beyond the output copy")
        }
    }

    static let reductionOps: [OpKind] = [.reduceMean, .reduceSum, .reduceMax, .reduceMin, .reduceL2]

    @Test(arguments: reductionOps)
    func reductions(op: OpKind) throws {
        let cases: [([Int], [Int]?)] = [([37], nil), ([2, 3, 5, 7], [2, 3]), ([2, 3, 5, 7], [1]), ([2, 3, 5, 7], [-1]), ([2, 3, 5, 7], [0, 2]),
                                        ([2, 3, 5, 7], [1, 3]), ([1, 2, 3, 2, 5], [0, 2, 4]), ([2, 1, 3, 2, 2, 3], [-2, 1]), ([4, 33], [0]), ([3, 4], [])]
        for (k, (shape, axes)) in cases.enumerated() {
            for keep in [1, 0] {
                var attributes: Attributes = ["keepdims": .int(keep)]
                if let axes { attributes["axes"] = .ints(axes) }
                try check(op, shape, attributes, seed: UInt64(10 + k))
            }
        }
    }

    /// Over the last axis (ConvNeXt after its Transpose), the last two, all but the batch; Scale and B
    /// broadcast from smaller shapes; rows shorter and longer than a vector.
    @Test(arguments: [([2, 7, 5, 96], -1, [96], true), ([3, 13], 1, [13], false), ([2, 3, 5, 7], 2, [1, 7], true), ([2, 6, 4, 4], 1, [6, 1, 1], true),
                      ([1, 50, 33], -1, [33], true)])
    func layerNormalization(shape: [Int], axis: Int, scaleShape: [Int], bias: Bool) throws {
        var parameters = [("scale", randomTensor(scaleShape, seed: 40, low: 0.5, high: 1.5))]
        if bias { parameters.append(("bias", randomTensor(scaleShape, seed: 41))) }
        let (graph, weights) = oneNodeGraph(.layerNormalization, input: shape, ["axis": .int(axis), "epsilon": .float(1e-3)], parameters: parameters)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 42, low: -3, high: 5)])
    }

    /// Nearest and bilinear, every coordinate transformation, up and down, odd sizes, with and without scales.
    @Test(arguments: ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"])
    func resize(transformation: String) throws {
        for (mode, nearest) in [("nearest", "round_prefer_floor"), ("nearest", "floor"), ("nearest", "round_prefer_ceil"), ("linear", "floor")] {
            for (input, output, scales) in [([2, 3, 7, 9], [2, 3, 14, 18], [1.0, 1, 2, 2]), ([1, 2, 13, 11], [1, 2, 5, 23], nil), ([1, 5, 8, 8], [1, 5, 1, 3], nil)] {
                var attributes: Attributes = ["sizes": .ints(output), "mode": .string(mode), "coordinate_transformation_mode": .string(transformation),
                                              "nearest_mode": .string(nearest)]
                if let scales { attributes["scales"] = .floats(scales) }
                try check(.resize, input, attributes, seed: 50)
            }
        }
    }

    /// Expand, DepthToSpace (both modes) and SpaceToDepth: strided views like Transpose and Slice.
    @Test func broadcastAndBlockRearrangements() throws {
        try check(.expand, [3, 1, 5], ["shape": .ints([2, 1, 4, 5])], seed: 60)
        try check(.expand, [1, 6, 1, 1], ["shape": .ints([2, 6, 7, 9])], seed: 61)
        for mode in ["DCR", "CRD"] { try check(.depthToSpace, [2, 12, 3, 5], ["blocksize": .int(2), "mode": .string(mode)], seed: 62) }
        try check(.depthToSpace, [1, 27, 4, 2], ["blocksize": .int(3)], seed: 63)
        try check(.spaceToDepth, [2, 3, 6, 10], ["blocksize": .int(2)], seed: 64)
        let x = Tensor(shape: [1, 4, 1, 1], values: [1, 2, 3, 4])
        let (graph, weights) = oneNodeGraph(.depthToSpace, input: [1, 4, 1, 1], ["blocksize": .int(2), "mode": .string("CRD")])
        #expect(try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": x])["y"]).values == [1, 2, 3, 4])
    }

    @Test(arguments: [[2, 5, 7, 9], [1, 3, 4], [2, 17, 1, 1], [1, 2, 40, 33]])
    func instanceNormalization(shape: [Int]) throws {
        let c = shape[1]
        let (graph, weights) = oneNodeGraph(.instanceNormalization, input: shape, ["epsilon": .float(1e-3)],
                                            parameters: [("scale", randomTensor([c], seed: 70, low: 0.5, high: 1.5)), ("bias", randomTensor([c], seed: 71))])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 72, low: -2, high: 4)])
    }

    /// Groups of 1, several and every channel (InstanceNormalization's case), odd planes, rank 3 and 5.
    @Test(arguments: [([2, 6, 7, 9], 3), ([1, 8, 5], 2), ([2, 4, 3, 3], 4), ([1, 6, 2, 3, 5], 1), ([1, 32, 17, 17], 8)])
    func groupNormalization(shape: [Int], groups: Int) throws {
        let c = shape[1]
        let (graph, weights) = oneNodeGraph(.groupNormalization, input: shape, ["num_groups": .int(groups), "epsilon": .float(1e-4)],
                                            parameters: [("scale", randomTensor([c], seed: 73, low: 0.5, high: 1.5)), ("bias", randomTensor([c], seed: 74))])
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 75, low: -2, high: 4)])
    }

    /// Tile on ranks 1 to 4, zero repeats, rows longer than a vector.
    @Test func tile() throws {
        try check(.tile, [5], ["repeats": .ints([3])], seed: 93)
        try check(.tile, [2, 3], ["repeats": .ints([2, 1])], seed: 94)
        try check(.tile, [1, 3, 2, 37], ["repeats": .ints([2, 1, 3, 2])], seed: 95)
        try check(.tile, [2, 3, 4], ["repeats": .ints([1, 0, 2])], seed: 96)
    }

    /// ArgMax and ArgMin over every axis of odd shapes, negative axes, both keepdims, first or last index,
    /// with ties (values rounded to a few levels) so the two index choices differ.
    @Test(arguments: [OpKind.argMax, .argMin])
    func indexReductions(op: OpKind) throws {
        for (shape, axis) in [([7], 0), ([3, 5], 1), ([3, 5], -2), ([2, 19, 3], 1), ([2, 3, 4, 37], -1), ([2, 1, 3, 1, 2, 3], 4)] {
            for keepdims in [0, 1] {
                for last in [0, 1] {
                    let (graph, weights) = oneNodeGraph(op, input: shape, ["axis": .int(axis), "keepdims": .int(keepdims), "select_last_index": .int(last)])
                    var x = randomTensor(shape, seed: 97, low: -3, high: 3)
                    x = Tensor(shape: shape, values: x.values.map { $0.rounded() })
                    try expectMatchesReference(graph, weights, inputs: ["x": x])
                }
            }
        }
    }

    /// Strides 1 to 3, padding, output padding, dilation, groups, bias or none, odd sizes.
    @Test(arguments: [([1, 4, 5, 6], [4, 3, 3, 3], [2, 2], [1, 1, 1, 1], [1, 1], [1, 1], 1, true),
                      ([2, 3, 7, 4], [3, 5, 2, 2], [2, 2], [0, 0, 0, 0], [0, 0], [1, 1], 1, false),
                      ([1, 6, 4, 9], [6, 2, 4, 3], [3, 2], [1, 0, 2, 1], [2, 1], [1, 1], 3, true),
                      ([1, 2, 5, 5], [2, 4, 3, 3], [1, 1], [2, 2, 2, 2], [0, 0], [2, 2], 1, true),
                      ([1, 8, 3, 20], [8, 1, 4, 4], [2, 2], [1, 1, 1, 1], [0, 0], [1, 1], 8, true)] as [([Int], [Int], [Int], [Int], [Int], [Int], Int, Bool)])
    func convTranspose(shape: [Int], weight: [Int], strides: [Int], pads: [Int], outputPadding: [Int], dilations: [Int], group: Int, bias: Bool) throws {
        var parameters = [("w", randomTensor(weight, seed: 80))]
        if bias { parameters.append(("b", randomTensor([weight[1] * group], seed: 81))) }
        let attributes: Attributes = ["strides": .ints(strides), "pads": .ints(pads), "output_padding": .ints(outputPadding),
                                      "dilations": .ints(dilations), "group": .int(group)]
        let (graph, weights) = oneNodeGraph(.convTranspose, input: shape, attributes, parameters: parameters)
        try expectMatchesReference(graph, weights, inputs: ["x": randomTensor(shape, seed: 82)])
    }

    /// One index (the axis goes), a list with repeats and negatives, a 2-D index tensor, rows longer than a vector.
    @Test func gatherAtConstantIndices() throws {
        try check(.gather, [2, 5, 7], ["indices": .ints([3]), "indices_shape": .ints([]), "axis": .int(1)], seed: 90)
        try check(.gather, [4, 3, 37], ["indices": .ints([2, -1, 0, 2]), "indices_shape": .ints([4])], seed: 91)
        try check(.gather, [2, 6, 3], ["indices": .ints([5, 0, 1, 1, 4, 3]), "indices_shape": .ints([2, 3]), "axis": .int(-2)], seed: 92)
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let (graph, weights) = oneNodeGraph(.gather, input: [2, 3], ["indices": .ints([-1, 0]), "indices_shape": .ints([2]), "axis": .int(1)])
        #expect(try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": x])["y"]).values == [3, 1, 6, 4])
    }

    /// The reference's definitions on inputs whose answers are known by hand.
    @Test func referenceValuesByHand() throws {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        func run(_ op: OpKind, _ attributes: Attributes) throws -> [Float] {
            let (graph, weights) = oneNodeGraph(op, input: [2, 3], attributes)
            return try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": x])["y"]).values
        }
        #expect(try run(.transpose, [:]) == [1, 4, 2, 5, 3, 6])
        #expect(try run(.slice, ["starts": .ints([-1, 2]), "ends": .ints([-3, -4]), "axes": .ints([0, 1]), "steps": .ints([-1, -2])]) == [6, 4, 3, 1])
        #expect(try run(.reduceMean, ["axes": .ints([1])]) == [2, 5])
        #expect(try run(.reduceSum, ["axes": .ints([0]), "keepdims": .int(0)]) == [5, 7, 9])
        #expect(try run(.reduceMax, [:]) == [6])
        #expect(try run(.reduceMin, ["axes": .ints([-1])]) == [1, 4])
        #expect(try run(.reduceL2, ["axes": .ints([0])]).map { ($0 * 1000).rounded() } == [4123, 5385, 6708])
        #expect(try run(.tile, ["repeats": .ints([1, 2])]) == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(try run(.argMax, ["axis": .int(1)]) == [2, 2])
        #expect(try run(.argMin, ["axis": .int(0), "keepdims": .int(0)]) == [0, 0, 0])
        let ties = Tensor(shape: [1, 5], values: [1, .nan, 3, 3, .nan])
        func indices(_ op: OpKind, _ last: Int) throws -> [Float] {
            let (graph, weights) = oneNodeGraph(op, input: [1, 5], ["axis": .int(1), "select_last_index": .int(last)])
            return try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": ties])["y"]).values
        }
        #expect(try indices(.argMax, 0) == [1] && indices(.argMax, 1) == [4], "NaN is the largest, as in NumPy")
        let group = Tensor(shape: [1, 4, 1, 1], values: [1, 3, 10, 20])
        let (gn, gnWeights) = oneNodeGraph(.groupNormalization, input: [1, 4, 1, 1], ["num_groups": .int(2), "epsilon": .float(0)],
                                           parameters: [("s", Tensor(shape: [4], values: [1, 1, 1, 2])), ("b", Tensor(shape: [4], values: [0, 0, 0, 1]))])
        #expect(try #require(try ReferenceInterpreter().run(gn, weights: gnWeights, inputs: ["x": group])["y"]).values == [-1, 1, -1, 3])
        let (graph, weights) = oneNodeGraph(.layerNormalization, input: [2, 3], ["epsilon": .float(0)], parameters: [("s", Tensor(shape: [3], values: [1, 1, 2]))])
        let normalized = try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["x": x])["y"]).values
        let r = Float((1.5 as Double).squareRoot())
        #expect(normalized.map { ($0 * 1e4).rounded() } == [-r, 0, 2 * r, -r, 0, 2 * r].map { ($0 * 1e4).rounded() })
        // Bilinear 2x with half-pixel centres (PyTorch's align_corners=False): [1, 2] -> [1, 1.25, 1.75, 2].
        let axis = ResizeAxis(input: 2, output: 4, scale: 2, linear: true, transformation: "half_pixel", nearestMode: "floor")
        #expect(axis.lower == [0, 0, 0, 1] && axis.weight == [0, 0.25, 0.75, 0])
        let nearest = ResizeAxis(input: 3, output: 6, scale: 2, linear: false, transformation: "asymmetric", nearestMode: "floor")
        #expect(nearest.lower == [0, 0, 1, 1, 2, 2])
        // A 2x2 transposed conv at stride 2 with ones copies each pixel into its 2x2 block.
        let (up, upWeights) = oneNodeGraph(.convTranspose, input: [1, 1, 1, 2], ["strides": .ints([2, 2])],
                                           parameters: [("w", Tensor(shape: [1, 1, 2, 2], values: [1, 1, 1, 1]))])
        let upsampled = try #require(try ReferenceInterpreter().run(up, weights: upWeights, inputs: ["x": Tensor(shape: [1, 1, 1, 2], values: [3, 5])])["y"])
        #expect(upsampled.shape == [1, 1, 2, 4] && upsampled.values == [3, 3, 5, 5, 3, 3, 5, 5])
    }
}
