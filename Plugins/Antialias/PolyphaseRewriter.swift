import LowpassIR
import LowpassPasses

/// Applies adaptive polyphase sampling one strided node at a time, then (pad=circular) makes every
/// remaining zero padding circular. Each rule keeps its node's output shape, so the input graph's types
/// stay valid for every original value throughout.
struct PolyphaseRewriter {
    var graph: Graph
    let before: VerifiedGraph
    let settings: PolyphaseSettings
    /// Spatial sizes of the graph's inputs: a strided conv reading such a map is in the stem.
    let inputSizes: Set<[Int]>
    private(set) var types: [String: TensorType]
    var remarks: [Diagnostic] = []
    private(set) var rows: [[String]] = []
    /// The PolyphaseSelect nodes added so far, by name: a shortcut looks for its main path's among them.
    private var selects: Set<String> = []

    init(graph: Graph, settings: PolyphaseSettings) throws(Diagnostics) {
        self.graph = graph
        self.before = try graph.verify()
        self.types = before.types
        self.settings = settings
        inputSizes = graph.inputMapSizes
    }

    /// Main paths first, so that each block's shortcut (a linear 1x1 conv or a pool feeding the block's
    /// Add) can keep the component its main path chose, as APS's ResNet passes `polyphase_indices` on.
    mutating func rewriteDownsamplers() throws(PassError) {
        let strided = graph.nodes.filter { ($0.isStridedDownsampler || isStridedBlur($0)) && settings.selection.selects($0.name) }
        let shortcuts = strided.filter(isShortcutCandidate)
        let shortcutNames = Set(shortcuts.map(\.name))
        for node in strided where !shortcutNames.contains(node.name) { try rewrite(nodeNamed: node.name) }
        for node in shortcuts { try rewrite(nodeNamed: node.name) }
    }

    /// A BlurPool that subsamples: an antialiased model's downsampler (the blur stays, at stride 1, and
    /// polyphase sampling replaces its subsampling: APS + LPF).
    func isStridedBlur(_ node: Node) -> Bool {
        node.op == .blurPool && ((try? node.blurPoolSpec().strides) ?? [1, 1]).contains { $0 > 1 }
    }

    /// A pool, a conv with no activation after it, or a blur feeding a 1x1 conv that has none (an
    /// antialiased shortcut): it does not decide the phase where a partner exists.
    func isShortcutCandidate(_ node: Node) -> Bool {
        switch node.op {
        case .averagePool: return true
        case .conv: return !graph.normalizationAndActivation(after: node, types: types).hasActivation
        case .blurPool:
            guard graph.hasSingleUse(node.outputs[0]), let next = graph.consumers(of: node.outputs[0]).first else { return false }
            let conv = graph.nodes[next]
            let kernel = types[conv.inputs.dropFirst().first ?? ""]?.shape.suffix(2).compactMap(\.value)
            return conv.op == .conv && kernel == [1, 1] && !graph.normalizationAndActivation(after: conv, types: types).hasActivation
        default: return false
        }
    }

    func spatial(_ value: String) throws(NodeError) -> [Int] { try mapSize(value, types) }

    mutating func rewrite(nodeNamed name: String) throws(PassError) {
        guard let node = graph.node(named: name) else { return }
        do throws(NodeError) {
            try rewrite(node)
        } catch {
            throw PassError(pass: AdaptivePolyphaseSampling.name, error.message, node: name)
        }
    }

    // MARK: The rule

    /// The node at stride 1 (with circular 'same' padding under pad=circular), then, at the end of its
    /// BatchNorm and activation, the optional blur and the polyphase choice; a shortcut with a partner
    /// selects its input by the partner's choice before running at stride 1 instead.
    private mutating func rewrite(_ node: Node) throws(NodeError) {
        let input = try spatial(node.inputs[0])
        let goal = try spatial(node.outputs[0])
        let window: WindowGeometry
        if node.op == .conv {
            let weight = types[node.inputs[1]]?.shape.compactMap(\.value) ?? []
            window = try node.convGeometry(weightShape: weight.map(Dim.fixed))
            if inputSizes.contains(input) && !settings.includeStem {
                remarks.append(Diagnostic(.stemKept, "stem conv kept strided (input is the graph input's size; stem=include rewrites it)",
                                          at: .node(node.name), severity: .note))
                return
            }
        } else if node.op == .blurPool {
            window = try node.blurPoolSpec().geometry
        } else {
            window = try node.poolGeometry()
        }
        let strides = window.strides
        var pads = window.pads
        if settings.circular {
            for axis in 0..<2 {
                let span = window.dilations[axis] * (window.kernel[axis] - 1)
                guard span >= pads[axis] else { throw NodeError(.shapeChange, "its padding \(window.pads) exceeds its window; circular padding cannot keep the map size") }
                pads[axis + 2] = span - pads[axis]
            }
        }
        let dense = (0..<2).map { (axis: Int) -> Int in
            let span: Int = window.dilations[axis] * (window.kernel[axis] - 1)
            return input[axis] + pads[axis] + pads[axis + 2] - span
        }
        let subsampled = (0..<2).map { (axis: Int) -> Int in (dense[axis] + strides[axis] - 1) / strides[axis] }
        guard subsampled == goal else {
            throw NodeError(.shapeChange, "at stride 1 it makes a \(dims(dense)) map, which polyphase sampling by \(strides) turns into \(dims(subsampled)), not the \(dims(goal)) it made; exclude it (exclude=\(node.name))")
        }
        if (0..<2).contains(where: { dense[$0] % strides[$0] != 0 }) {
            remarks.append(Diagnostic(.apsInexact, "its \(dims(dense)) map is not a whole number of strides \(strides): the selection wraps around, so the output is not exactly shift-invariant",
                                      at: .node(node.name), severity: .warning))
        }
        var rewritten = node
        if node.op == .blurPool {
            // A blur's default strides are [2, 2]; its pads default by its filter size.
            let spec = try node.blurPoolSpec()
            rewritten.attributes["strides"] = .ints([1, 1])
            rewritten.attributes["pad_off"] = nil
            rewritten.attributes["pads"] = pads == BlurPoolSpec.defaultPads(filterSize: spec.filterSize, padOff: 0) ? nil : .ints(pads)
            if settings.circular { rewritten.attributes["pad_mode"] = .string(BlurPadMode.circular.rawValue) }
        } else {
            rewritten.attributes["strides"] = nil
            rewritten.attributes["ceil_mode"] = nil
            rewritten.attributes["pads"] = pads == [0, 0, 0, 0] ? nil : .ints(pads)
        }

        let channels = types[node.inputs[0]]?.shape.dropFirst().first?.value ?? 0
        let isLinear = isShortcutCandidate(node)
        if isLinear, node.op == .conv, window.kernel == [1, 1], window.pads == [0, 0, 0, 0] {
            // A pointwise linear conv commutes with the selection: select its (smaller) input, by the
            // main path's choice where it is a block's shortcut, then run the conv at stride 1.
            let partner = partnerIndex(of: node, mapSize: input)
            let blurred = blurIfAsked(node.inputs[0], size: input, named: "\(node.name).blur")
            var added = blurred.nodes
            let index = partner ?? graph.freshName("\(node.name).aps")
            if partner == nil { added.append(indexNode(index, reading: blurred.value, strides: strides)) }
            let selected = graph.freshName("\(node.name).select", avoiding: [index])
            types[selected] = types[node.inputs[0]].map { TensorType($0.dtype, Array($0.shape.prefix(2)) + goal.map(Dim.fixed)) }
            added.append(Node(name: selected, op: .polyphaseSelect, inputs: [blurred.value, index], outputs: [selected], attributes: stridesAttribute(strides)))
            selects.insert(selected)
            rewritten.inputs[0] = selected
            graph.replaceNode(named: node.name, with: added + [rewritten])
            let choice = partner == nil ? "PolyphaseIndex + PolyphaseSelect" : "PolyphaseSelect(main path's choice)"
            record(node, rule: "Conv 1x1 (linear) -> \(settings.filter > 1 ? "BlurPool(stride 1) + " : "")\(choice) + Conv(stride 1)", map: input, goal: goal,
                   addedMACs: blurMACs(channels: channels, size: input))
            return
        }
        graph.replaceNode(named: node.name, with: [rewritten])
        let (last, activationChain, _) = node.op == .conv ? graph.normalizationAndActivation(after: rewritten, types: types) : (node.outputs[0], [], false)
        let partner = isLinear ? partnerIndex(of: node, mapSize: dense) : nil
        let outputChannels = types[last]?.shape.dropFirst().first?.value ?? 0
        // A stride-1 average pool makes its map's components nearly equal (each is a box average of
        // the same pixels), so their norms differ by little more than rounding; its input, of the same
        // size under circular padding, shows the same phases clearly and shifts with them.
        let chooseOn = node.op == .averagePool && dense == input ? node.inputs[0] : nil
        let isBlur = node.op == .blurPool
        try appendSampling(after: last, size: dense, strides: strides, index: partner, choosingOn: chooseOn, blurring: !isBlur, named: node.name)
        var chain = [node.op.rawValue + "(stride 1)"] + activationChain
        if settings.filter > 1 && !isBlur { chain.append("BlurPool(stride 1)") }
        chain.append(partner == nil ? "PolyphaseIndex + PolyphaseSelect" : "PolyphaseSelect(main path's choice)")
        let perOutput = node.op == .conv ? (types[node.inputs[1]]?.shape.dropFirst().compactMap(\.value).reduce(1, *) ?? 0) : 0
        let addedConv = node.op == .conv ? outputChannels * perOutput * (dense.reduce(1, *) - goal.reduce(1, *)) : 0
        record(node, rule: node.op.rawValue + " -> " + chain.joined(separator: " + "), map: dense, goal: goal,
               addedMACs: addedConv + (isBlur ? outputChannels * (dense.reduce(1, *) - goal.reduce(1, *)) * window.kernel.reduce(1, *) : blurMACs(channels: outputChannels, size: dense)))
    }

    private func indexNode(_ name: String, reading value: String, strides: [Int]) -> Node {
        var attributes = stridesAttribute(strides)
        if settings.norm != .l2 { attributes["norm"] = .string(settings.norm.rawValue) }
        return Node(name: name, op: .polyphaseIndex, inputs: [value], outputs: [name], attributes: attributes)
    }

    /// Inserts [BlurPool] + PolyphaseIndex + PolyphaseSelect taking over `value` (or only the select, by
    /// a given index): its producer now writes `<value>.unsampled`, and every reader keeps its name. The
    /// index reads the (blurred) map, or `chooser`, a map of the same size.
    private mutating func appendSampling(after value: String, size: [Int], strides: [Int], index given: String?, choosingOn chooser: String? = nil,
                                         blurring: Bool = true, named base: String) throws(NodeError) {
        guard let producer = graph.producerIndex(of: value) else { return }
        let writer = graph.nodes[producer].name
        let unsampled = graph.freshName("\(value).unsampled")
        graph.renameOutput(value, to: unsampled)
        types[unsampled] = types[value].map { TensorType($0.dtype, Array($0.shape.prefix(2)) + size.map(Dim.fixed)) }
        let blurred: (nodes: [Node], value: String) = blurring ? blurIfAsked(unsampled, size: size, named: graph.freshName("\(base).blur", avoiding: [unsampled])) : ([], unsampled)
        var added = blurred.nodes
        let index: String
        if let given {
            index = given
        } else {
            index = graph.freshName("\(base).aps", avoiding: [unsampled])
            added.append(indexNode(index, reading: chooser ?? blurred.value, strides: strides))
        }
        let select = graph.freshName("\(base).select", avoiding: [unsampled, index])
        added.append(Node(name: select, op: .polyphaseSelect, inputs: [blurred.value, index], outputs: [value], attributes: stridesAttribute(strides)))
        selects.insert(select)
        var anchor = writer
        for node in added {
            graph.append(node, placed: anchor)
            anchor = node.name
        }
    }

    /// A stride-1 blur of `value` when the filter asks for one (padding circular or reflect, as the pass's).
    private mutating func blurIfAsked(_ value: String, size: [Int], named name: String) -> (nodes: [Node], value: String) {
        guard settings.filter > 1 else { return ([], value) }
        var attributes: Attributes = ["filter_size": .int(settings.filter), "strides": .ints([1, 1])]
        attributes["pad_mode"] = .string(settings.circular ? BlurPadMode.circular.rawValue : BlurPadMode.reflect.rawValue)
        let output = graph.freshName(name)
        types[output] = types[value]
        return ([Node(name: output, op: .blurPool, inputs: [value], outputs: [output], attributes: attributes)], output)
    }

    private func stridesAttribute(_ strides: [Int]) -> Attributes {
        strides == [2, 2] ? [:] : ["strides": .ints(strides)]
    }

    private func blurMACs(channels: Int, size: [Int]) -> Int {
        settings.filter > 1 ? channels * size.reduce(1, *) * settings.filter * settings.filter : 0
    }

    /// The choice of the main path that `node`'s output meets: follow its single-use chain to an Add
    /// (or Sum), then search the other operands' producers, nearest first and not past `node`'s own
    /// input, for a PolyphaseSelect of this pass over a map of the same size.
    private func partnerIndex(of node: Node, mapSize: [Int]) -> String? {
        var value = node.outputs[0]
        var join: Node?
        for _ in 0..<8 {
            guard graph.hasSingleUse(value), let next = graph.consumers(of: value).first else { return nil }
            let consumer = graph.nodes[next]
            if consumer.op == .add || consumer.op == .sum { join = consumer; break }
            guard consumer.outputs.count == 1, consumer.inputs.first == value else { return nil }
            value = consumer.outputs[0]
        }
        guard let join else { return nil }
        var queue = join.inputs.filter { $0 != value }
        var seen = Set(queue)
        var position = 0
        while position < queue.count && position < 256 {
            let current = queue[position]
            position += 1
            guard current != node.inputs[0], let producer = graph.producerIndex(of: current) else { continue }
            let candidate = graph.nodes[producer]
            if selects.contains(candidate.name), candidate.op == .polyphaseSelect,
               let source = types[candidate.inputs[0]]?.shape.suffix(2).compactMap(\.value), source == mapSize,
               graph.producerIndex(of: candidate.inputs[1]).map({ graph.nodes[$0].op == .polyphaseIndex }) == true {
                return candidate.inputs[1]
            }
            for input in candidate.inputs where !seen.contains(input) {
                seen.insert(input)
                queue.append(input)
            }
        }
        return nil
    }

    // MARK: Circular padding

    /// Every padded Conv, MaxPool and AveragePool reads a circularly padded copy of its input instead.
    mutating func padCircularly() throws(PassError) {
        let padded = graph.nodes.filter { [.conv, .maxPool, .averagePool].contains($0.op) && ((try? $0.ints("pads")) ?? []).contains { $0 != 0 } }
        // The downsamplers rewritten already have their row in the report; the others are counted.
        let reported = Set(rows.compactMap(\.first))
        var count = 0
        for node in padded {
            guard let pads = try? node.ints("pads"), pads.count == 4 else { continue }
            guard pads.allSatisfy({ $0 >= 0 }) else {
                throw PassError(pass: AdaptivePolyphaseSampling.name, "negative pads \(pads) cannot be made circular", node: node.name)
            }
            let paddedName = graph.freshName("\(node.name).pad")
            types[paddedName] = types[node.inputs[0]].map { type in
                TensorType(type.dtype, Array(type.shape.prefix(2)) + (0..<2).map { axis in type.shape[axis + 2].value.map { .fixed($0 + pads[axis] + pads[axis + 2]) } ?? type.shape[axis + 2] })
            }
            let pad = Node(name: paddedName, op: .pad, inputs: [node.inputs[0]], outputs: [paddedName],
                           attributes: ["mode": .string("wrap"), "pads": .ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])])
            var unpadded = node
            unpadded.inputs[0] = paddedName
            unpadded.attributes["pads"] = nil
            if node.op == .averagePool { unpadded.attributes["count_include_pad"] = nil }
            graph.replaceNode(named: node.name, with: [pad, unpadded])
            if !reported.contains(node.name) { count += 1 }
        }
        if count > 0 {
            rows.append(["(\(count) more)", "zero padding -> Pad(wrap) before the conv or pool", "", "0"])
        }
        // Blurs that were already at stride 1 (an antialiased model's upsampling blurs, Composer's order):
        // only circular padding keeps them shift-equivariant.
        var blurs = 0
        for index in graph.nodes.indices where graph.nodes[index].op == .blurPool && (try? graph.nodes[index].blurPoolSpec().padMode) != .circular {
            graph.nodes[index].attributes["pad_mode"] = .string(BlurPadMode.circular.rawValue)
            blurs += 1
        }
        if blurs > 0 { rows.append(["(\(blurs) more)", "BlurPool padding -> circular", "", "0"]) }
    }

    // MARK: Editing

    private mutating func record(_ node: Node, rule: String, map: [Int], goal: [Int], addedMACs: Int) {
        rows.append([node.name, rule, "\(dims(map)) -> \(dims(goal))", addedMACs == 0 ? "0" : "+\(addedMACs)"])
    }
}
