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
        inputSizes = Set(graph.inputs.compactMap { $0.type.rank == 4 ? $0.type.shape[2...].compactMap(\.value) : nil })
    }

    static let activations: Set<OpKind> = [.relu, .clip, .hardSwish, .sigmoid, .hardSigmoid]

    func isStrided(_ node: Node) -> Bool {
        guard [.maxPool, .averagePool, .conv].contains(node.op), let strides = try? node.ints("strides") else { return false }
        return strides.contains { $0 > 1 }
    }

    /// [height, width] of a feature map.
    func spatial(_ value: String) throws(NodeError) -> [Int] {
        let size = types[value].map { $0.rank == 4 ? $0.shape.suffix(2).compactMap(\.value) : [] } ?? []
        guard size.count == 2 else {
            throw NodeError("not-a-map", "'\(value)' is not a 4-D feature map with a known height and width")
        }
        return size
    }

    func channels(_ value: String) -> Int { types[value]?.shape.dropFirst().first?.value ?? 0 }

    // MARK: The rules

    mutating func rewrite(nodeNamed name: String) throws(PassError) {
        guard let index = graph.nodes.firstIndex(where: { $0.name == name }) else { return }
        let node = graph.nodes[index]
        do throws(NodeError) {
            switch node.op {
            case .maxPool: try rewriteMaxPool(node)
            case .averagePool: try rewriteAveragePool(node)
            case .conv: try rewriteConv(node)
            default: break
            }
        } catch {
            throw PassError(pass: Antialias.name, error.message, node: name)
        }
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
        guard let mode = try blurMode(for: node, map: dense) else { return }
        var pool = node
        pool.attributes["kernel_shape"] = .ints(kernel)
        pool.attributes["pads"] = pads == [0, 0, 0, 0] ? nil : .ints(pads)
        pool.attributes["strides"] = nil
        pool.attributes["ceil_mode"] = nil
        try appendBlur(after: node.outputs[0], replacing: node, with: pool, strides: g.strides, map: dense, mode: mode,
                       rule: "MaxPool -> MaxPool(stride 1) + BlurPool", addedMACs: 0)
    }

    /// AveragePool(2, 2) -> BlurPool(2); any other strided average pool -> AveragePool(stride 1) + BlurPool.
    mutating func rewriteAveragePool(_ node: Node) throws(NodeError) {
        let g = try node.poolGeometry()
        let input = try spatial(node.inputs[0])
        if g.kernel == g.strides && g.kernel.allSatisfy({ $0 == 2 }) && g.pads == [0, 0, 0, 0] {
            guard let mode = try blurMode(for: node, map: input) else { return }
            let blur = blurNode(name: node.name, input: node.inputs[0], output: node.outputs[0], strides: g.strides, mode: mode)
            guard try keepsShape(blur, of: node, input: input) else { return }
            replace(node, with: [blur])
            record(node, rule: "AveragePool(2, 2) -> BlurPool", map: input, addedMACs: blurMACs(blur, map: input))
            return
        }
        let dense = (0..<2).map { (axis: Int) -> Int in
            let padded: Int = input[axis] + g.pads[axis] + g.pads[axis + 2]
            return padded - (g.kernel[axis] - 1)
        }
        guard let mode = try blurMode(for: node, map: dense) else { return }
        var pool = node
        pool.attributes["strides"] = nil
        pool.attributes["ceil_mode"] = nil
        try appendBlur(after: node.outputs[0], replacing: node, with: pool, strides: g.strides, map: dense, mode: mode,
                       rule: "AveragePool -> AveragePool(stride 1) + BlurPool", addedMACs: 0)
    }

    /// A strided conv runs at stride 1 (or s/2 when splitting large strides) and a BlurPool subsamples
    /// after its BN and activation; a linear 1x1 conv is blurred before instead, on its input.
    mutating func rewriteConv(_ node: Node) throws(NodeError) {
        let weight = types[node.inputs[1]]?.shape.compactMap(\.value) ?? []
        let g = try node.convGeometry(weightShape: weight.map(Dim.fixed))
        let input = try spatial(node.inputs[0])
        if inputSizes.contains(input) && !settings.includeStem {
            remarks.append(Diagnostic("stem-kept", "stem conv kept strided (input is the graph input's size; stem=include rewrites it)",
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
        let originalMACs = convMACs(g.strides)

        if settings.blurBeforeConv {
            guard let mode = try blurMode(for: node, map: input) else { return }
            let blurName = graph.freshName("\(node.name).blur")
            let blur = blurNode(name: blurName, input: node.inputs[0], output: blurName, strides: [1, 1], mode: mode)
            types[blurName] = types[node.inputs[0]]
            var conv = node
            conv.inputs[0] = blurName
            replace(node, with: [blur, conv])
            record(node, rule: "Conv -> BlurPool(stride 1) + Conv", map: input, addedMACs: blurMACs(blur, map: input))
            return
        }

        let split = settings.splitLargeStrides && g.strides.allSatisfy { $0 > 2 && $0 % 2 == 0 }
        let convStrides = split ? g.strides.map { $0 / 2 } : [1, 1]
        let blurStrides = split ? [2, 2] : g.strides
        var conv = node
        conv.attributes["strides"] = convStrides == [1, 1] ? nil : .ints(convStrides)
        let addedConvMACs = convMACs(convStrides) - originalMACs

        // Follow Conv -> BatchNormalization -> activation while each link has a single use.
        var last = node.outputs[0]
        var hasActivation = false
        for ops in [[OpKind.batchNormalization], Array(Self.activations)] {
            guard graph.hasSingleUse(last), let next = graph.consumers(of: last).first,
                  ops.contains(graph.nodes[next].op), graph.nodes[next].inputs.first == last else { continue }
            last = graph.nodes[next].outputs[0]
            hasActivation = hasActivation || Self.activations.contains(graph.nodes[next].op)
        }
        let isPointwise = g.kernel == [1, 1] && g.pads == [0, 0, 0, 0] && !split
        if !hasActivation && isPointwise {
            // No nonlinearity to blur after: blur the input instead, which commutes with a 1x1 conv and
            // is the cheaper side (the reference's ResNet shortcut: BlurPool, then conv1x1, then BN).
            guard let mode = try blurMode(for: node, map: input) else { return }
            let blurName = graph.freshName("\(node.name).blur")
            let blur = blurNode(name: blurName, input: node.inputs[0], output: blurName, strides: g.strides, mode: mode)
            let shrunk = try spatial(node.outputs[0])
            types[blurName] = types[node.inputs[0]].map { TensorType($0.dtype, Array($0.shape.prefix(2)) + shrunk.map(Dim.fixed)) }
            conv.inputs[0] = blurName
            replace(node, with: [blur, conv])
            record(node, rule: "Conv 1x1 (linear) -> BlurPool + Conv(stride 1)", map: input,
                   addedMACs: blurMACs(blur, map: input))
            return
        }
        let dense = outputSize(convStrides)
        guard let mode = try blurMode(for: node, map: dense) else { return }
        let rule = hasActivation ? "Conv -> Conv(stride \(convStrides[0])) + BN/activation + BlurPool" : "Conv -> Conv(stride \(convStrides[0])) + BlurPool"
        try appendBlur(after: last, replacing: node, with: conv, strides: blurStrides, map: dense, mode: mode, rule: rule, addedMACs: addedConvMACs)
    }

    // MARK: Helpers

    /// The pad mode for a blur over a map of `map` size, or nil to leave the node alone (small-maps=skip).
    mutating func blurMode(for node: Node, map: [Int]) throws(NodeError) -> String? {
        let pads = settings.blurPads
        let fits = map.count == 2 && (0..<2).allSatisfy { max(pads[$0], pads[$0 + 2]) < map[$0] }
        guard settings.padMode == "reflect" && !fits else { return settings.padMode }
        switch settings.smallMaps {
        case "replicate":
            remarks.append(Diagnostic("small-map", "map \(map) is too small to reflect-pad by \(pads); the blur pads by replication", at: .node(node.name), severity: .warning))
            return "replicate"
        case "skip":
            remarks.append(Diagnostic("small-map", "map \(map) is too small to reflect-pad by \(pads); left as it is", at: .node(node.name), severity: .warning))
            record(node, rule: "skipped: map too small for reflect padding", map: map, addedMACs: 0)
            return nil
        default:
            throw NodeError("small-map", "its blur would reflect-pad a \(map.map(String.init).joined(separator: "x")) map by \(pads), which reflection cannot do; use pad=replicate or zero, or small-maps=replicate or skip")
        }
    }

    func blurNode(name: String, input: String, output: String, strides: [Int], mode: String) -> Node {
        var attributes: Attributes = ["filter_size": .int(settings.filter)]
        if strides != [2, 2] { attributes["strides"] = .ints(strides) }
        if mode != "reflect" { attributes["pad_mode"] = .string(mode) }
        if settings.padOff != 0 { attributes["pad_off"] = .int(settings.padOff) }
        return Node(name: name, op: .blurPool, inputs: [input], outputs: [output], attributes: attributes)
    }

    func blurMACs(_ blur: Node, map: [Int]) -> Int {
        guard map.count == 2 else { return 0 }
        guard let spec = try? blur.blurPoolSpec(), let out = try? (0..<2).map({ (axis: Int) throws(NodeError) -> Int in try spec.geometry.outputSize(map[axis], axis: axis) }) else { return 0 }
        return channels(blur.inputs[0]) * out[0] * out[1] * spec.filterSize * spec.filterSize
    }

    /// Whether `blur` applied to a map of `input` size gives the spatial size `original` produced.
    func keepsShape(_ blur: Node, of original: Node, input: [Int]) throws(NodeError) -> Bool {
        let spec = try blur.blurPoolSpec()
        let out = try (0..<2).map { (axis: Int) throws(NodeError) -> Int in try spec.geometry.outputSize(input[axis], axis: axis) }
        guard try out == spatial(original.outputs[0]) else {
            throw NodeError("shape-change", "its antialiased form would make a \(out.map(String.init).joined(separator: "x")) map where it made \(try spatial(original.outputs[0]).map(String.init).joined(separator: "x")) (ceil_mode or pad-off on an odd size?)")
        }
        return true
    }

    /// Replaces `original` by `rewritten`, then inserts a BlurPool reading `value` whose output takes
    /// over every use of `value`.
    mutating func appendBlur(after value: String, replacing original: Node, with rewritten: Node, strides: [Int], map: [Int],
                             mode: String, rule: String, addedMACs: Int) throws(NodeError) {
        let blurName = graph.freshName("\(original.name).blur")
        let blur = blurNode(name: blurName, input: value, output: blurName, strides: strides, mode: mode)
        let spec = try blur.blurPoolSpec()
        let out = try (0..<2).map { (axis: Int) throws(NodeError) -> Int in try spec.geometry.outputSize(map[axis], axis: axis) }
        let originalSize = try spatial(original.outputs[0])
        guard out == originalSize || settings.padOff != 0 else {
            throw NodeError("shape-change", "its antialiased form would make a \(out.map(String.init).joined(separator: "x")) map where it made \(originalSize.map(String.init).joined(separator: "x")) (ceil_mode on an odd size?)")
        }
        types[blurName] = types[value].map { TensorType($0.dtype, Array($0.shape.prefix(2)) + out.map(Dim.fixed)) }
        replace(original, with: [rewritten])
        graph.replaceAllUses(of: value, with: blurName)
        if let producer = graph.producerIndex(of: value) {
            graph.insert(blur, after: producer)
        } else {
            graph.insert(blur, before: 0)
        }
        record(original, rule: rule, map: map, addedMACs: addedMACs + blurMACs(blur, map: map))
    }

    /// Puts `nodes` where `original` stood.
    mutating func replace(_ original: Node, with nodes: [Node]) {
        guard let index = graph.nodes.firstIndex(where: { $0.name == original.name }) else { return }
        graph.nodes.replaceSubrange(index...index, with: nodes)
    }

    mutating func record(_ node: Node, rule: String, map: [Int], addedMACs: Int) {
        let input = ((try? spatial(node.inputs[0])) ?? []).map(String.init).joined(separator: "x")
        let output = ((try? spatial(node.outputs[0])) ?? []).map(String.init).joined(separator: "x")
        rows.append([node.name, rule, "\(input) -> \(output)", addedMACs == 0 ? "0" : "+\(addedMACs)"])
    }

    /// What was rewritten, by which rule, at which map size, and what it added.
    func reportTable(macsBefore: Int, macsAfter: Int) -> String {
        let header = ["node", "rule", "map", "added MACs"]
        let table = [header] + rows
        let widths = (0..<4).map { column in table.map { $0[column].count }.max() ?? 0 }
        var lines = table.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        let ratio = macsBefore > 0 ? Double(macsAfter) / Double(macsBefore) : 1
        lines.append("multiply-adds per sample: \(macsBefore) -> \(macsAfter) (x\(String(format: "%.3f", ratio)))")
        return lines.map { "  " + $0 }.joined(separator: "\n") + "\n"
    }
}
