import LowpassIR
import LowpassTensor

/// A tensor that lives in the arena while the model runs.
struct PlannedBuffer {
    var shape: [Int]
    var elements: Int { shape.reduce(1, *) }
}

/// A graph lowered to kernels over buffers, with every shape a constant.
struct LoweredModel {
    /// The parameters `.weight` operands name, the graph's inline constants included.
    var weights: Weights
    var kernels: [any Kernel]
    var buffers: [PlannedBuffer]
    var constants: [Tensor]
    var inputs: [(name: String, buffer: Int, shape: [Int])]
    var outputs: [(name: String, buffer: Int, shape: [Int])]
}

/// Turns a verified graph with concrete input shapes into kernels: one kernel per group of the fusion
/// plan (FusionPlan.swift), chosen and built here, over arena buffers and compile-time constants.
struct Lowering {
    let graph: Graph
    let weights: Weights
    let target: Target
    let winograd: Bool
    let precision: Precision
    /// The graph's parameters (its inline constants among them): what an Add of two activations is not.
    private let parameters: Set<String>

    private var types: [String: [Int]] = [:]
    private var model: LoweredModel
    private var bufferOf: [String: Int] = [:]
    /// The pair planes made of a value with a border of zeros (`PairPlaneKernel`, or without a border
    /// its conv's epilogue), which every bf16 conv reading it so shares.
    private var pairPlanesOf: [PairPlanes: Int] = [:]
    private struct PairPlanes: Hashable {
        var value: String
        var padding = [0, 0, 0, 0]
    }
    /// For each value bf16 convs read as pair planes: the border those readers need, and whether anything
    /// else reads it (as floats, or as planes with another border).
    private var pairReaders: [String: PairReaders] = [:]
    private struct PairReaders {
        var padding: [Int]
        var othersRead: Bool
    }

    init(graph: Graph, weights: Weights, target: Target, winograd: Bool, precision: Precision) {
        self.graph = graph
        self.target = target
        self.winograd = winograd
        self.precision = precision
        var weights = weights
        weights.addInlineData(of: graph)
        self.weights = weights
        parameters = Set(graph.parameters.map(\.name))
        model = LoweredModel(weights: weights, kernels: [], buffers: [], constants: [], inputs: [], outputs: [])
    }

    static func lower(_ graph: Graph, weights: Weights, inputShapes: [String: [Int]], target: Target,
                      winograd: Bool = true, precision: Precision = .f32) throws(Diagnostics) -> LoweredModel {
        var lowering = Lowering(graph: graph, weights: weights, target: target, winograd: winograd, precision: precision)
        return try lowering.run(inputShapes)
    }

    private mutating func run(_ inputShapes: [String: [Int]]) throws(Diagnostics) -> LoweredModel {
        let binding = try graph.bindInputs(shapes: inputShapes)
        let verified = try graph.verify(parameterDataShapes: weights.tensors.mapValues(\.shape), binding: binding)
        for (name, type) in verified.types {
            guard let shape = type.fixedShape else {
                throw Diagnostics([Diagnostic(.unresolvedShape, "value '\(name)' has no concrete shape (\(type))")])
            }
            types[name] = shape
        }
        for input in graph.inputs {
            let shape = types[input.name] ?? []
            let buffer = newBuffer(shape)
            bufferOf[input.name] = buffer
            model.inputs.append((input.name, buffer, shape))
        }
        let groups = FusionPlan(graph: graph, order: verified.order, types: types, weights: weights).groups
        if precision == .bf16 { findPairReaders(groups: Array(groups.values)) }
        for index in verified.order {
            guard let group = groups[index] else { continue }
            do throws(NodeError) {
                try emit(group)
            } catch {
                throw Diagnostics([Diagnostic(error.id, error.message, at: .node(graph.nodes[group[group.count - 1]].name))])
            }
        }
        for name in graph.outputs {
            do throws(NodeError) {
                let buffer = if let existing = bufferOf[name] { existing } else { try copyIntoArena(name) }
                model.outputs.append((name, buffer, types[name] ?? []))
            } catch {
                throw Diagnostics([Diagnostic(error.id, error.message)])
            }
        }
        return model
    }

    // MARK: Buffers and operands

    private mutating func newBuffer(_ shape: [Int]) -> Int {
        model.buffers.append(PlannedBuffer(shape: shape))
        return model.buffers.count - 1
    }

    private mutating func constant(_ tensor: Tensor) -> Operand {
        model.constants.append(tensor)
        return .constant(model.constants.count - 1)
    }

    private func operand(_ value: String) throws(NodeError) -> Operand {
        if weights.tensors[value] != nil { return .weight(value) }
        return .buffer(try buffer(of: value))
    }

    /// The buffer holding `value`. Verified graphs define every value before its use, and every node has
    /// one output, which is materialized unless fused away inside its group.
    private func buffer(of value: String) throws(NodeError) -> Int {
        guard let buffer = bufferOf[value] else {
            throw NodeError(.jitInternal, "value '\(value)' is read before any kernel computes it")
        }
        return buffer
    }

    private func shape(_ value: String) -> [Int] { types[value] ?? weights.tensors[value]?.shape ?? [] }

    /// A parameter's data; the kernels that fold or repack an operand at compile time need it constant.
    private func tensor(_ value: String) throws(NodeError) -> Tensor {
        guard let tensor = weights.tensors[value] else {
            throw NodeError(.jitUnsupported, "the JIT needs '\(value)' to be a parameter: it is folded into the kernel at compile time")
        }
        return tensor
    }

    /// A graph output (or alias) that names a parameter gets an arena copy; returns its buffer.
    private mutating func copyIntoArena(_ value: String) throws(NodeError) -> Int {
        let copy = newBuffer(shape(value))
        bufferOf[value] = copy
        if shape(value).contains(0) { return copy }
        model.kernels.append(ElementwiseKernel(nodes: [value], arguments: [.buffer(copy), try operand(value)], output: copy,
                                               shape: shape(value), operandStrides: [broadcastStrides(shape(value), to: shape(value))],
                                               expression: .input(0), opNames: [], lanes: target.lanes))
        return copy
    }

    // MARK: Kernels

    private mutating func emit(_ group: [Int]) throws(NodeError) {
        let nodes = group.map { graph.nodes[$0] }
        let first = nodes[0], last = nodes[nodes.count - 1]
        let names = nodes.map(\.name)
        if [.identity, .dropout, .flatten, .reshape, .squeeze, .unsqueeze].contains(first.op) {
            // Renamings: the output is the input's buffer.
            let source = first.inputs[0]
            bufferOf[first.outputs[0]] = weights.tensors[source] != nil ? try copyIntoArena(source) : try buffer(of: source)
            return
        }
        let output = newBuffer(shape(last.outputs[0]))
        // An empty result needs no kernel. A result computed from an empty operand is refused: the
        // kernels size their work by their operands (a batch of 0, a conv of 0 filters trapped).
        if shape(last.outputs[0]).contains(0) {
            bufferOf[last.outputs[0]] = output
            return
        }
        if let empty = nodes.flatMap(\.inputs).first(where: { !$0.isEmpty && types[$0]?.contains(0) == true }) {
            throw NodeError(.jitUnsupported, "input '\(empty)' is empty (shape \(shape(empty))) but the result is not; the JIT does not compute that (--engine reference does)")
        }
        var kernel: any Kernel
        switch first.op {
        case .conv: kernel = try conv(nodes, output)
        case .maxPool where nodes.count == 2: kernel = try blur(nodes[1], maxPool: first, output)
        case .maxPool, .averagePool: kernel = try pool(first, output)
        case .blurPool: kernel = try blur(first, maxPool: nil, output)
        case .globalAveragePool:
            let s = shape(first.inputs[0])
            kernel = GlobalAveragePoolKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                             planes: s[0] * s[1], area: s[2...].reduce(1, *), roundsInput: precision == .bf16, lanes: target.lanes)
        case .adaptiveAveragePool:
            let s = shape(first.inputs[0]), o = shape(first.outputs[0])
            kernel = AdaptiveAveragePoolKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                               planes: s[0] * s[1], height: s[2], width: s[3], outHeight: o[2], outWidth: o[3],
                                               roundsInput: precision == .bf16)
        case .gemm: kernel = try gemm(first, output)
        case .matMul: kernel = try matMul(first, output)
        case .concat: kernel = try concat(first, output)
        case .pad: kernel = try pad(first, output)
        case .softmax, .logSoftmax:
            let s = shape(first.inputs[0])
            let axis = try first.axis(rank: s.count)
            kernel = SoftmaxKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                   outer: s[..<axis].reduce(1, *), size: s[axis], inner: s[(axis + 1)...].reduce(1, *), logarithm: first.op == .logSoftmax)
        case .batchNormalization, .identity, .dropout, .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .leakyRelu, .elu, .selu,
             .celu, .gelu, .mish, .softplus, .tanh, .neg, .abs, .reciprocal, .sqrt, .exp, .log, .erf, .floor, .ceil, .sin, .cos, .add, .sub, .mul, .div, .pow,
             .prelu, .max, .min, .sum, .mean:
            kernel = try elementwise(nodes, output)
        case .transpose, .slice, .expand, .tile, .depthToSpace, .spaceToDepth:
            kernel = StridedCopyKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                       view: try first.stridedView(input: shape(first.inputs[0])), opName: first.op.rawValue.lowercased(), lanes: target.lanes)
        case .layerNormalization: kernel = try layerNorm(first, output)
        case .gather:
            let s = shape(first.inputs[0])
            let (axis, indices, _) = try first.gatherIndices(rank: s.count, axisSize: s[try first.axis(rank: s.count)])
            kernel = GatherKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                  outer: s[..<axis].reduce(1, *), axisSize: s[axis], inner: s[(axis + 1)...].reduce(1, *), indices: indices, lanes: target.lanes)
        case .convTranspose:
            let x = shape(first.inputs[0]), w = try tensor(first.inputs[1])
            let g = try first.transposedConvGeometry(input: x, weightShape: w.shape)
            let bias = first.inputs.count > 2 ? try tensor(first.inputs[2]) : Tensor(zeros: [g.filters])
            kernel = ConvTransposeKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0]), try operand(first.inputs[1]), constant(bias)],
                                         output: output, batch: x[0], channels: x[1], height: x[2], width: x[3], geometry: g, lanes: target.lanes)
        case .instanceNormalization, .groupNormalization:
            let (rows, length, affine) = try first.normalizationRows(shape: shape(first.inputs[0]))
            let scaleAndShift = try [1, 2].map { (i) throws(NodeError) -> Operand in
                guard weights.tensors[first.inputs[i]] != nil else {
                    throw NodeError(.jitUnsupported, "\(first.op.rawValue)'s scale and B must be constants for the JIT (--engine reference computes it)")
                }
                return try operand(first.inputs[i])
            }
            kernel = LayerNormKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])] + scaleAndShift, output: output,
                                     rows: rows, length: length, epsilon: try first.float("epsilon"), affine: affine, lanes: target.lanes)
        case .resize:
            let x = shape(first.inputs[0]), y = shape(first.outputs[0])
            let (rows, columns, linear) = try first.resizeAxes(input: x)
            kernel = ResizeKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0]), constant(ResizeKernel.tables(rows: rows, columns: columns))],
                                  output: output, planes: x[0] * x[1], height: x[2], width: x[3], outHeight: y[2], outWidth: y[3], linear: linear, lanes: target.lanes)
        case .reduceMean, .reduceSum, .reduceMax, .reduceMin, .reduceL2:
            let s = shape(first.inputs[0])
            kernel = ReduceKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                  reduction: try first.reduction(rank: s.count), inputShape: s, lanes: target.lanes)
        case .argMax, .argMin:
            let s = shape(first.inputs[0]), r = try first.indexReduction(rank: s.count)
            kernel = IndexReduceKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output, reduction: r,
                                       outer: s[..<r.axis].reduce(1, *), size: s[r.axis], inner: s[(r.axis + 1)...].reduce(1, *), lanes: target.lanes)
        case .polyphaseIndex, .polyphaseSelect:
            let s = shape(first.inputs[0])
            let grid = try first.polyphaseGrid(height: s[2], width: s[3])
            if first.op == .polyphaseIndex {
                kernel = PolyphaseIndexKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0])], output: output,
                                              batch: s[0], channels: s[1], grid: grid, norm: try first.polyphaseNorm(), lanes: target.lanes)
            } else {
                kernel = PolyphaseSelectKernel(nodes: names, arguments: [.buffer(output), try operand(first.inputs[0]), try operand(first.inputs[1])],
                                               output: output, batch: s[0], channels: s[1], grid: grid, lanes: target.lanes)
            }
        case .flatten, .reshape, .squeeze, .unsqueeze:
            throw NodeError(.jitInternal, "\(first.op.rawValue) reached kernel selection; it is a renaming")
        }
        let integers = kernel.runTimeIntegers
        if !integers.isEmpty {
            guard integers.allSatisfy({ Int32(exactly: $0) != nil }) else {
                throw NodeError(.jitLimit, "the JIT handles dimensions under 2^31; this node's are \(integers)")
            }
            // As int32 bit patterns in a float constant, so they travel wherever constants do (AOT libraries too).
            kernel.passRunTimeIntegers(constant(Tensor(shape: [integers.count], values: integers.map { Float(bitPattern: UInt32(bitPattern: Int32($0))) })))
        }
        model.kernels.append(kernel)
        // A conv whose readers take its output as pair planes writes only those (`pairsOutput`).
        bufferOf[last.outputs[0]] = kernel.output
    }

    private func batchNormAffine(_ node: Node) throws(NodeError) -> BatchNormAffine {
        try BatchNormAffine(node) { i throws(NodeError) in try tensor(node.inputs[i]) }
    }

    private mutating func conv(_ nodes: [Node], _ output: Int) throws(NodeError) -> any Kernel {
        let node = nodes[0]
        let x = shape(node.inputs[0]), w = try tensor(node.inputs[1]), y = shape(node.outputs[0])
        let filters = w.shape[0]
        var scale = [Double](repeating: 1, count: filters)
        let biasTensor = node.inputs.count > 2 ? try tensor(node.inputs[2]) : nil
        var shift = (0..<filters).map { i in biasTensor.map { Double($0[i]) } ?? 0 }
        var residual: Operand?, residualValue: String?
        var activation: Activation?
        var chainValue = node.outputs[0]
        var rest = nodes.dropFirst()
        if let next = rest.first, next.op == .batchNormalization {
            let bn = try batchNormAffine(next)
            scale = bn.scale
            shift = (0..<filters).map { shift[$0] * bn.scale[$0] + bn.offset[$0] }
            chainValue = next.outputs[0]
            rest = rest.dropFirst()
        }
        // A residual adds another tensor; an activation's Add (HardSwish's x + 3) adds a constant or x.
        if let next = rest.first, next.op == .add, let other = next.inputs.first(where: { $0 != chainValue && weights.tensors[$0] == nil }) {
            residual = try operand(other)
            residualValue = other
            chainValue = next.outputs[0]
            rest = rest.dropFirst()
        }
        if !rest.isEmpty {
            activation = try Activation(Array(rest), of: chainValue, roundsOperands: { roundsOperands(of: $0) }) { name in weights.tensors[name].map { Double($0[0]) } }
        }
        let geometry = try node.convGeometry(weightShape: w.shape.map(Dim.fixed))
        try checkPlane(x, y)
        let groups = try node.int("group")
        // bf16 rounds the conv's own weights (`Precision`), so BatchNorm's scale goes to the epilogue.
        let scalesSums = precision == .bf16 && scale.contains { $0 != 1 }
        let bias = constant(Tensor(shape: [filters * (scalesSums ? 2 : 1)], values: (shift + (scalesSums ? scale : [])).map(Float.init)))
        // Winograd's transformed weights and inputs are no longer the conv's, so bf16 has none.
        if winograd && precision == .f32,
           let layout = WinogradKernel.layout(geometry, groups: groups, channels: x[1], filters: filters, outHeight: y[2], outWidth: y[3], lanes: target.lanes) {
            var kernel = WinogradKernel(nodes: nodes.map(\.name), input: try operand(node.inputs[0]), output: output, weights: .constant(0),
                                        bias: bias, residual: residual, batch: x[0], channels: x[1], filters: filters, height: x[2], width: x[3],
                                        outHeight: y[2], outWidth: y[3], pads: geometry.pads, activation: activation, layout: layout, target: target)
            kernel.weights = constant(kernel.transformWeights(w, scale: scale))
            return kernel
        }
        // 1x1 convs gather their patch faster than a whole copy of their input is made (docs/performance.md).
        if precision == .bf16 && target.hasAMX && groups == 1 && geometry.strides == [1, 1] && geometry.dilations == [1, 1]
            && filters >= AMXConvKernel.block && x[1] >= AMXConvKernel.block && geometry.kernel != [1, 1] {
            // The input once in channel blocks, which the conv's tiles read in place.
            var blocks = ChannelBlockKernel(nodes: [node.name], arguments: [], output: 0, batch: x[0], channels: x[1], height: x[2], width: x[3],
                                            pads: geometry.pads, kernelWidth: geometry.kernel[1], lanes: target.lanes)
            blocks.output = newBuffer([x[0], blocks.imageSize])
            blocks.arguments = [.buffer(blocks.output), try operand(node.inputs[0])]
            model.kernels.append(blocks)
            var kernel = AMXConvKernel(nodes: nodes.map(\.name), input: blocks, output: output, bias: bias, residual: residual, filters: filters,
                                       outHeight: y[2], outWidth: y[3], kernelHeight: geometry.kernel[0], activation: activation, scalesSums: scalesSums)
            kernel.weights = constant(kernel.pack(w, scale: scale))
            return kernel
        }
        if FilterLaneConvKernel.applies(precision: precision, target: target, groups: groups, geometry: geometry, filters: filters) {
            let planes = try pairPlanes(of: node.inputs[0], for: node.name, padding: geometry.pads)
            var kernel = FilterLaneConvKernel(nodes: nodes.map(\.name), planes: planes, output: output, bias: bias, residual: residual,
                                              filters: filters, outHeight: y[2], outWidth: y[3], geometry: geometry, activation: activation,
                                              scalesSums: scalesSums, target: target)
            writePairs(of: nodes[nodes.count - 1].outputs[0], from: &kernel)
            kernel.weights = constant(kernel.pack(w, scale: scale))
            return kernel
        }
        let window = WindowAddressing(height: x[2], width: x[3], outHeight: y[2], outWidth: y[3], geometry: geometry)
        var kernel = ConvKernel(nodes: nodes.map(\.name), input: try operand(node.inputs[0]), output: output, weights: .constant(0),
                                bias: bias, residual: residual, batch: x[0], channels: x[1], filters: filters,
                                groups: groups, window: window, activation: activation, target: target,
                                precision: precision, scalesSums: scalesSums)
        // A bf16 conv reads its input rounded once, as pair planes (docs/performance.md): under
        // several taps its patch is then a copy; a 1x1 conv at stride 1 without padding reads them as
        // its patch where the producer wrote them (made by a pass of their own, they cost as much as
        // the patch saves).
        if kernel.takesPairPlanes(madeByProducer: pairPlanesOf[PairPlanes(value: node.inputs[0])] != nil) {
            kernel.arguments[ConvSlot.input.rawValue] = .buffer(try pairPlanes(of: node.inputs[0], for: node.name).output)
            kernel.readsPairPlanes = true
        }
        // bf16 reads a residual rounded: from the pair planes without a border where they were made.
        if precision == .bf16, let value = residualValue, let planes = pairPlanesOf[PairPlanes(value: value)] {
            kernel.arguments[ConvSlot.residual.rawValue] = .buffer(planes)
            kernel.residualFromPairs = true
        }
        if kernel.writesPairs { writePairs(of: nodes[nodes.count - 1].outputs[0], from: &kernel) }
        if kernel.strategy == .wholeMap {
            let patch = newBuffer([x[0], groups * kernel.wholeMapPatch])
            model.kernels.append(WholeMapPatchKernel(nodes: [node.name], input: try operand(node.inputs[0]), output: patch, conv: kernel))
            kernel.arguments[ConvSlot.input.rawValue] = .buffer(patch)
        }
        kernel.weights = constant(kernel.pack(w, scale: scale))
        return kernel
    }

    /// Where bf16 convs read `value` as pair planes (`pairReaders`), has the conv computing it write them
    /// in its epilogue, with the readers' border: only them, or beside the floats others read.
    private mutating func writePairs<K: PairsWritingKernel>(of value: String, from kernel: inout K) {
        guard let readers = pairReaders[value] else { return }
        kernel.pairsOutput = readers.othersRead ? .alsoFloats : .only
        kernel.pairsPadding = readers.padding
        let layout = kernel.outputPlanes
        let pairs = newBuffer([layout.batch, layout.imageSize])
        if readers.othersRead {
            kernel.arguments.insert(.buffer(pairs), at: kernel.pairsArgument)
        } else {
            (kernel.arguments[ConvSlot.output.rawValue], kernel.output) = (.buffer(pairs), pairs)
        }
        pairPlanesOf[PairPlanes(value: value, padding: readers.padding)] = pairs
    }

    /// The conv kernel `node` lowers to, as far as its schedule goes (no operands, epilogue or weights);
    /// nil for a conv that gets no kernel (an empty result) or none of these (an empty operand is refused).
    private func convSchedule(_ node: Node) throws(NodeError) -> ConvKernel? {
        let x = shape(node.inputs[0]), w = try tensor(node.inputs[1]), y = shape(node.outputs[0])
        guard [x, w.shape, y].allSatisfy({ $0.count == 4 && !$0.contains(0) }) else { return nil }
        let geometry = try node.convGeometry(weightShape: w.shape.map(Dim.fixed))
        return ConvKernel(nodes: [], input: .constant(0), output: 0, weights: .constant(0), bias: .constant(0), residual: nil,
                          batch: x[0], channels: x[1], filters: w.shape[0], groups: try node.int("group"),
                          window: WindowAddressing(height: x[2], width: x[3], outHeight: y[2], outWidth: y[3], geometry: geometry),
                          activation: nil, target: target, precision: precision)
    }

    /// Whether `node` lowers to a `FilterLaneConvKernel`, which reads pair planes with a border.
    private func runsByFilterLanes(_ node: Node) throws(NodeError) -> Bool {
        let w = try tensor(node.inputs[1])
        return FilterLaneConvKernel.applies(precision: precision, target: target, groups: try node.int("group"),
                                            geometry: try node.convGeometry(weightShape: w.shape.map(Dim.fixed)), filters: w.shape[0])
    }

    /// Finds the values bf16 convs will read as pair planes (`pairReaders`), so that the conv computing
    /// one writes them in its epilogue: convs (each the head of its fusion group) reading it as their
    /// input, whose lowering takes the pair planes, and 1x1 convs adding it as their residual (without
    /// a border, `ConvKernel.residualFromPairs`), all with one border; blurs and max-blurs read them
    /// with any border (none if only they read them). Every other read needs the floats too; a graph
    /// output always does.
    private mutating func findPairReaders(groups: [[Int]]) {
        var paddings: [String: [Int]] = [:], others = Set(graph.outputs), blurred = Set<String>()
        for group in groups {
            let inside = Set(group.flatMap { graph.nodes[$0].outputs })
            let head = graph.nodes[group[0]]
            let isPointwiseConv = head.op == .conv && weights.tensors[head.inputs.count > 1 ? head.inputs[1] : ""]?.shape.suffix(2) == [1, 1]
            for (position, index) in group.enumerated() {
                let node = graph.nodes[index]
                for (slot, value) in node.inputs.enumerated() where !inside.contains(value) && weights.tensors[value] == nil && !value.isEmpty {
                    let readsInput = position == 0 && slot == 0 && node.op == .conv && node.inputs.dropFirst().allSatisfy { $0 != value }
                    let readsResidual = position > 0 && node.op == .add && isPointwiseConv && head.inputs[0] != value
                    let readsAsBlur = position == 0 && slot == 0 && (node.op == .blurPool || (node.op == .maxPool && group.count == 2))
                    if readsAsBlur {
                        blurred.insert(value)
                    } else if readsResidual, paddings[value, default: [0, 0, 0, 0]] == [0, 0, 0, 0] {
                        paddings[value] = [0, 0, 0, 0]
                    } else if readsInput, let padding = (try? pairPadding(node)) ?? nil, paddings[value, default: padding] == padding {
                        paddings[value] = padding
                    } else {
                        others.insert(value)
                    }
                }
            }
        }
        for value in blurred where paddings[value] == nil { paddings[value] = [0, 0, 0, 0] }
        for (value, padding) in paddings { pairReaders[value] = PairReaders(padding: padding, othersRead: others.contains(value)) }
    }

    /// The border of the pair planes conv `node` reads its input as, if it reads them: its own padding
    /// with lanes over filters, none for a pixel-lane conv that takes them.
    private func pairPadding(_ node: Node) throws(NodeError) -> [Int]? {
        guard let schedule = try convSchedule(node) else { return nil }
        if try runsByFilterLanes(node) { return schedule.window.geometry.pads }
        return schedule.takesPairPlanes(madeByProducer: true) ? [0, 0, 0, 0] : nil
    }

    /// `value` as bfloat16 pair planes with `padding`, made by a `PairPlaneKernel` the first time a conv
    /// (`node`) asks, shared by every later one; its `output` is their buffer.
    private mutating func pairPlanes(of value: String, for node: String, padding: [Int] = [0, 0, 0, 0]) throws(NodeError) -> PairPlaneKernel {
        let x = shape(value)
        var planes = PairPlaneKernel(nodes: [node], batch: x[0], channels: x[1], height: x[2], width: x[3], padding: padding)
        if let made = pairPlanesOf[PairPlanes(value: value, padding: padding)] {
            planes.output = made
            return planes
        }
        planes.output = newBuffer([x[0], planes.imageSize])
        planes.arguments = [.buffer(planes.output), try operand(value)]
        model.kernels.append(planes)
        pairPlanesOf[PairPlanes(value: value, padding: padding)] = planes.output
        return planes
    }

    /// Vector lane indices are 32-bit: refuse planes that do not fit.
    private func checkPlane(_ shapes: [Int]...) throws(NodeError) {
        for s in shapes where s.count == 4 && s[2] * s[3] >= Int(Int32.max) - 4096 {
            throw NodeError(.jitLimit, "the JIT handles maps of fewer than 2^31 pixels; this one is \(s[2])x\(s[3])")
        }
    }

    private mutating func blur(_ node: Node, maxPool: Node?, _ output: Int) throws(NodeError) -> any Kernel {
        let spec = try node.blurPoolSpec()
        let input = maxPool?.inputs[0] ?? node.inputs[0]
        let x = shape(input), source = shape(node.inputs[0]), y = shape(node.outputs[0])
        try checkPlane(x, y)
        let pool = try maxPool.map { (m: Node) throws(NodeError) in
            let g = try m.poolGeometry()
            return BlurKernel.MaxPool(kernel: g.kernel, pads: g.pads)
        }
        var kernel = BlurKernel(nodes: [maxPool?.name, node.name].compactMap { $0 }, arguments: [.buffer(output), try operand(input)], output: output,
                                images: x[0], planes: x[0] * x[1], height: x[2], width: x[3], sourceHeight: source[2], sourceWidth: source[3],
                                outHeight: y[2], outWidth: y[3], spec: spec, maxPool: pool, roundsInput: precision == .bf16, lanes: target.lanes)
        // bf16 reads the pair planes the producer wrote, whatever their border.
        if let padding = pairReaders[input]?.padding, let planes = pairPlanesOf[PairPlanes(value: input, padding: padding)] {
            kernel.arguments[1] = .buffer(planes)
            kernel.pairs = PairPlaneKernel(batch: x[0], channels: x[1], height: x[2], width: x[3], padding: padding)
        }
        if kernel.writesPairs { writePairs(of: node.outputs[0], from: &kernel) }
        return kernel
    }

    private mutating func pool(_ node: Node, _ output: Int) throws(NodeError) -> any Kernel {
        let x = shape(node.inputs[0]), y = shape(node.outputs[0])
        try checkPlane(x, y)
        let window = WindowAddressing(height: x[2], width: x[3], outHeight: y[2], outWidth: y[3], geometry: try node.poolGeometry())
        let includePad = node.op == .averagePool ? try node.int("count_include_pad") != 0 : false
        return PoolKernel(nodes: [node.name], arguments: [.buffer(output), try operand(node.inputs[0])], output: output,
                          images: x[0], planes: x[0] * x[1], window: window, isMax: node.op == .maxPool, countIncludePad: includePad,
                          roundsInput: precision == .bf16, lanes: target.lanes)
    }

    private mutating func gemm(_ node: Node, _ output: Int) throws(NodeError) -> any Kernel {
        let (transA, transB) = (try node.int("transA") != 0, try node.int("transB") != 0)
        let a = shape(node.inputs[0]), y = shape(node.outputs[0])
        let (m, n) = (y[0], y[1])
        let k = transA ? a[0] : a[1]
        let constantB = weights.tensors[node.inputs[1]]
        // A constant B is laid out in column tiles below; its operand is a placeholder until then.
        let bOperand = constantB == nil ? try operand(node.inputs[1]) : .constant(0)
        let bStrides = transB ? MatrixStrides(1, k) : MatrixStrides(n, 1)
        var arguments = [.buffer(output), try operand(node.inputs[0]), bOperand]
        var cStrides: MatrixStrides?
        if node.inputs.count > 2 {
            arguments.append(try operand(node.inputs[2]))
            let s = broadcastStrides(shape(node.inputs[2]), to: [m, n])
            cStrides = MatrixStrides(s[0], s[1])
        }
        var kernel = MatrixKernel(nodes: [node.name], arguments: arguments, output: output, batchShape: [], aBatchStrides: [],
                                  bBatchStrides: [], m: m, n: n, k: k, aStrides: transA ? MatrixStrides(1, m) : MatrixStrides(k, 1), bStrides: bStrides,
                                  cStrides: cStrides, alpha: try node.float("alpha"), beta: try node.float("beta"), lanes: target.lanes)
        if let constantB {
            kernel.arguments[2] = constant(kernel.packColumnTiles(constantB, transposed: transB))
            kernel.bInColumnTiles = true
        }
        return kernel
    }

    private func matMul(_ node: Node, _ output: Int) throws(NodeError) -> any Kernel {
        let a = shape(node.inputs[0]), b = shape(node.inputs[1]), y = shape(node.outputs[0])
        let (m, k, n) = (a[a.count - 2], a[a.count - 1], b[b.count - 1])
        let batchShape = Array(y.dropLast(2))
        return MatrixKernel(nodes: [node.name], arguments: [.buffer(output), try operand(node.inputs[0]), try operand(node.inputs[1])],
                            output: output, batchShape: batchShape,
                            aBatchStrides: broadcastStrides(Array(a.dropLast(2)), to: batchShape).map { $0 * m * k },
                            bBatchStrides: broadcastStrides(Array(b.dropLast(2)), to: batchShape).map { $0 * k * n },
                            m: m, n: n, k: k, aStrides: MatrixStrides(k, 1), bStrides: MatrixStrides(n, 1), cStrides: nil, alpha: 1, beta: 0, lanes: target.lanes)
    }

    private mutating func concat(_ node: Node, _ output: Int) throws(NodeError) -> any Kernel {
        let y = shape(node.outputs[0])
        let axis = try node.axis(rank: y.count)
        return ConcatKernel(nodes: [node.name], arguments: [.buffer(output)] + (try node.inputs.map { (value) throws(NodeError) in try operand(value) }), output: output,
                            outer: y[..<axis].reduce(1, *), chunks: node.inputs.map { shape($0)[axis...].reduce(1, *) }, lanes: target.lanes)
    }

    private mutating func pad(_ node: Node, _ output: Int) throws(NodeError) -> any Kernel {
        let x = shape(node.inputs[0]), y = shape(node.outputs[0])
        let modeName = try node.string("mode")
        guard let mode = PadKernel.Mode(rawValue: modeName) else { throw NodeError(.badAttribute, "Pad mode '\(modeName)' is not supported") }
        let pads = try node.ints("pads")
        return PadKernel(nodes: [node.name], arguments: [.buffer(output), try operand(node.inputs[0])], output: output,
                         inputShape: x, outputShape: y, before: Array(pads.prefix(x.count)), mode: mode, value: try node.float("value"))
    }

    /// Scale and B are constants, expanded to the normalized shape so each row reads them as vectors.
    private mutating func layerNorm(_ node: Node, _ output: Int) throws(NodeError) -> any Kernel {
        let (rows, normalized, length) = try node.layerNormRows(shape: shape(node.inputs[0]))
        func expanded(_ input: Int, default value: Float) throws(NodeError) -> Operand {
            guard input < node.inputs.count else { return constant(Tensor(shape: [length], values: Array(repeating: value, count: length))) }
            guard let tensor = weights.tensors[node.inputs[input]] else {
                throw NodeError(.jitUnsupported, "LayerNormalization's \(input == 1 ? "Scale" : "B") must be a constant for the JIT (--engine reference computes it)")
            }
            let strides = broadcastStrides(tensor.shape, to: normalized), outStrides = rowMajorStrides(normalized)
            return constant(Tensor(shape: [length]) { index in
                var rest = index, source = 0
                for axis in normalized.indices {
                    let c = rest / max(outStrides[axis], 1)
                    rest -= c * outStrides[axis]
                    source += c * strides[axis]
                }
                return tensor[source]
            })
        }
        return LayerNormKernel(nodes: [node.name], arguments: [.buffer(output), try operand(node.inputs[0]), try expanded(1, default: 1), try expanded(2, default: 0)],
                               output: output, rows: rows, length: length, epsilon: try node.float("epsilon"), affine: nil, lanes: target.lanes)
    }

    /// An element-wise chain as one expression over the last node's output shape: each node's scalar
    /// expression with its inputs replaced by the chain so far or by kernel operands. An operand read
    /// twice (SiLU's x) is loaded once; a one-element constant (a scale, an exponent) becomes a literal.
    /// Whether `node` reads its operands rounded to bfloat16 where it is computed in an expression: in
    /// bf16, an Add of two activations, as the reference reads it (`ReferenceInterpreter.addsActivations`).
    private func roundsOperands(of node: Node) -> Bool {
        precision == .bf16 && ReferenceInterpreter.addsActivations(node, parameters: parameters)
    }

    private mutating func elementwise(_ nodes: [Node], _ output: Int) throws(NodeError) -> any Kernel {
        let outShape = shape(nodes[nodes.count - 1].outputs[0])
        var arguments: [Operand] = [.buffer(output)]
        var strides: [[Int]] = []
        var operandIndex: [Operand: Int] = [:]
        var expression: ScalarExpression?
        var chainValue: String?
        func operandExpression(_ value: Operand, shape s: [Int]) -> ScalarExpression {
            if let index = operandIndex[value] { return .input(index) }
            arguments.append(value)
            strides.append(broadcastStrides(s, to: outShape))
            operandIndex[value] = strides.count - 1
            return .input(strides.count - 1)
        }
        func input(_ name: String) throws(NodeError) -> ScalarExpression {
            if name == chainValue, let expression { return expression }
            if let tensor = weights.tensors[name], tensor.count == 1 { return .constant(Double(tensor[0])) }
            return operandExpression(try operand(name), shape: shape(name))
        }
        for node in nodes {
            if node.op == .batchNormalization {
                let affine = try batchNormAffine(node)
                let rank = shape(node.inputs[0]).count
                let perChannel = [1, affine.scale.count] + [Int](repeating: 1, count: max(rank - 2, 0))
                let s = operandExpression(constant(Tensor(shape: perChannel, values: affine.scale.map(Float.init))), shape: perChannel)
                let t = operandExpression(constant(Tensor(shape: perChannel, values: affine.offset.map(Float.init))), shape: perChannel)
                expression = try input(node.inputs[0]) * s + t
            } else if node.op == .identity || node.op == .dropout {
                expression = try input(node.inputs[0])
            } else {
                var inputs = try node.inputs.map { (name) throws(NodeError) in try input(name) }
                if roundsOperands(of: node) { inputs = inputs.map { .unary(.roundToBFloat16, $0) } }
                expression = try node.scalarExpression().substituting { inputs[$0] }
            }
            chainValue = node.outputs[0]
        }
        let names = nodes.filter { $0.op != .identity && $0.op != .dropout }.map { $0.op == .batchNormalization ? "bn" : $0.op.rawValue.lowercased() }
        return ElementwiseKernel(nodes: nodes.map(\.name), arguments: arguments, output: output, shape: outShape, operandStrides: strides,
                                 expression: expression ?? .input(0), opNames: names, lanes: target.lanes)
    }
}
