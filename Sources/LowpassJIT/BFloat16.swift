import CLLVM
import LowpassTensor

/// bfloat16 in the kernels (`Precision.bf16`): rounding float vectors, packing two into one vector
/// of pairs, and the pairs' dot product.
///
/// A pair vector holds, in each 32-bit lane, two bfloat16s: the lane's value of one vector (`even`)
/// in the low 16 bits and of another (`odd`) in the high 16 bits. That is the operand layout of
/// AVX512_BF16's `vdpbf16ps`, which adds `odd * odd' + even * even'` to each fp32 lane, so a conv
/// packs consecutive input channels as the pair and one instruction does two reduction steps.
/// The layout travels in float-typed vectors and buffers; only its bits matter.
extension Emitter {
    /// Float `v` (a vector or one float) rounded to bfloat16 (ties to even; NaN stays NaN), as the
    /// floats they stand for: the rounded value's bits in the high 16 bits of each lane, zeros in the low ones.
    func roundedToBFloat16(_ v: Value) -> Value {
        bitcast(roundedBits(v), to: LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind ? floatVector : f32)
    }

    /// `roundedToBFloat16`, where the target has AVX512_BF16 by `vcvtneps2bf16` (3 instructions
    /// against a dozen; subnormals become zero, as in the pair planes): for a conv's epilogue.
    func roundedToBFloat16Natively(_ v: Value) -> Value {
        guard module.target.hasNativeBFloat16, LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind else { return roundedToBFloat16(v) }
        let halves = intrinsic("llvm.x86.avx512bf16.cvtneps2bf16.512", [], [v])
        // Each bfloat16 into the high half of its lane, zeros (the second operand's) into the low one.
        let widened = shuffle(halves, LLVMConstNull(LLVMTypeOf(halves)), order: (0..<(2 * lanes)).map { $0 % 2 == 0 ? lanes : $0 / 2 })
        return bitcast(widened, to: floatVector)
    }

    /// `v` as bf16 stores an activation (`roundedToBFloat16Natively`) where `bf16`, else `v`: what a
    /// residual add, a pool or a blur reads (`ReferenceInterpreter.addsActivations`, `isPoolOrBlur`).
    func asStored(_ v: Value, bf16: Bool) -> Value { bf16 ? roundedToBFloat16Natively(v) : v }

    /// One bfloat16 of each pair in `pairs` (a vector of pairs or one pair), as the float it stands
    /// for: the high half where `odd`, else the low one.
    func bfloat16Half(of pairs: Value, odd: Value) -> Value {
        let isVector = LLVMGetTypeKind(LLVMTypeOf(pairs)) == LLVMVectorTypeKind
        let shift = select(odd, int32(0), int32(16))
        let kept = and(shiftLeft(bitcast(pairs, to: isVector ? intVector : i32), isVector ? splatInt32(shift) : shift),
                       isVector ? intVectorConstant(Int(Int32(bitPattern: 0xFFFF_0000))) : int32(Int(Int32(bitPattern: 0xFFFF_0000))))
        return bitcast(kept, to: isVector ? floatVector : f32)
    }

    /// The lanes of float vectors `even` and `odd` (or two floats), rounded to bfloat16, as one vector
    /// of pairs (or one pair). Where
    /// the target has AVX512_BF16, `vcvtne2ps2bf16` rounds both (the same rounding, but subnormals
    /// become zero) into 16 + 16 halves that `vpermw` interleaves: 2 instructions where the integer
    /// rounding takes a dozen, on the path that fills every conv's patch.
    func bfloat16Pairs(even: Value, odd: Value) -> Value {
        let isVector = LLVMGetTypeKind(LLVMTypeOf(even)) == LLVMVectorTypeKind
        if isVector && module.target.hasNativeBFloat16 {
            let i16 = LLVMInt16TypeInContext(module.context)!, halves = LLVMVectorType(i16, UInt32(2 * lanes))!
            // Lanes 0..<16 of the result are `even`'s, 16..<32 `odd`'s.
            let both = intrinsic("llvm.x86.avx512bf16.cvtne2ps2bf16.512", [], [odd, even])
            return bitcast(shuffle(both, LLVMGetUndef(halves)!, order: (0..<(2 * lanes)).map { $0 / 2 + ($0 % 2) * lanes }), to: floatVector)
        }
        let low = shiftRight(roundedBits(even), isVector ? intVectorConstant(16) : int32(16))
        return bitcast(or(low, roundedBits(odd)), to: isVector ? floatVector : f32)
    }

    /// 2 x lanes consecutive floats, `low`'s lanes then `high`'s, rounded to bfloat16, as pairs: lane i
    /// holds floats 2i (low half) and 2i + 1. With AVX512_BF16 one `vcvtne2ps2bf16`, whose halves are
    /// in this order already.
    func bfloat16PairsOfConsecutive(low: Value, high: Value) -> Value {
        if module.target.hasNativeBFloat16 {
            return bitcast(intrinsic("llvm.x86.avx512bf16.cvtne2ps2bf16.512", [], [high, low]), to: floatVector)
        }
        // Each rounded float's high 16 bits, in order.
        let i16 = LLVMInt16TypeInContext(module.context)!
        let both = shuffle(roundedBits(low), roundedBits(high), order: Array(0..<(2 * lanes)))
        let halves = bitcast(both, to: LLVMVectorType(i16, UInt32(4 * lanes))!)
        return bitcast(shuffle(halves, LLVMGetUndef(LLVMTypeOf(halves))!, order: (0..<(2 * lanes)).map { 2 * $0 + 1 }), to: floatVector)
    }

    /// `accumulator + odd(a) * odd(b) + even(a) * even(b)` lane by lane, for pair vectors `a` and `b`,
    /// in that order: `vdpbf16ps` where `native`, else the same two steps as fused multiply-adds on
    /// the halves widened to floats. A product of two bfloat16s is exact in fp32, so each step rounds
    /// once either way and the two agree bit for bit (but for subnormals, which `vdpbf16ps` flushes
    /// to zero).
    func dotBFloat16Pairs(_ a: Value, _ b: Value, adding accumulator: Value, native: Bool) -> Value {
        let (a, b) = (bitcast(a, to: intVector), bitcast(b, to: intVector))
        if native {
            return intrinsic("llvm.x86.avx512bf16.dpbf16ps.512", [], [accumulator, a, b])
        }
        let highHalf = intVectorConstant(Int(Int32(bitPattern: 0xFFFF_0000)))
        func odd(_ v: Value) -> Value { bitcast(and(v, highHalf), to: floatVector) }
        func even(_ v: Value) -> Value { bitcast(shiftLeft(v, intVectorConstant(16)), to: floatVector) }
        return fma(even(a), even(b), fma(odd(a), odd(b), accumulator))
    }

    /// A float vector (or one float) rounded to bfloat16, as i32 lanes with the result in the high 16 bits.
    private func roundedBits(_ v: Value) -> Value {
        let isVector = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind
        func constant(_ c: Int) -> Value { isVector ? intVectorConstant(c) : int32(c) }
        let bits = bitcast(v, to: isVector ? intVector : i32)
        // Adding 0x7FFF rounds halfway cases down; the low bit of the kept part pushes them up to even.
        let keptLowBit = and(shiftRight(bits, constant(16)), constant(1))
        let rounded = add(add(bits, constant(0x7FFF)), keptLowBit)
        // NaN would round to infinity or change sign; it stays NaN, made quiet.
        let quietNaN = or(bits, constant(0x0040_0000))
        let kept = select(fcompare(LLVMRealUNO, v, v), quietNaN, rounded)
        return and(kept, constant(Int(Int32(bitPattern: 0xFFFF_0000))))
    }
}

public extension Target {
    /// Whether the code for this target multiplies bfloat16 pairs in one instruction (`vdpbf16ps`:
    /// AVX512_BF16, with 16-lane code).
    var hasNativeBFloat16: Bool { lanes == 16 && has("avx512bf16") }
}

public extension Precision {
    /// What `--precision auto` picks: `bf16` where the target multiplies bfloat16 faster than floats,
    /// else `f32`. With AMX, by tiles. Without it, by `vdpbf16ps` where that is the CPU's fastest
    /// multiply (AMD Zen 4 and 5 run it at twice the FMA's rate: 3x3 convs at 736-780 GFLOP/s against
    /// f32's 417-425 on the Zen 5 of docs/performance.md) but not on a CPU that has AMX and
    /// did not lend it: Sapphire Rapids runs `vdpbf16ps` at half the FMA's rate (bf16 convs 147 GFLOP/s
    /// against f32's 267 on the Xeon of docs/performance.md).
    static func automatic(for target: Target) -> Precision {
        target.hasAMX || (target.hasNativeBFloat16 && !target.has("amx-bf16")) ? .bf16 : .f32
    }
}
