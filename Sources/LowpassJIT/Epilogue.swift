import CLLVM
import LowpassIR

/// A one-input element-wise op (an activation) a producer applies in its epilogue.
struct Activation: Hashable, CustomStringConvertible {
    /// For `kind`: the op's name, and Clip's bounds.
    var name: String
    var expression: ScalarExpression

    init(_ node: Node) throws(NodeError) {
        expression = try node.scalarExpression()
        name = node.op == .clip ? "clip(\(try node.float("min")),\(try node.float("max")))" : node.op.rawValue.lowercased()
    }

    func apply(_ e: Emitter, _ v: Value) -> Value { expression.emit(e, [v], like: v) }

    var description: String { name }
}

/// The end of every conv kernel for one vector of outputs: the residual (same layout as the output)
/// added, the activation applied, one store.
func storeConvOutput(_ e: Emitter, _ value: Value, residual: Value?, activation: Activation?, to base: Value, at index: Value, mask: Value?) {
    var v = value
    if let residual { v = e.fadd(v, e.loadVector(residual, index, mask: mask)) }
    if let activation { v = activation.apply(e, v) }
    e.storeVector(v, base, index, mask: mask)
}
