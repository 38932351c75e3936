/// bfloat16: a float's sign, exponent and top 8 bits of its significand. Rounding to it is the one
/// definition the reference, constant folding and the tests share (the JIT emits the same bits).
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

