import CLLVM

/// The activations a producer applies in its epilogue.
enum Activation: Hashable, CustomStringConvertible {
    case relu
    case clip(Double, Double)

    func apply(_ e: Emitter, _ v: Value) -> Value {
        switch self {
        case .relu: return e.fmax(v, e.constant(0, like: v))
        case .clip(let low, let high): return e.fmin(e.fmax(v, e.constant(low, like: v)), e.constant(high, like: v))
        }
    }

    var description: String {
        switch self {
        case .relu: return "relu"
        case .clip(let low, let high): return "clip(\(low),\(high))"
        }
    }
}

/// The end of every conv kernel for one vector of outputs: the residual (same layout as the output)
/// added, the activation applied, one store.
func storeConvOutput(_ e: Emitter, _ value: Value, residual: Value?, activation: Activation?, to base: Value, at index: Value, mask: Value?) {
    var v = value
    if let residual { v = e.fadd(v, e.loadVector(residual, index, mask: mask)) }
    if let activation { v = activation.apply(e, v) }
    e.storeVector(v, base, index, mask: mask)
}
