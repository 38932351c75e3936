/// The number format a model's convolutions compute in.
///
/// - `f32`: every value a 32-bit float.
/// - `bf16`: each Conv node's input and weight rounded to bfloat16 (round to nearest, ties to even),
///   their products summed in fp32, the input of every pool and blur (MaxPool, AveragePool,
///   GlobalAveragePool, AdaptiveAveragePool, BlurPool) rounded and its arithmetic in fp32, and both
///   operands of an Add of two activations (a residual) rounded; everything else, the conv's bias
///   among it, in fp32. BatchNorm
///   after a conv is applied to the conv's fp32 sums, not folded into the rounded weights. A bfloat16
///   keeps a float's exponent and the top 8 bits of its significand, so a rounded value is off by at
///   most 2^-9 of itself, and the product of two is exact in fp32: the engines differ from each other
///   only in the order of the fp32 sums.
///
/// Both engines implement the same rounding points (`ReferenceInterpreter(precision:)` and the JIT's
/// `CompileOptions.precision`), so the JIT's bf16 result is checked against the reference's to fp32
/// tolerances, not bf16 ones.
public enum Precision: String, CaseIterable, Sendable, CustomStringConvertible {
    case f32, bf16
    public var description: String { rawValue }
}

public extension Tensor {
    /// Every element rounded to bfloat16 (`Float.roundedToBFloat16`).
    func roundedToBFloat16() -> Tensor {
        Tensor(shape: shape) { self[$0].roundedToBFloat16 }
    }
}
