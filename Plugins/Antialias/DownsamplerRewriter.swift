import LowpassIR
import LowpassPasses

/// Applies the antialiasing rules one strided node at a time. The types of the input graph stay valid
/// for every original value throughout, because each rule keeps its node's output shape.
struct DownsamplerRewriter {
    var graph: Graph
    let before: VerifiedGraph
    let settings: AntialiasSettings
    /// Spatial sizes of the graph's inputs: a strided conv reading such a map is in the stem.
    let inputSizes: Set<[Int]>
    var remarks: [Diagnostic] = []
    private var rows: [[String]] = []

    /// Types of the input graph's values, and of the BlurPool outputs added since (each has the type
    /// of the value whose uses it took over, or that a rule computed for it).
    private(set) var types: [String: TensorType]

    init(graph: Graph, settings: AntialiasSettings) throws(Diagnostics) {
        self.graph = graph
        self.before = try graph.verify()
        self.types = before.types
        self.settings = settings
        inputSizes = graph.inputMapSizes
    }

    /// A Resize whose output is larger than its input on some spatial axis.
    func isUpsampling(_ node: Node) -> Bool {
        guard node.op == .resize, let input = try? spatial(node.inputs[0]), let output = try? spatial(node.outputs[0]) else { return false }
        return zip(input, output).contains { $0 < $1 }
    }

    func spatial(_ value: String) throws(NodeError) -> [Int] { try mapSize(value, types) }

    func channels(_ value: String) -> Int { types[value]?.shape.dropFirst().first?.value ?? 0 }

    // MARK: The rules

    mutating func rewrite(nodeNamed name: String) throws(PassError) {
        guard let node = graph.node(named: name) else { return }
        do throws(NodeError) {
            switch node.op {
            case .maxPool: try rewriteMaxPool(node)
            case .averagePool: try rewriteAveragePool(node)
            case .conv: try rewriteConv(node)
            case .resize: try blurUpsampling(node)
            default: break
            }
        } catch {
            throw PassError(pass: Antialias.name, error.message, node: name)
        }
    }

    /// Resize (upsampling) -> Resize then BlurPool(stride 1), padded to keep the upsampled size.
    mutating func blurUpsampling(_ node: Node) throws(NodeError) {
        let size = try spatial(node.outputs[0])
        guard let blur = try plan(for: node, map: size, strides: [1, 1], channels: channels(node.outputs[0]), target: size) else { return }
        appendBlur(blur, after: node.outputs[0], named: "\(node.name).blur")
        record(node, rule: "Resize (upsampling) -> Resize + BlurPool(stride 1)", blur: blur, addedMACs: blurMACs(blur))
    }

    /// MaxPool(k, s) -> MaxPool(k, 1) then BlurPool(s): the max is shift-equivariant; only the subsampling aliased.
    mutating func rewriteMaxPool(_ node: Node) throws(NodeError) {
        let g = try node.poolGeometry()
        let kernel = settings.maxPoolKernel > 0 ? [settings.maxPoolKernel, settings.maxPoolKernel] : g.kernel
        let pads = settings.maxPoolKernel > 0 ? [0, 0, 0, 0] : g.pads
        let input = try spatial(node.inputs[0])
        let dense = (0..<2).map { (axis: Int) -> Int in
            let span = g.dilations[axis] * (kernel[axis] - 1)
            return input[axis] + pads[axis] + pads[axis + 2] - span
        }
        var attributes = node.attributes
        attributes["kernel_shape"] = .ints(kernel)
        attributes["pads"] = pads == [0, 0, 0, 0] ? nil : .ints(pads)
        try poolAtStrideOne(node, attributes: attributes, map: dense, strides: g.strides, rule: "MaxPool -> MaxPool(stride 1) + BlurPool")
    }

    /// Runs the pool `node` at stride 1 with `attributes` and appends the BlurPool that subsamples.
    mutating func poolAtStrideOne(_ node: Node, attributes: Attributes, map: [Int], strides: [Int], rule: String) throws(NodeError) {
        guard let blur = try plan(for: node, map: map, strides: strides, channels: channels(node.inputs[0])) else { return }
        var pool = node
        pool.attributes = attributes
        pool.attributes["strides"] = nil
        pool.attributes["ceil_mode"] = nil
        graph.replaceNode(named: node.name, with: [pool])
        appendBlur(blur, after: node.outputs[0], named: "\(node.name).blur")
        record(node, rule: rule, blur: blur, addedMACs: blurMACs(blur))
    }

    /// AveragePool(2, 2) -> BlurPool(2); any other strided average pool -> AveragePool(stride 1) + BlurPool.
    mutating func rewriteAveragePool(_ node: Node) throws(NodeError) {
        let g = try node.poolGeometry()
        let input = try spatial(node.inputs[0])
        let direct = g.kernel == g.strides && g.kernel.allSatisfy({ $0 == 2 }) && g.pads == [0, 0, 0, 0]
        // The blur alone must reproduce the pool's output size; on odd sizes with M = 1 it cannot, and
        // the general form (stride-1 pool, then blur) does the job.
        let goal = try spatial(node.outputs[0])
        if direct && fittedPads(map: input, strides: g.strides, goal: goal) != nil {
            guard let blur = try plan(for: node, map: input, strides: g.strides, channels: channels(node.inputs[0])) else { return }
            graph.replaceNode(named: node.name, with: [blurNode(blur, name: node.name, input: node.inputs[0], output: node.outputs[0])])
            record(node, rule: "AveragePool(2, 2) -> BlurPool", blur: blur, addedMACs: blurMACs(blur))
            return
        }
        let dense = (0..<2).map { (axis: Int) -> Int in
            let padded: Int = input[axis] + g.pads[axis] + g.pads[axis + 2]
            return padded - (g.kernel[axis] - 1)
        }
        try poolAtStrideOne(node, attributes: node.attributes, map: dense, strides: g.strides, rule: "AveragePool -> AveragePool(stride 1) + BlurPool")
    }

    /// A strided conv runs at stride 1 (or s/2 when splitting large strides) and a BlurPool subsamples
    /// after its BN and activation; a linear 1x1 conv is blurred before instead, on its input.
    mutating func rewriteConv(_ node: Node) throws(NodeError) {
        let weight = types[node.inputs[1]]?.shape.compactMap(\.value) ?? []
        let g = try node.convGeometry(weightShape: weight.map(Dim.fixed))
        let input = try spatial(node.inputs[0])
        if inputSizes.contains(input) && !settings.includeStem {
            remarks.append(Diagnostic(.stemKept, "stem conv kept strided (input is the graph input's size; stem=include rewrites it)",
                                      at: .node(node.name), severity: .note))
            return
        }
        /// The conv's output size at the given stride.
        let outputSize = { (stride: [Int]) -> [Int] in
            (0..<2).map { (axis: Int) -> Int in
                let padded: Int = input[axis] + g.pads[axis] + g.pads[axis + 2]
                let span: Int = g.dilations[axis] * (g.kernel[axis] - 1)
                return (padded - span - 1) / stride[axis] + 1
            }
        }
        let perOutput = weight.count == 4 ? weight[1] * weight[2] * weight[3] : 0
        let outputChannels = channels(node.outputs[0])
        let convMACs = { (stride: [Int]) -> Int in
            let out = outputSize(stride)
            return outputChannels * out[0] * out[1] * perOutput
        }

        if settings.blurBeforeConv {
            // Composer's order: low-pass the input at full resolution; the conv keeps its stride.
            guard let blur = try plan(for: node, map: input, strides: [1, 1], channels: channels(node.inputs[0]), target: input) else { return }
            let blurName = graph.freshName("\(node.name).blur")
            types[blurName] = types[node.inputs[0]]
            var conv = node
            conv.inputs[0] = blurName
            graph.replaceNode(named: node.name, with: [blurNode(blur, name: blurName, input: node.inputs[0], output: blurName), conv])
            record(node, rule: "Conv -> BlurPool(stride 1) + Conv", blur: blur, addedMACs: blurMACs(blur))
            return
        }

        let split = settings.splitLargeStrides && g.strides.allSatisfy { $0 > 2 && $0 % 2 == 0 }
        let convStrides = split ? g.strides.map { $0 / 2 } : [1, 1]
        let blurStrides = split ? [2, 2] : g.strides
        var conv = node
        conv.attributes["strides"] = convStrides == [1, 1] ? nil : .ints(convStrides)

        let (last, chain, hasActivation) = graph.normalizationAndActivation(after: node, types: types)
        let isPointwise = g.kernel == [1, 1] && g.pads == [0, 0, 0, 0] && !split
        if !hasActivation && isPointwise {
            // No nonlinearity to blur after: blur the input instead, which commutes with a 1x1 conv and
            // is the cheaper side (the reference's ResNet shortcut: BlurPool, then conv1x1, then BN).
            guard let blur = try plan(for: node, map: input, strides: g.strides, channels: channels(node.inputs[0])) else { return }
            let blurName = graph.freshName("\(node.name).blur")
            types[blurName] = types[node.inputs[0]].map { TensorType($0.dtype, Array($0.shape.prefix(2)) + blur.output.map(Dim.fixed)) }
            conv.inputs[0] = blurName
            graph.replaceNode(named: node.name, with: [blurNode(blur, name: blurName, input: node.inputs[0], output: blurName), conv])
            record(node, rule: "Conv 1x1 (linear) -> BlurPool + Conv(stride 1)", blur: blur, addedMACs: blurMACs(blur))
            return
        }
        guard let blur = try plan(for: node, map: outputSize(convStrides), strides: blurStrides, channels: outputChannels) else { return }
        graph.replaceNode(named: node.name, with: [conv])
        appendBlur(blur, after: last, named: "\(node.name).blur")
        let rule = "Conv -> " + (["Conv(stride \(convStrides[0]))"] + chain + ["BlurPool"]).joined(separator: " + ")
        record(node, rule: rule, blur: blur, addedMACs: convMACs(convStrides) - convMACs(g.strides) + blurMACs(blur))
    }

    // MARK: Blurs

    /// A BlurPool to insert: over a map of `map` size, with these strides, pads and border mode,
    /// giving a map of `output` size.
    struct BlurPlan {
        var channels: Int
        var map: [Int]
        var strides: [Int]
        var pads: [Int]
        var mode: BlurPadMode
        var output: [Int]
        /// Whether the pads differ from the filter's default (to keep the map size the layer had).
        var padsAdjusted: Bool
    }

    /// Plans the blur of `node`'s subsampling over a map of `map` size. Its output must have the size
    /// `node`'s output had (`target`, default: `node`'s output size): where the reference padding
    /// gives a map one larger or smaller (odd sizes, ceil_mode), the trailing pad shrinks or grows.
    /// Returns nil to leave `node` alone (small-maps=skip).
    mutating func plan(for node: Node, map: [Int], strides: [Int], channels: Int, target: [Int]? = nil) throws(NodeError) -> BlurPlan? {
        let goal: [Int]
        if let target { goal = target } else { goal = try spatial(node.outputs[0]) }
        guard let pads = fittedPads(map: map, strides: strides, goal: goal) else {
            throw NodeError(.shapeChange, "no blur padding turns its \(dims(map)) map into the \(dims(goal)) map it made")
        }
        let output = (0..<2).map { (map[$0] + pads[$0] + pads[$0 + 2] - settings.filter) / strides[$0] + 1 }
        var plan = BlurPlan(channels: channels, map: map, strides: strides, pads: pads, mode: settings.padMode, output: output,
                            padsAdjusted: pads != settings.blurPads)
        let fits = (0..<2).allSatisfy { max(pads[$0], pads[$0 + 2]) < map[$0] }
        guard settings.padMode == .reflect && !fits else { return plan }
        switch settings.smallMaps {
        case .replicate:
            remarks.append(Diagnostic(.smallMap, "map \(dims(map)) is too small to reflect-pad by \(pads); the blur pads by replication",
                                      at: .node(node.name), severity: .warning))
            plan.mode = .replicate
            return plan
        case .skip:
            remarks.append(Diagnostic(.smallMap, "map \(dims(map)) is too small to reflect-pad by \(pads); left as it is",
                                      at: .node(node.name), severity: .warning))
            rows.append([node.name, "skipped: map too small for reflect padding", dims(map), "0"])
            return nil
        case .error:
            throw NodeError(.smallMap, "its blur would reflect-pad a \(dims(map)) map by \(pads), which reflection cannot do; use pad=replicate or zero, or small-maps=replicate or skip")
        }
    }

    /// The filter's default pads, with the trailing (then leading) pad shrunk or the trailing pad grown
    /// so that the blur of a `map`-sized map is `goal`-sized; nil if no padding does it. pad-off keeps its pads.
    func fittedPads(map: [Int], strides: [Int], goal: [Int]) -> [Int]? {
        let m = settings.filter
        var pads = settings.blurPads
        guard settings.padOff == 0 else { return pads }
        func size(_ axis: Int) -> Int { (map[axis] + pads[axis] + pads[axis + 2] - m) / strides[axis] + 1 }
        for axis in 0..<2 {
            while size(axis) > goal[axis] && pads[axis + 2] > 0 { pads[axis + 2] -= 1 }
            while size(axis) > goal[axis] && pads[axis] > 0 { pads[axis] -= 1 }
            while size(axis) < goal[axis] && pads[axis + 2] < m { pads[axis + 2] += 1 }
            if size(axis) != goal[axis] { return nil }
        }
        return pads
    }

    func blurNode(_ plan: BlurPlan, name: String, input: String, output: String) -> Node {
        var attributes: Attributes = ["filter_size": .int(settings.filter)]
        if plan.strides != [2, 2] { attributes["strides"] = .ints(plan.strides) }
        if plan.mode != .reflect { attributes["pad_mode"] = .string(plan.mode.rawValue) }
        if settings.padOff != 0 { attributes["pad_off"] = .int(settings.padOff) }
        if plan.padsAdjusted { attributes["pads"] = .ints(plan.pads) }
        return Node(name: name, op: .blurPool, inputs: [input], outputs: [output], attributes: attributes)
    }

    func blurMACs(_ plan: BlurPlan) -> Int {
        plan.channels * plan.output.reduce(1, *) * settings.filter * settings.filter
    }

    /// Inserts a BlurPool that takes over `value`: its producer now writes `<value>.unblurred`, which the
    /// blur reads, and the blur writes `value`, so every reader, graph outputs included, keeps its name.
    mutating func appendBlur(_ plan: BlurPlan, after value: String, named base: String) {
        guard let producer = graph.producerIndex(of: value) else { return }
        let writer = graph.nodes[producer].name
        let unblurred = graph.freshName("\(value).unblurred")
        graph.renameOutput(value, to: unblurred)
        let blurName = graph.freshName(base, avoiding: [unblurred])
        graph.append(blurNode(plan, name: blurName, input: unblurred, output: value), placed: writer)
    }

    mutating func record(_ node: Node, rule: String, blur: BlurPlan, addedMACs: Int) {
        let note = blur.padsAdjusted ? " (blur pads \(blur.pads) keep \(dims(blur.output)))" : ""
        rows.append([node.name, rule + note, "\(dims(blur.map)) -> \(dims(blur.output))", addedMACs == 0 ? "0" : "+\(addedMACs)"])
    }

    /// What was rewritten, by which rule, at which map size, and what it added.
    func reportTable(macsBefore: Int, macsAfter: Int) -> String {
        renderRewriteReport(rows, macsBefore: macsBefore, macsAfter: macsAfter)
    }
}
