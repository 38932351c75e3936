import CLLVM
import LowpassIR

/// A function of one value (an activation) a producer applies in its epilogue: one node, or the
/// nodes an exporter wrote it out as (`Graph.scalarFunctionRegion`).
struct Activation: Hashable, CustomStringConvertible {
    /// For `kind`: the op's name (Clip's with its bounds), or the region's op names.
    var name: String
    var expression: ScalarExpression

    /// `nodes` in dataflow order compute a function of `value`; their other inputs are one-element
    /// constants, read by `constant`. A node for which `roundsOperands` holds reads its operands rounded
    /// to bfloat16 (`Lowering.roundsOperands`).
    init(_ nodes: [Node], of value: String, roundsOperands: (Node) -> Bool = { _ in false }, constant: (String) -> Double?) throws(NodeError) {
        var expressions: [String: ScalarExpression] = [value: .x]
        var last = ScalarExpression.x
        for node in nodes {
            let inputs = try node.inputs.map { (name) throws(NodeError) -> ScalarExpression in
                if let known = expressions[name] { return known }
                guard let c = constant(name) else { throw NodeError(.jitInternal, "activation input '\(name)' is neither \(value) nor a constant") }
                return .constant(c)
            }
            let operands = roundsOperands(node) ? inputs.map { ScalarExpression.unary(.roundToBFloat16, $0) } : inputs
            last = try node.scalarExpression().substituting { operands[$0] }
            expressions[node.outputs[0]] = last
        }
        expression = last
        if nodes.count == 1, let node = nodes.first {
            name = node.op == .clip ? "clip(\(try node.float("min")),\(try node.float("max")))" : node.op.rawValue.lowercased()
        } else {
            name = "(" + nodes.map { $0.op.rawValue.lowercased() }.joined(separator: ",") + ")"
        }
    }

    func apply(_ e: Emitter, _ v: Value) -> Value { expression.emit(e, [v], like: v) }

    /// `c` where the activation is `max(x, c)` (ReLU: 0), nil for any other: code can then read the
    /// bound at run time and serve both ReLU and no activation.
    var lowerBound: Double? {
        guard case .binary(.max, .x, .constant(let bound)) = expression, !bound.isNaN else { return nil }
        return bound
    }

    var description: String { name }
}

/// A filter's sum (a vector or one float) plus its bias; with `scales`, times its scale first, the conv's
/// bias argument then holding `filters` shifts followed by `filters` scales (`ConvKernel.scalesSums`).
func scaledAndShifted(_ e: Emitter, _ sum: Value, bias: Value, filter: Value, filters: Value, scales: Bool) -> Value {
    let isVector = LLVMGetTypeKind(LLVMTypeOf(sum)) == LLVMVectorTypeKind
    func read(_ index: Value) -> Value { isVector ? e.splat(e.load(bias, index)) : e.load(bias, index) }
    guard scales else { return e.fadd(sum, read(filter)) }
    return e.fma(sum, read(e.add(filters, filter)), read(filter))
}

/// A conv's finished output for one vector: `residual`, as `readResidual` gives it, added, the
/// activation applied.
func convOutput(_ e: Emitter, _ value: Value, plus residual: Value?, bf16: Bool, activate: (Value) -> Value) -> Value {
    guard let residual else { return activate(value) }
    return activate(addingResidual(e, value, residual, bf16: bf16))
}

/// The residual a conv reads from floats `base` at `index` (a vector, or one float with `scalar`): in
/// bf16 rounded, as the reference reads an Add of two activations (`ReferenceInterpreter.addsActivations`).
func readResidual(_ e: Emitter, _ base: Value, at index: Value, mask: Value?, bf16: Bool, scalar: Bool = false) -> Value {
    e.asStored(scalar ? e.load(base, index) : e.loadVector(base, index, mask: mask), bf16: bf16)
}

/// A conv's value (a vector or one float) plus its residual `r` (`readResidual`): in bf16 the value
/// rounded first, as the reference reads an Add of two activations.
func addingResidual(_ e: Emitter, _ value: Value, _ r: Value, bf16: Bool) -> Value {
    e.fadd(e.asStored(value, bf16: bf16), r)
}

/// The end of every conv kernel for one vector of outputs: `convOutput`, one store.
func storeConvOutput(_ e: Emitter, _ value: Value, plus residual: Value?, bf16: Bool, activate: (Value) -> Value,
                     to base: Value, at index: Value, mask: Value?) {
    e.storeVector(convOutput(e, value, plus: residual, bf16: bf16, activate: activate), base, index, mask: mask)
}
