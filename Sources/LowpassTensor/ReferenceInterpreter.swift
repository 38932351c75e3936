import LowpassIR

/// The oracle: runs a graph op by op with plain loops and double-precision accumulation.
///
/// It is written to be obviously right, not fast; every faster engine is tested against it.
public struct ReferenceInterpreter: Sendable {
    public init() {}

    /// Runs `graph` on `inputs` (by graph input name) and returns every graph output by name.
    public func run(_ graph: Graph, weights: Weights, inputs: [String: Tensor]) throws(Diagnostics) -> [String: Tensor] {
        let binding = try Self.bindInputs(graph, shapes: inputs.mapValues(\.shape))
        let verified = try graph.verify(parameterDataShapes: weights.tensors.mapValues(\.shape), binding: binding)

        var values = weights.tensors
        for input in graph.inputs { values[input.name] = inputs[input.name] }
        var remainingUses: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs { remainingUses[input, default: 0] += 1 } }
        for output in graph.outputs { remainingUses[output, default: 0] += 1 }

        for index in verified.order {
            let node = graph.nodes[index]
            let arguments = node.inputs.compactMap { values[$0] }
            let outputShapes = node.outputs.compactMap { verified.types[$0]?.fixedShape }
            guard arguments.count == node.inputs.count, outputShapes.count == node.outputs.count else {
                throw Diagnostics([Diagnostic("unresolved-shape", "an input or output has no concrete shape", at: .node(node.name))])
            }
            do throws(NodeError) {
                let result = try ReferenceKernels.evaluate(node, arguments, outputShape: outputShapes[0])
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

    /// Checks the shapes of the given inputs against the declared ones and returns the sizes of
    /// symbolic dimensions. Every engine binds its inputs through this one rule.
    public static func bindInputs(_ graph: Graph, shapes inputs: [String: [Int]]) throws(Diagnostics) -> [String: Int] {
        var findings: [Diagnostic] = []
        var binding: [String: Int] = [:]
        for name in inputs.keys.sorted() where !graph.inputs.contains(where: { $0.name == name }) {
            findings.append(Diagnostic("unknown-input", "the graph has no input '\(name)'; its inputs are: \(graph.inputs.map(\.name).joined(separator: ", "))"))
        }
        for declared in graph.inputs {
            guard let shape = inputs[declared.name] else {
                findings.append(Diagnostic("missing-input", "no tensor given for graph input '\(declared.name)' of type \(declared.type)"))
                continue
            }
            let mismatch = Diagnostic("input-shape", "input '\(declared.name)' has shape \(shape), but the graph declares \(declared.type)")
            guard shape.count == declared.type.rank else { findings.append(mismatch); continue }
            // One finding per input, however many of its dimensions differ.
            if zip(declared.type.shape, shape).contains(where: { if case .fixed(let expected) = $0.0 { expected != $0.1 } else { false } }) {
                findings.append(mismatch)
            }
            for (dim, n) in zip(declared.type.shape, shape) {
                switch dim {
                case .symbol(let s):
                    if let bound = binding[s], bound != n {
                        findings.append(Diagnostic("input-shape", "input '\(declared.name)' gives '\(s)' = \(n), but another input gave \(bound)"))
                    }
                    binding[s] = n
                default: break
                }
            }
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        return binding
    }
}
