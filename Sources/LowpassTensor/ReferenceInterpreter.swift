import LowpassIR

/// The oracle: runs a graph op by op with plain loops and double-precision accumulation.
///
/// It is written to be obviously right, not fast; every faster engine is tested against it.
public struct ReferenceInterpreter: Sendable {
    /// Where the computation rounds (`Precision`): with `bf16`, each Conv's input and weight, and both
    /// operands of an Add of two activations (neither a parameter: a residual).
    public var precision: Precision

    public init(precision: Precision = .f32) { self.precision = precision }

    /// One node on constant inputs (constant folding): its output shape by the op's shape rule.
    public static func evaluate(_ node: Node, _ inputs: [Tensor]) throws(NodeError) -> Tensor {
        let types = try node.schema.shape(node, inputs.map { TensorType(fixed: $0.shape) })
        guard let shape = types.first?.fixedShape else { throw NodeError(.unresolvedShape, "the output has no concrete shape") }
        return try ReferenceKernels.evaluate(node, inputs, outputShape: shape)
    }

    /// Runs `graph` on `inputs` (by graph input name) and returns every graph output by name.
    public func run(_ graph: Graph, weights: Weights, inputs: [String: Tensor]) throws(Diagnostics) -> [String: Tensor] {
        let binding = try graph.bindInputs(shapes: inputs.mapValues(\.shape))
        let verified = try graph.verify(parameterDataShapes: weights.tensors.mapValues(\.shape), binding: binding)

        var values = weights.tensors
        for input in graph.inputs { values[input.name] = inputs[input.name] }
        var remainingUses: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs { remainingUses[input, default: 0] += 1 } }
        for output in graph.outputs { remainingUses[output, default: 0] += 1 }

        let parameters = Set(graph.parameters.map(\.name))
        for index in verified.order {
            let node = graph.nodes[index]
            let arguments = node.inputs.compactMap { values[$0] }
            let outputShapes = node.outputs.compactMap { verified.types[$0]?.fixedShape }
            guard arguments.count == node.inputs.count, outputShapes.count == node.outputs.count else {
                throw Diagnostics([Diagnostic(.unresolvedShape, "an input or output has no concrete shape", at: .node(node.name))])
            }
            do throws(NodeError) {
                let result = try ReferenceKernels.evaluate(node, rounded(arguments, for: node, parameters: parameters), outputShape: outputShapes[0])
                values[node.outputs[0]] = result
            } catch {
                throw Diagnostics([Diagnostic(error.id, error.message, at: .node(node.name))])
            }
            for input in node.inputs {
                remainingUses[input, default: 0] -= 1
                if remainingUses[input] == 0 && weights.tensors[input] == nil { values[input] = nil }
            }
        }
        var outputs: [String: Tensor] = [:]
        for name in graph.outputs { outputs[name] = values[name] }
        return outputs
    }

    /// A node's operands as `precision` has it read them: in bf16 a Conv's input and weight rounded,
    /// a pool's or blur's input, and an Add's operands where both are activations.
    private func rounded(_ arguments: [Tensor], for node: Node, parameters: Set<String>) -> [Tensor] {
        guard precision == .bf16 else { return arguments }
        switch node.op {
        case .conv: return arguments.enumerated().map { i, tensor in i < 2 ? tensor.roundedToBFloat16() : tensor }
        case let op where Self.isPoolOrBlur(op): return arguments.enumerated().map { i, tensor in i == 0 ? tensor.roundedToBFloat16() : tensor }
        case .add where Self.addsActivations(node, parameters: parameters): return arguments.map { $0.roundedToBFloat16() }
        default: return arguments
        }
    }

    /// Whether `op` is a pool or blur: bf16 reads its input as stored in bfloat16 and computes in fp32.
    /// Rounding commutes with a max, so a max pool's output is bfloat16 too.
    public static func isPoolOrBlur(_ op: OpKind) -> Bool {
        [.maxPool, .averagePool, .globalAveragePool, .adaptiveAveragePool, .blurPool].contains(op)
    }

    /// Whether `node` is an Add of two activations, whose operands bf16 rounds (a residual connection;
    /// an Add of a parameter, such as HardSwish's x + 3, computes in fp32).
    public static func addsActivations(_ node: Node, parameters: Set<String>) -> Bool {
        node.op == .add && node.inputs.count == 2 && !node.inputs.contains(where: parameters.contains)
    }
}
