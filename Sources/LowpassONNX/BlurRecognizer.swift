import LowpassIR
import LowpassTensor

/// Finds the blur other tools export (antialiased_cnns, Lowpass itself): a depthwise Conv whose fixed
/// weights are one normalized binomial filter for every channel, with no bias, dilation 1, a square
/// stride, padded by a preceding Pad (reflect, edge, wrap or zero) or by its own zero pads. Each becomes one
/// `BlurPool`, so imported antialiased models get the fused kernels. A conv that only looks similar
/// (other weights, a bias, uneven channels) stays as it is.
enum BlurRecognizer {
    static func raise(_ graph: inout Graph, weights: inout [String: Tensor], remarks: inout [String]) {
        var raised = 0
        // Pads and filters leave in one sweep at the end; node swaps go through the use-def index.
        var absorbedPads = Set<String>(), filters = Set<String>()
        for name in graph.nodes.filter({ $0.op == .conv }).map(\.name) {
            guard let index = graph.index(ofNodeNamed: name) else { continue }
            let conv = graph.nodes[index]
            guard conv.inputs.count == 2, let weight = weights[conv.inputs[1]], weight.rank == 4, weight.shape[1] == 1,
                  weight.shape[2] == weight.shape[3], let group = try? conv.int("group"), group == weight.shape[0],
                  (try? conv.ints("dilations")) == [1, 1], let strides = try? conv.ints("strides"), strides[0] == strides[1],
                  let convPads = try? conv.ints("pads"), let size = Optional(weight.shape[2]), isBinomial(weight, size: size),
                  graph.useCount(of: conv.inputs[1]) == 1 else { continue }
            var input = conv.inputs[0]
            var pads = convPads
            var mode = "zero"
            var padNode: String?
            if convPads == [0, 0, 0, 0], let producer = graph.producerIndex(of: input), graph.nodes[producer].op == .pad,
               graph.hasSingleUse(input), let spatial = spatialPads(graph.nodes[producer]) {
                let pad = graph.nodes[producer]
                let value = (try? pad.float("value")) ?? 0
                switch (try? pad.string("mode")) ?? "constant" {
                case "reflect": mode = "reflect"
                case "edge": mode = "replicate"
                case "wrap": mode = "circular"
                default: mode = value == 0 ? "zero" : "unsupported"
                }
                if mode != "unsupported" {
                    pads = spatial
                    input = pad.inputs[0]
                    padNode = pad.name
                }
            }
            guard mode != "unsupported" else { continue }
            var attributes: Attributes = ["filter_size": .int(size)]
            if strides != [2, 2] { attributes["strides"] = .ints(strides) }
            if mode != "reflect" { attributes["pad_mode"] = .string(mode) }
            if pads != BlurPoolSpec.defaultPads(filterSize: size, padOff: 0) { attributes["pads"] = .ints(pads) }
            graph.replaceNode(at: index, with: [Node(name: conv.name, op: .blurPool, inputs: [input], outputs: conv.outputs, attributes: attributes)])
            if let padNode { absorbedPads.insert(padNode) }
            filters.insert(conv.inputs[1])
            weights[conv.inputs[1]] = nil
            raised += 1
        }
        if raised > 0 {
            graph.nodes.removeAll { absorbedPads.contains($0.name) }
            graph.parameters.removeAll { filters.contains($0.name) }
            remarks.append("raised \(raised) blur(s) (Pad + depthwise binomial Conv) to BlurPool; their fixed filter weights are dropped")
        }
    }

    /// [top, left, bottom, right] of a Pad that pads only the two spatial axes of a 4-D tensor.
    static func spatialPads(_ pad: Node) -> [Int]? {
        guard let pads = try? pad.ints("pads"), pads.count == 8, pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0,
              pads.allSatisfy({ $0 >= 0 }) else { return nil }
        return [pads[2], pads[3], pads[6], pads[7]]
    }

    /// Whether every channel's filter is the normalized binomial outer product of `size` taps.
    static func isBinomial(_ weight: Tensor, size: Int) -> Bool {
        guard (1...16).contains(size) else { return false }
        let taps = BlurPoolSpec.binomialTaps(size)
        let plane = size * size
        for c in 0..<weight.shape[0] {
            for i in 0..<size {
                for j in 0..<size where abs(Double(weight[c * plane + i * size + j]) - taps[i] * taps[j]) > 1e-6 {
                    return false
                }
            }
        }
        return true
    }
}
