/// The number format a model's convolutions compute in.
///
/// - `f32`: every value a 32-bit float.
/// - `bf16`: each Conv node's input and weight rounded to bfloat16 (round to nearest, ties to even),
///   their products summed in fp32; everything else, the conv's bias among it, in fp32. BatchNorm
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

public extension Float {
    /// The bfloat16 nearest to this float (ties to even), as the float it stands for. NaN stays a
    /// (quiet) NaN, infinities stay infinite, and finite values past bfloat16's largest round to infinity.
    var roundedToBFloat16: Float { Float(bitPattern: UInt32(bfloat16Bits) << 16) }

    /// This float rounded to bfloat16 (`roundedToBFloat16`), as bfloat16's 16 bits.
    var bfloat16Bits: UInt16 {
        let bits = bitPattern
        if isNaN { return UInt16((bits | 0x0040_0000) >> 16) }
        // Adding 0x7FFF rounds halfway cases down, the low bit of the kept part pushes them up to even.
        return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}

public extension Tensor {
    /// Every element rounded to bfloat16 (`Float.roundedToBFloat16`).
    func roundedToBFloat16() -> Tensor {
        Tensor(shape: shape) { self[$0].roundedToBFloat16 }
    }
}
