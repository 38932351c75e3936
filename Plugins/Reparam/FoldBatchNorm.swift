import LowpassIR
import LowpassPasses
import LowpassTensor

/// Folds BatchNormalization into the convolution next to it, exactly.
///
///     Before: %c = Conv(x, w); %b = BatchNormalization(c, g, beta, mean, var)
///     After:  %b = Conv(x, w', w.bias')      (w' = w * g / sqrt(var + eps), bias' = beta + (bias - mean) * ...)
///
/// A BN *before* a conv folds too when the conv has no padding (a padded border would see zeros where the
/// BN would have put its shift); otherwise it is left, with a remark saying why. The conv keeps its
/// weight's name; its bias is `<weight prefix>.bias`. The BN's parameters leave the graph (reported).
public struct FoldBatchNorm: Pass {
    public static let name = "fold-bn"
    public static let summary = "fold BatchNormalization into the adjacent Conv (after it always; before it when the conv has no padding)"

    public init(options: PassOptions) {}

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        _ = try graph.verified(for: Self.name)
        var folding = ConvFolding(weights: try context.requireWeights(Self.name))
        var changed = false
        var folded: [String] = []
        // By name: each fold removes a node, which shifts the indices `chains` returned.
        let after = graph.chains([.conv, .batchNormalization]).map { (graph.nodes[$0[0]].name, graph.nodes[$0[1]].name) }
        for (convName, bnName) in after {
            guard let conv = graph.node(named: convName), let bn = graph.node(named: bnName) else { continue }
            do throws(NodeError) {
                guard var w = try convWeights(conv, folding.weights) else { continue }
                w.fold(try BatchNormAffine(bn, weights: folding.weights))
                folding.replace(conv: conv, removing: [bn], with: w, output: bn.outputs[0], in: &graph)
                folded.append(bn.name)
                changed = true
            } catch {
                context.remark("not folded: \(error.message)", node: bn.name, id: .notFolded)
            }
        }
        let before = graph.chains([.batchNormalization, .conv]).map { (graph.nodes[$0[0]].name, graph.nodes[$0[1]].name) }
        for (bnName, convName) in before {
            guard let bn = graph.node(named: bnName), let conv = graph.node(named: convName) else { continue }
            do throws(NodeError) {
                guard (try conv.ints("pads")) == [0, 0, 0, 0] else {
                    context.remark("BN before a padded conv is not folded: the padded border would differ", node: bn.name, id: .notFolded)
                    continue
                }
                guard var w = try convWeights(conv, folding.weights) else { continue }
                let affine = try BatchNormAffine(bn, weights: folding.weights)
                let group = try conv.int("group")
                let perGroup = w.shape[1], window = w.shape[2] * w.shape[3]
                for o in 0..<w.outputs {
                    let firstInput = (o / (w.outputs / group)) * perGroup
                    for i in 0..<perGroup {
                        for k in 0..<window {
                            let index = (o * perGroup + i) * window + k
                            w.bias[o] += w.kernel[index] * affine.offset[firstInput + i]
                            w.kernel[index] *= affine.scale[firstInput + i]
                        }
                    }
                }
                var rewired = conv
                rewired.inputs[0] = bn.inputs[0]
                folding.replace(conv: rewired, removing: [bn], with: w, output: conv.outputs[0], in: &graph)
                folded.append(bn.name)
                changed = true
            } catch {
                context.remark("not folded: \(error.message)", node: bn.name, id: .notFolded)
            }
        }
        if changed {
            try folding.finish(&graph, pass: Self.name)
            graph.eliminateDeadCode()
            context.weights = folding.weights
            context.weightsChanged = true
            context.remark("folded \(folded.count) BatchNormalization node(s); their parameters left the graph: \(folded.prefix(8).joined(separator: ", "))\(folded.count > 8 ? ", ..." : "")")
        }
        return changed
    }
}

/// The conv's kernel and bias from the weights, or nil when they are not parameters with data.
func convWeights(_ conv: Node, _ weights: [String: Tensor]) throws(NodeError) -> ConvWeights? {
    guard let kernel = weights[conv.inputs[1]], kernel.rank == 4 else { return nil }
    let bias = conv.inputs.count > 2 ? weights[conv.inputs[2]].map { b in (0..<b.count).map { Double(b[$0]) } } : nil
    if conv.inputs.count > 2 && bias == nil { return nil }
    return ConvWeights(shape: kernel.shape, kernel: (0..<kernel.count).map { Double(kernel[$0]) }, bias: bias)
}
