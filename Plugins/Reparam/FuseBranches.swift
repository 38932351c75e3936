import LowpassIR
import LowpassPasses
import LowpassTensor

/// Fuses parallel convolutions on the same input that are summed (ACNet's k x k + 1 x k + k x 1,
/// RepVGG's 3x3 + 1x1 + identity, any aligned mix) into one convolution, exactly: each branch's BN is
/// folded, smaller kernels are added at the centre of the largest, an identity branch adds a centred
/// one, a following Mul or Div by a scalar constant (the seed's division by 3) scales the result, and a
/// BatchNormalization after that folds in too.
///
///     Before: %a = Conv(x, k3) {pads=[1,1,1,1]}; %b = Conv(x, k1x3) {pads=[0,1,0,1]}; %c = Conv(x, k3x1) {pads=[1,0,1,0]}
///             %s = Add(a, b); %t = Add(s, c); %y = Mul(t, third)
///     After:  %y = Conv(x, k3', k3.bias) {pads=[1,1,1,1]}
///
/// Branches that would not be exact (different strides or groups, kernels off centre, dilation, an
/// identity where channels or stride differ, a branch read elsewhere) are refused with a remark saying why.
public struct FuseBranches: Pass {
    public static let name = "fuse-branches"
    public static let summary = "fuse summed parallel convs (ACNet, RepVGG; BN folded, identity and a constant scale allowed) into one conv"

    public init(options: PassOptions) {}

    struct Branch {
        var conv: Node?
        var bn: Node?
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        _ = try graph.verified(for: Self.name)
        var folding = ConvFolding(weights: try context.requireWeights(Self.name))
        var fusedCount = 0
        // Roots: Add nodes whose output is not itself summed further.
        let roots = graph.nodes.filter { node in
            node.op == .add && !(graph.hasSingleUse(node.outputs[0]) && graph.consumers(of: node.outputs[0]).first.map { graph.nodes[$0].op == .add } == true)
        }.map(\.name)
        for rootName in roots {
            guard let root = graph.node(named: rootName) else { continue }
            do throws(NodeError) {
                if let summary = try fuse(root, graph: &graph, folding: &folding) {
                    fusedCount += 1
                    context.remark(summary, node: rootName)
                }
            } catch {
                context.remark("not fused: \(error.message)", node: rootName, id: .notFused)
            }
        }
        if fusedCount > 0 {
            try folding.finish(&graph, pass: Self.name)
            let removed = graph.eliminateDeadCode()
            context.weights = folding.weights
            context.weightsChanged = true
            context.remark("fused \(fusedCount) branch group(s); \(removed.count) nodes and parameters left the graph")
        }
        return fusedCount > 0
    }

    /// Fuses the Add tree at `root` and says what it did; nil when it is not a branch sum (no conv among
    /// the leaves). Everything is checked before the graph is touched: a refusal leaves it as it was.
    func fuse(_ root: Node, graph: inout Graph, folding: inout ConvFolding) throws(NodeError) -> String? {
        // `folding.weights` is read in place: a local copy alive across `folding.replace` would copy
        // every tensor entry per fusion.
        let (adds, leaves) = sumTree(at: root, in: graph)
        let branches = leaves.map { branch(ending: $0, in: graph) }
        let convs = branches.compactMap(\.conv)
        guard let first = convs.first else { return nil }
        for (branch, leaf) in zip(branches, leaves) {
            let source = branch.conv?.inputs[0] ?? branch.bn?.inputs[0] ?? leaf
            guard source == first.inputs[0] else { throw NodeError(.notFused, "the branches read different inputs ('\(source)' and '\(first.inputs[0])')") }
            for node in [branch.conv, branch.bn].compactMap({ $0 }) where !graph.hasSingleUse(node.outputs[0]) {
                throw NodeError(.notFused, "'\(node.name)' is read outside the sum")
            }
        }
        let layout = try SharedLayout(convs, weights: folding.weights)
        guard let largest = convs.max(by: { (folding.weights[$0.inputs[1]]?.count ?? 0) < (folding.weights[$1.inputs[1]]?.count ?? 0) }),
              let shapeOfLargest = folding.weights[largest.inputs[1]]?.shape else { throw NodeError(.missingParameter, "conv weights have no data") }
        var total = try summedWeights(branches, outputs: shapeOfLargest[0], inputsPerGroup: shapeOfLargest[1], layout: layout, weights: folding.weights)
        var output = root.outputs[0]
        let scale = trailingScale(of: output, in: graph, weights: folding.weights)
        if let scale {
            for i in total.kernel.indices { total.kernel[i] *= scale.factor }
            for o in total.bias.indices { total.bias[o] *= scale.factor }
            output = scale.node.outputs[0]
        }
        // A BatchNormalization after the sum (ACNet's block: convs, sum, scale, BN) folds in as well.
        var trailingBN: Node?
        if graph.hasSingleUse(output), let b = graph.consumers(of: output).first, graph.nodes[b].op == .batchNormalization,
           graph.nodes[b].inputs[0] == output, let affine = try? BatchNormAffine(graph.nodes[b], weights: folding.weights) {
            total.fold(affine)
            trailingBN = graph.nodes[b]
            output = graph.nodes[b].outputs[0]
        }
        var fused = largest
        fused.attributes["pads"] = layout.pads == [0, 0, 0, 0] ? nil : .ints(layout.pads)
        let absorbed = adds + [scale?.node, trailingBN].compactMap { $0 } + branches.compactMap(\.bn) + convs.filter { $0.name != largest.name }
        folding.replace(conv: fused, removing: absorbed, with: total, output: output, in: &graph)
        let kinds = branches.map { b in b.conv.map { c in (folding.weights[c.inputs[1]]?.shape.suffix(2).map(String.init).joined(separator: "x")) ?? "conv" } ?? "identity" }
        let extras = [scale == nil ? nil : "a scale", trailingBN == nil ? nil : "the BatchNormalization after the sum"].compactMap { $0 }
        return "fused \(branches.count) branches (\(kinds.joined(separator: " + ")))\(extras.isEmpty ? "" : " and " + extras.joined(separator: " and ")) into '\(largest.name)'"
    }

    /// The Add nodes of the tree at `root` whose inner sums have no other readers, and its leaves.
    func sumTree(at root: Node, in graph: Graph) -> (adds: [Node], leaves: [String]) {
        var adds: [Node] = [], leaves: [String] = []
        var pending = [root]
        while let add = pending.popLast() {
            adds.append(add)
            for value in add.inputs {
                if let p = graph.producerIndex(of: value), graph.nodes[p].op == .add, graph.hasSingleUse(value) {
                    pending.append(graph.nodes[p])
                } else {
                    leaves.append(value)
                }
            }
        }
        return (adds, leaves)
    }

    /// A leaf as a branch: [BN](Conv(x)), or x / BN(x) itself (an identity branch).
    func branch(ending leaf: String, in graph: Graph) -> Branch {
        var branch = Branch()
        var value = leaf
        if let p = graph.producerIndex(of: value), graph.nodes[p].op == .batchNormalization {
            branch.bn = graph.nodes[p]
            value = graph.nodes[p].inputs[0]
        }
        if let p = graph.producerIndex(of: value), graph.nodes[p].op == .conv {
            branch.conv = graph.nodes[p]
        }
        return branch
    }

    /// What the fused conv's branches must share: strides, groups, dilation 1, and kernels that sit
    /// centred in the largest one (`size`) with the same resulting padding.
    struct SharedLayout {
        var size: [Int], pads: [Int], strides: [Int], groups: Int

        init(_ convs: [Node], weights: [String: Tensor]) throws(NodeError) {
            let geometries = try convs.map { conv throws(NodeError) in
                try conv.convGeometry(weightShape: (weights[conv.inputs[1]]?.shape ?? []).map(Dim.fixed))
            }
            let groups = try convs.map { conv throws(NodeError) in try conv.int("group") }
            guard Set(geometries.map(\.strides)).count == 1 else { throw NodeError(.notFused, "the convs' strides differ") }
            guard Set(groups).count == 1 else { throw NodeError(.notFused, "the convs' groups differ") }
            guard geometries.allSatisfy({ $0.dilations == [1, 1] }) else { throw NodeError(.notFused, "dilated convs are not fused") }
            let size = [geometries.map { $0.kernel[0] }.max() ?? 1, geometries.map { $0.kernel[1] }.max() ?? 1]
            func centredPads(_ g: WindowGeometry) throws(NodeError) -> [Int] {
                let (dh, dw) = (size[0] - g.kernel[0], size[1] - g.kernel[1])
                guard dh % 2 == 0, dw % 2 == 0 else { throw NodeError(.notFused, "a \(g.kernel) kernel has no centre in \(size)") }
                return [g.pads[0] + dh / 2, g.pads[1] + dw / 2, g.pads[2] + dh / 2, g.pads[3] + dw / 2]
            }
            let pads = try centredPads(geometries[0])
            for g in geometries.dropFirst() where try centredPads(g) != pads {
                throw NodeError(.notFused, "kernels are not aligned: padding \(g.pads) for \(g.kernel) does not match \(pads) in \(size)")
            }
            (self.size, self.pads, self.strides, self.groups) = (size, pads, geometries[0].strides, groups[0])
        }

        /// An identity branch is a centred one-tap kernel: it needs stride 1 and "same" padding.
        var admitsIdentity: Bool {
            strides == [1, 1] && (pads == [(size[0] - 1) / 2, (size[1] - 1) / 2, size[0] / 2, size[1] / 2] || size == [1, 1] && pads == [0, 0, 0, 0])
        }
    }

    /// The branches' kernels and biases summed in double, each BN folded into its conv, smaller kernels
    /// placed at the centre of `layout.size`, an identity branch as a centred one.
    func summedWeights(_ branches: [Branch], outputs: Int, inputsPerGroup: Int, layout: SharedLayout, weights: [String: Tensor]) throws(NodeError) -> ConvWeights {
        let size = layout.size
        var total = ConvWeights(shape: [outputs, inputsPerGroup, size[0], size[1]],
                                kernel: Array(repeating: 0, count: outputs * inputsPerGroup * size[0] * size[1]), bias: nil)
        for branch in branches {
            if let conv = branch.conv {
                guard var w = try convWeights(conv, weights), w.shape[0] == outputs, w.shape[1] == inputsPerGroup else {
                    throw NodeError(.notFused, "'\(conv.name)' has other channel counts or no weight data")
                }
                if let bn = branch.bn { w.fold(try BatchNormAffine(bn, weights: weights)) }
                let placed = w.embedded(in: size)
                for i in total.kernel.indices { total.kernel[i] += placed.kernel[i] }
                for o in total.bias.indices { total.bias[o] += placed.bias[o] }
            } else {
                guard layout.admitsIdentity, inputsPerGroup * layout.groups == outputs else {
                    throw NodeError(.notFused, "an identity branch needs stride 1, 'same' padding and as many outputs as inputs")
                }
                let affine = try branch.bn.map { bn throws(NodeError) in try BatchNormAffine(bn, weights: weights) }
                for o in 0..<outputs {
                    let centre = ((o * inputsPerGroup + o % inputsPerGroup) * size[0] + size[0] / 2) * size[1] + size[1] / 2
                    total.kernel[centre] += affine?.scale[o] ?? 1
                    total.bias[o] += affine?.offset[o] ?? 0
                }
            }
        }
        return total
    }

    /// A Mul of the sum by a one-element constant, or a Div of it by one (the seed's `(c + h + v) / 3`),
    /// which the fused conv absorbs.
    func trailingScale(of sum: String, in graph: Graph, weights: [String: Tensor]) -> (factor: Double, node: Node)? {
        guard graph.hasSingleUse(sum), let m = graph.consumers(of: sum).first else { return nil }
        let scale = graph.nodes[m]
        guard scale.op == .mul || scale.op == .div && scale.inputs[0] == sum, scale.inputs.count == 2 else { return nil }
        let other = scale.inputs[0] == sum ? scale.inputs[1] : scale.inputs[0]
        let constant = graph.parameter(named: other).flatMap { $0.inlineData.map { Tensor(shape: [$0.count], values: $0) } } ?? weights[other]
        guard let constant, constant.count == 1, constant[0] != 0 else { return nil }
        return (scale.op == .mul ? Double(constant[0]) : 1 / Double(constant[0]), scale)
    }
}
