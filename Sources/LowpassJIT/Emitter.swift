import CLLVM

typealias Value = LLVMValueRef

/// Builds kernel functions: LLVM's IR builder plus the few structured forms the kernels are written in
/// (counted loops, guarded blocks, mutable locals that mem2reg turns into registers) and explicit
/// `<lanes x float>` vector operations.
///
/// Every kernel has the same signature, `void kernel(float** arguments, i64 begin, i64 end, float* scratch)`:
/// it computes work items `begin..<end` of its own numbering, so the runtime can split any kernel across
/// threads without knowing what it does; `scratch` is the calling thread's own working memory.
final class Emitter {
    let module: LLVMModule
    let lanes: Int
    private let builder: LLVMBuilderRef
    private let localsBuilder: LLVMBuilderRef
    private(set) var function: Value?
    private var entry: LLVMBasicBlockRef?
    private var arguments: Value?
    /// The calling thread's scratch memory (as many floats as the kernel asked for).
    private(set) var scratch: Value?
    /// The current kernel's argument pointers, loaded once in its entry block.
    private var loadedArguments: [Int: Value] = [:]
    /// Its run-time integers (`Kernel.runTimeIntegers`), loaded once in its entry block.
    private var loadedIntegers: [Int: Value] = [:]
    /// The argument that holds the current kernel's run-time integers: its last.
    var runTimeIntegerArgument = 0

    let f32, i64, i32, i1, void: LLVMTypeRef
    let floatVector, intVector, maskVector, floatPointer: LLVMTypeRef

    init(module: LLVMModule) {
        self.module = module
        lanes = module.target.lanes
        builder = LLVMCreateBuilderInContext(module.context)
        localsBuilder = LLVMCreateBuilderInContext(module.context)
        let c = module.context
        f32 = LLVMFloatTypeInContext(c); i64 = LLVMInt64TypeInContext(c); i32 = LLVMInt32TypeInContext(c)
        i1 = LLVMInt1TypeInContext(c); void = LLVMVoidTypeInContext(c)
        floatVector = LLVMVectorType(f32, UInt32(lanes)); intVector = LLVMVectorType(i32, UInt32(lanes))
        maskVector = LLVMVectorType(i1, UInt32(lanes)); floatPointer = LLVMPointerType(f32, 0)
    }

    deinit {
        LLVMDisposeBuilder(builder)
        LLVMDisposeBuilder(localsBuilder)
    }

    // MARK: Kernels

    /// Starts kernel `name`; `body` receives the first and one-past-last work item to compute.
    func kernel(_ name: String, _ body: (_ begin: Value, _ end: Value) -> Void) {
        var parameters: [LLVMTypeRef?] = [LLVMPointerType(floatPointer, 0), i64, i64, floatPointer]
        let type = parameters.withUnsafeMutableBufferPointer { LLVMFunctionType(void, $0.baseAddress, 4, 0) }
        let f = LLVMAddFunction(module.module, name, type)!
        function = f
        for (key, value) in attributes {
            LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(bitPattern: -1),
                                    LLVMCreateStringAttribute(module.context, key, UInt32(key.utf8.count), value, UInt32(value.utf8.count)))
        }
        entry = LLVMAppendBasicBlockInContext(module.context, f, "locals")
        LLVMPositionBuilderAtEnd(localsBuilder, entry)
        let start = LLVMAppendBasicBlockInContext(module.context, f, "start")
        LLVMPositionBuilderAtEnd(builder, start)
        arguments = LLVMGetParam(f, 0)
        scratch = LLVMGetParam(f, 3)
        loadedArguments = [:]
        loadedIntegers = [:]
        body(LLVMGetParam(f, 1), LLVMGetParam(f, 2))
        LLVMBuildRetVoid(builder)
        LLVMBuildBr(localsBuilder, start)
        function = nil
    }

    /// Without these LLVM 14 keeps to 256-bit vectors even where the CPU has 512-bit ones.
    private var attributes: [(String, String)] {
        let width = String(lanes * 32)
        return [("prefer-vector-width", width), ("min-legal-vector-width", width),
                ("target-cpu", module.target.cpu), ("target-features", module.target.features)]
    }

    /// The pointer passed as argument `index` of the current kernel. It is loaded once, in the entry
    /// block: LLVM cannot hoist a load from the argument table out of a loop that stores floats, as
    /// nothing tells it the two never alias.
    func argument(_ index: Int) -> Value {
        if let loaded = loadedArguments[index] { return loaded }
        let slot = gep(floatPointer, arguments!, int(index), in: localsBuilder)
        let loaded = LLVMBuildLoad2(localsBuilder, floatPointer, slot, "")!
        loadedArguments[index] = loaded
        return loaded
    }

    /// Entry `index` of the kernel's run-time integers, read once in the entry block: a value the code
    /// takes from its arguments rather than as a constant, so kernels that differ only in it share code.
    func runTimeInteger(_ index: Int) -> Value {
        if let loaded = loadedIntegers[index] { return loaded }
        let table = LLVMBuildBitCast(localsBuilder, argument(runTimeIntegerArgument), LLVMPointerType(i32, 0), "")!
        let entry = LLVMBuildLoad2(localsBuilder, i32, gep(i32, table, int(index), in: localsBuilder), "")!
        let loaded = LLVMBuildSExt(localsBuilder, entry, i64, "")!
        loadedIntegers[index] = loaded
        return loaded
    }

    /// Entry `index` of the kernel's run-time integers read as a float's bits.
    func runTimeFloat(_ index: Int) -> Value {
        LLVMBuildBitCast(localsBuilder, LLVMBuildTrunc(localsBuilder, runTimeInteger(index), i32, ""), f32, "")
    }

    /// Entry `index` of the kernel's run-time integers, an index known only at run time (a table).
    func runTimeInteger(at index: Value) -> Value {
        let table = LLVMBuildBitCast(builder, argument(runTimeIntegerArgument), LLVMPointerType(i32, 0), "")!
        return LLVMBuildSExt(builder, LLVMBuildLoad2(builder, i32, gep(i32, table, index), ""), i64, "")
    }

    /// The pointer passed as argument `index`, an index known only at run time (a loop over arguments).
    func argument(at index: Value) -> Value {
        LLVMBuildLoad2(builder, floatPointer, gep(floatPointer, arguments!, index), "")
    }

    /// A constant table of integers in the module; `table(t, i)` reads entry `i`.
    func integerTable(_ values: [Int]) -> Value {
        var constants: [Value?] = values.map { int($0) }
        let array = constants.withUnsafeMutableBufferPointer { LLVMConstArray(i64, $0.baseAddress, UInt32(values.count)) }
        let global = LLVMAddGlobal(module.module, LLVMArrayType(i64, UInt32(values.count)), "table")!
        LLVMSetInitializer(global, array)
        LLVMSetGlobalConstant(global, 1)
        LLVMSetLinkage(global, LLVMPrivateLinkage)
        return LLVMBuildBitCast(builder, global, LLVMPointerType(i64, 0), "")
    }

    func table(_ table: Value, _ index: Value) -> Value { LLVMBuildLoad2(builder, i64, gep(i64, table, index), "") }

    // MARK: Integers

    func int(_ v: Int) -> Value { LLVMConstInt(i64, UInt64(bitPattern: Int64(v)), 1) }
    func bool(_ v: Bool) -> Value { LLVMConstInt(i1, v ? 1 : 0, 0) }
    func int32(_ v: Int) -> Value { LLVMConstInt(i32, UInt64(bitPattern: Int64(v)), 1) }
    func add(_ a: Value, _ b: Value) -> Value { LLVMBuildAdd(builder, a, b, "") }
    func add(_ a: Value, _ b: Int) -> Value { b == 0 ? a : add(a, int(b)) }
    func sub(_ a: Value, _ b: Value) -> Value { LLVMBuildSub(builder, a, b, "") }
    func mul(_ a: Value, _ b: Value) -> Value { LLVMBuildMul(builder, a, b, "") }
    func mul(_ a: Value, _ b: Int) -> Value { b == 1 ? a : mul(a, int(b)) }
    /// Signed division and remainder; the kernels divide non-negative indices by positive constants.
    func div(_ a: Value, _ b: Int) -> Value { b == 1 ? a : LLVMBuildSDiv(builder, a, int(b), "") }
    func rem(_ a: Value, _ b: Int) -> Value { LLVMBuildSRem(builder, a, int(b), "") }
    /// Division and remainder of a non-negative index by a positive value known only at run time.
    func div(_ a: Value, _ b: Value) -> Value { LLVMBuildUDiv(builder, a, b, "") }
    func rem(_ a: Value, _ b: Value) -> Value { LLVMBuildURem(builder, a, b, "") }
    func compare(_ predicate: LLVMIntPredicate, _ a: Value, _ b: Value) -> Value { LLVMBuildICmp(builder, predicate, a, b, "") }
    func select(_ condition: Value, _ a: Value, _ b: Value) -> Value { LLVMBuildSelect(builder, condition, a, b, "") }
    func and(_ a: Value, _ b: Value) -> Value { LLVMBuildAnd(builder, a, b, "") }
    func or(_ a: Value, _ b: Value) -> Value { LLVMBuildOr(builder, a, b, "") }
    func minimum(_ a: Value, _ b: Value) -> Value { select(compare(LLVMIntSLT, a, b), a, b) }
    func maximum(_ a: Value, _ b: Value) -> Value { select(compare(LLVMIntSGT, a, b), a, b) }
    func clamp(_ v: Value, _ low: Int, _ high: Int) -> Value { minimum(maximum(v, int(low)), int(high)) }
    func toInt32(_ v: Value) -> Value { LLVMBuildTrunc(builder, v, i32, "") }

    /// Lane indices 0..<lanes as a vector of i32.
    var laneIndices: Value {
        var values: [Value?] = (0..<lanes).map { int32($0) }
        return values.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(lanes)) }
    }

    func splatInt32(_ scalar: Value) -> Value { splat(scalar, intVector) }
    func intVectorConstant(_ v: Int) -> Value { splatConstant(int32(v), count: lanes) }

    // MARK: Floats, scalar or vector

    func float(_ x: Double) -> Value { LLVMConstReal(f32, x) }
    func vector(_ x: Double) -> Value { splatConstant(float(x), count: lanes) }
    func splat(_ scalar: Value) -> Value { splat(scalar, floatVector) }
    /// `x` as a constant of `v`'s type: a float for a scalar, a splat for a vector.
    func constant(_ x: Double, like v: Value) -> Value { LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind ? vector(x) : float(x) }
    func element(_ v: Value, _ lane: Int) -> Value { LLVMBuildExtractElement(builder, v, int32(lane), "") }
    func fadd(_ a: Value, _ b: Value) -> Value { LLVMBuildFAdd(builder, a, b, "") }
    func fsub(_ a: Value, _ b: Value) -> Value { LLVMBuildFSub(builder, a, b, "") }
    func fmul(_ a: Value, _ b: Value) -> Value { LLVMBuildFMul(builder, a, b, "") }
    func fdiv(_ a: Value, _ b: Value) -> Value { LLVMBuildFDiv(builder, a, b, "") }
    /// a * b + c, fused where the target has FMA.
    func fma(_ a: Value, _ b: Value, _ c: Value) -> Value { intrinsic("llvm.fmuladd", [LLVMTypeOf(a)], [a, b, c]) }
    /// The larger of `a` and `b`, NaN where either is NaN (PyTorch's and the reference's ReLU, Clip and
    /// MaxPool). The second test folds away where `b` is a constant.
    func fmax(_ a: Value, _ b: Value) -> Value { propagatingNaN(of: b, select(LLVMBuildFCmp(builder, LLVMRealOLT, a, b, ""), b, a)) }
    /// The smaller of `a` and `b`, NaN where either is NaN.
    func fmin(_ a: Value, _ b: Value) -> Value { propagatingNaN(of: b, select(LLVMBuildFCmp(builder, LLVMRealOGT, a, b, ""), b, a)) }
    private func propagatingNaN(of b: Value, _ result: Value) -> Value { select(LLVMBuildFCmp(builder, LLVMRealUNO, b, b, ""), b, result) }
    func exp(_ a: Value) -> Value { intrinsic("llvm.exp", [LLVMTypeOf(a)], [a]) }
    func log(_ a: Value) -> Value { intrinsic("llvm.log", [LLVMTypeOf(a)], [a]) }
    func pow(_ a: Value, _ b: Value) -> Value { intrinsic("llvm.pow", [LLVMTypeOf(a)], [a, b]) }
    func fsqrt(_ a: Value) -> Value { intrinsic("llvm.sqrt", [LLVMTypeOf(a)], [a]) }
    func fabs(_ a: Value) -> Value { intrinsic("llvm.fabs", [LLVMTypeOf(a)], [a]) }
    /// `magnitude`'s absolute value with `sign`'s sign.
    func copysign(_ magnitude: Value, _ sign: Value) -> Value { intrinsic("llvm.copysign", [LLVMTypeOf(magnitude)], [magnitude, sign]) }
    func fneg(_ a: Value) -> Value { LLVMBuildFNeg(builder, a, "") }
    /// Lanes where `a < b` (false where either is NaN).
    func fless(_ a: Value, _ b: Value) -> Value { LLVMBuildFCmp(builder, LLVMRealOLT, a, b, "") }
    func fcompare(_ predicate: LLVMRealPredicate, _ a: Value, _ b: Value) -> Value { LLVMBuildFCmp(builder, predicate, a, b, "") }
    /// Sum of a vector's lanes.
    func horizontalSum(_ v: Value) -> Value { intrinsic("llvm.vector.reduce.fadd", [floatVector], [float(0), v]) }
    func allTrue(_ mask: Value) -> Value { intrinsic("llvm.vector.reduce.and", [maskVector], [mask]) }

    /// Lanes `start, start + step, ...` of the concatenation of `a` and `b`: the subsampling shuffle.
    func strided(_ a: Value, _ b: Value, start: Int, step: Int) -> Value {
        shuffle(a, b, order: (0..<lanes).map { start + $0 * step })
    }

    /// Lanes 0..<lanes/2 (or lanes/2..<lanes with `high`) of `a` and `b`, alternating: a0 b0 a1 b1 ...
    func interleave(_ a: Value, _ b: Value, high: Bool) -> Value {
        let first = high ? lanes / 2 : 0
        return shuffle(a, b, order: (0..<lanes).map { first + $0 / 2 + ($0 % 2) * lanes })
    }

    /// A mask with every lane `condition` (an i1).
    func splatMask(_ condition: Value) -> Value { splat(condition, maskVector) }

    private func splat(_ scalar: Value, _ type: LLVMTypeRef) -> Value {
        let one = LLVMBuildInsertElement(builder, LLVMGetUndef(type), scalar, int32(0), "")
        let zeros = LLVMConstNull(LLVMVectorType(i32, UInt32(lanes)))
        return LLVMBuildShuffleVector(builder, one, LLVMGetUndef(type), zeros, "")
    }

    private func splatConstant(_ scalar: Value, count: Int) -> Value {
        var values: [Value?] = Array(repeating: scalar, count: count)
        return values.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(count)) }
    }

    // MARK: Vector integer and mask arithmetic (on <lanes x i32>)

    func vcompare(_ predicate: LLVMIntPredicate, _ a: Value, _ b: Value) -> Value { LLVMBuildICmp(builder, predicate, a, b, "") }
    func vadd(_ a: Value, _ b: Int) -> Value { b == 0 ? a : add(a, intVectorConstant(b)) }
    func vmul(_ a: Value, _ b: Int) -> Value { b == 1 ? a : mul(a, intVectorConstant(b)) }
    func vdiv(_ a: Value, _ b: Int) -> Value { b == 1 ? a : LLVMBuildUDiv(builder, a, intVectorConstant(b), "") }
    func vrem(_ a: Value, _ b: Int) -> Value { LLVMBuildURem(builder, a, intVectorConstant(b), "") }
    func vtoFloat(_ v: Value) -> Value { LLVMBuildSIToFP(builder, v, floatVector, "") }
    func toFloat(_ v: Value) -> Value { LLVMBuildSIToFP(builder, v, f32, "") }
    /// A float holding an exact integer (an index table's entry) as an i64, or a vector of them as i32s.
    func toInt(_ v: Value) -> Value { LLVMBuildFPToSI(builder, v, i64, "") }
    func vtoInt32(_ v: Value) -> Value { LLVMBuildFPToSI(builder, v, intVector, "") }
    /// Lanes where `low <= v < high`.
    func vinside(_ v: Value, _ low: Int, _ high: Int) -> Value {
        and(vcompare(LLVMIntSGE, v, intVectorConstant(low)), vcompare(LLVMIntSLT, v, intVectorConstant(high)))
    }
    /// Lanes of the span of `lanes` columns from column `start` of row `row` (scalars) that lie inside a
    /// `height` x `width` map: what a masked load of the span may read.
    func spanInside(row: Value, start: Value, height: Int, width: Int) -> Value {
        let rowInside = and(compare(LLVMIntSGE, row, int(0)), compare(LLVMIntSLT, row, int(height)))
        return and(splatMask(rowInside), vinside(add(splatInt32(toInt32(start)), laneIndices), 0, width))
    }

    // MARK: Bits

    /// `v`'s bits as a value of `type` (a float vector as `intVector`, and back).
    func bitcast(_ v: Value, to type: LLVMTypeRef) -> Value { LLVMBuildBitCast(builder, v, type, "") }
    func shiftLeft(_ a: Value, _ b: Value) -> Value { LLVMBuildShl(builder, a, b, "") }
    func shiftRight(_ a: Value, _ b: Value) -> Value { LLVMBuildLShr(builder, a, b, "") }
    /// Lanes of `a` and `b` (concatenated) in the order of constant vector `mask`.
    func shuffle(_ a: Value, _ b: Value, _ mask: Value) -> Value { LLVMBuildShuffleVector(builder, a, b, mask, "") }
    /// Lanes `order` of `a` and `b` (concatenated), for vectors of `lanes` lanes.
    func shuffle(_ a: Value, _ b: Value, order: [Int]) -> Value {
        var constants: [Value?] = order.map { int32($0) }
        return shuffle(a, b, constants.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(order.count)) })
    }

    /// The transpose of a square of vectors: lane c of result r is lane r of `rows[c]`. Four rounds of
    /// 2-vector shuffles for 16 lanes, each swapping one bit of the row index with that of the lane's.
    func transpose(_ rows: [Value]) -> [Value] {
        var rows = rows
        var half = rows.count / 2
        while half >= 1 {
            for i in rows.indices where i & half == 0 {
                let j = i | half
                let low = (0..<rows.count).map { c in c & half == 0 ? c : rows.count + c - half }
                let high = (0..<rows.count).map { c in c & half == 0 ? c + half : rows.count + c }
                (rows[i], rows[j]) = (shuffle(rows[i], rows[j], order: low), shuffle(rows[i], rows[j], order: high))
            }
            half /= 2
        }
        return rows
    }

    /// The lanes of `v` in `mask`, moved to the first lanes in order (`vcompressps`); the rest 0.
    func compress(_ v: Value, mask: Value) -> Value {
        intrinsic("llvm.x86.avx512.mask.compress", [floatVector], [v, vector(0), mask])
    }

    /// The first lanes of `v`, spread in order over the lanes in `mask` (`vexpandps`); the rest 0.
    func expand(_ v: Value, mask: Value) -> Value {
        intrinsic("llvm.x86.avx512.mask.expand", [floatVector], [v, vector(0), mask])
    }

    /// The lanes below `count` (an i64) as a mask.
    func firstLanes(_ count: Value) -> Value { vcompare(LLVMIntSLT, laneIndices, splatInt32(toInt32(count))) }

    /// How many lanes of `mask` are set, as an i64.
    func count(_ mask: Value) -> Value {
        let bits = LLVMIntTypeInContext(module.context, UInt32(lanes))!
        let packed = bitcast(mask, to: bits)
        return LLVMBuildZExt(builder, intrinsic("llvm.ctpop", [bits], [packed]), i64, "")
    }

    // MARK: Memory

    private func gep(_ element: LLVMTypeRef, _ base: Value, _ index: Value, in builder: LLVMBuilderRef? = nil) -> Value {
        var indices: [Value?] = [index]
        return indices.withUnsafeMutableBufferPointer { LLVMBuildGEP2(builder ?? self.builder, element, base, $0.baseAddress, 1, "") }
    }

    /// Address of float `index` past `base` (a scalar index, or a vector of indices for a gather).
    func address(_ base: Value, _ index: Value) -> Value { gep(f32, base, index) }

    func load(_ base: Value, _ index: Value) -> Value {
        let instruction = LLVMBuildLoad2(builder, f32, address(base, index), "")!
        LLVMSetAlignment(instruction, 4)
        return instruction
    }

    func store(_ value: Value, _ base: Value, _ index: Value) {
        let instruction = LLVMBuildStore(builder, value, address(base, index))!
        LLVMSetAlignment(instruction, 4)
    }

    private func vectorAddress(_ base: Value, _ index: Value) -> Value {
        LLVMBuildBitCast(builder, address(base, index), LLVMPointerType(floatVector, 0), "")
    }

    /// `lanes` consecutive floats from `base[index]`; lanes outside `mask` are not read and give `passthrough`.
    func loadVector(_ base: Value, _ index: Value, mask: Value? = nil, passthrough: Double = 0) -> Value {
        let pointer = vectorAddress(base, index)
        if let mask {
            return intrinsic("llvm.masked.load", [floatVector, LLVMTypeOf(pointer)],
                             [pointer, int32(4), mask, vector(passthrough)])
        }
        let instruction = LLVMBuildLoad2(builder, floatVector, pointer, "")!
        LLVMSetAlignment(instruction, 4)
        return instruction
    }

    func storeVector(_ value: Value, _ base: Value, _ index: Value, mask: Value? = nil) {
        let pointer = vectorAddress(base, index)
        if let mask {
            _ = intrinsic("llvm.masked.store", [floatVector, LLVMTypeOf(pointer)], [value, pointer, int32(4), mask])
            return
        }
        let instruction = LLVMBuildStore(builder, value, pointer)!
        LLVMSetAlignment(instruction, 4)
    }

    /// `base[indices[i]]` for every lane in `mask`; the others give `passthrough`.
    func gather(_ base: Value, _ indices: Value, mask: Value, passthrough: Double = 0) -> Value {
        let pointers = address(base, indices)
        return intrinsic("llvm.masked.gather", [floatVector, LLVMTypeOf(pointers)], [pointers, int32(4), mask, vector(passthrough)])
    }

    /// Asks for the cache line holding `base[index]` ahead of its use (`write` when it will be stored).
    func prefetch(_ base: Value, _ index: Value, write: Bool) {
        let i8Pointer = LLVMPointerType(LLVMInt8TypeInContext(module.context), 0)!
        let pointer = LLVMBuildBitCast(builder, address(base, index), i8Pointer, "")!
        _ = intrinsic("llvm.prefetch", [i8Pointer], [pointer, int32(write ? 1 : 0), int32(3), int32(1)])
    }

    // MARK: Locals

    /// A mutable local holding `initial`; `get`/`set` read and write it. mem2reg makes it a register.
    func local(_ initial: Value) -> Value {
        let slot = LLVMBuildAlloca(localsBuilder, LLVMTypeOf(initial), "")!
        LLVMBuildStore(builder, initial, slot)
        return slot
    }

    /// `count` floats on the stack, for values a loop indexes at run time (`address`, `load`, `loadVector`).
    func localFloats(_ count: Int) -> Value {
        let array = LLVMBuildAlloca(localsBuilder, LLVMArrayType(f32, UInt32(count)), "")!
        LLVMSetAlignment(array, 64)
        return LLVMBuildBitCast(builder, array, LLVMPointerType(f32, 0), "")
    }

    func get(_ slot: Value) -> Value { LLVMBuildLoad2(builder, LLVMGetAllocatedType(slot), slot, "") }
    func set(_ slot: Value, _ value: Value) { LLVMBuildStore(builder, value, slot) }

    // MARK: Control flow

    private func block(_ name: String) -> LLVMBasicBlockRef { LLVMAppendBasicBlockInContext(module.context, function!, name) }

    /// How far LLVM may unroll a loop. `never` and `times(n)` keep it a loop (of n copies) even where
    /// the trip count is a small constant: for code that runs once per tile, not per reduction step,
    /// whose unrolled copies cost compile time, not run time.
    enum Unrolling { case asLLVMChooses, never, times(Int) }

    /// `for i in stride(from: low, to: high, by: step) { body(i) }` with a runtime or constant range.
    func loop(_ low: Value, _ high: Value, step: Int = 1, unroll: Unrolling = .asLLVMChooses, _ body: (Value) -> Void) {
        let before = LLVMGetInsertBlock(builder)
        let header = block("loop"), inside = block("body"), exit = block("done")
        LLVMBuildBr(builder, header)
        LLVMPositionBuilderAtEnd(builder, header)
        let i = LLVMBuildPhi(builder, i64, "i")!
        LLVMBuildCondBr(builder, compare(LLVMIntSLT, i, high), inside, exit)
        LLVMPositionBuilderAtEnd(builder, inside)
        body(i)
        let next = add(i, int(step))
        var values: [Value?] = [low, next]
        var blocks: [LLVMBasicBlockRef?] = [before, LLVMGetInsertBlock(builder)]
        values.withUnsafeMutableBufferPointer { v in
            blocks.withUnsafeMutableBufferPointer { b in LLVMAddIncoming(i, v.baseAddress, b.baseAddress, 2) }
        }
        let backEdge = LLVMBuildBr(builder, header)
        if let loopID = loopID(unroll) { LLVMSetMetadata(backEdge, LLVMGetMDKindIDInContext(module.context, "llvm.loop", 9), loopID) }
        LLVMPositionBuilderAtEnd(builder, exit)
    }

    func loop(_ count: Int, unroll: Unrolling = .asLLVMChooses, _ body: (Value) -> Void) { loop(int(0), int(count), unroll: unroll, body) }

    /// The loop ID that asks for `unroll`: `distinct !{self, !{!"llvm.loop.unroll.disable"}}` or
    /// `!{self, !{!"llvm.loop.unroll.count", i32 n}}`. LLVM recognizes a loop's ID only when its first
    /// operand is the node itself.
    private func loopID(_ unroll: Unrolling) -> Value? {
        let context = module.context
        func string(_ text: String) -> LLVMMetadataRef? { LLVMMDStringInContext2(context, text, text.utf8.count) }
        func node(_ operands: [LLVMMetadataRef?]) -> LLVMMetadataRef? {
            var operands = operands
            return operands.withUnsafeMutableBufferPointer { LLVMMDNodeInContext2(context, $0.baseAddress, $0.count) }
        }
        let property: LLVMMetadataRef?
        switch unroll {
        case .asLLVMChooses: return nil
        case .never: property = node([string("llvm.loop.unroll.disable")])
        case .times(let n): property = node([string("llvm.loop.unroll.count"), LLVMValueAsMetadata(int32(n))])
        }
        let placeholder = LLVMTemporaryMDNode(context, nil, 0)
        guard let loopID = node([placeholder, property]) else { return nil }
        LLVMMetadataReplaceAllUsesWith(placeholder, loopID)
        return LLVMMetadataAsValue(context, loopID)
    }

    /// `body(i, mask)` for each vector of `count` consecutive elements from index 0: whole vectors with
    /// no mask, then the last, partial one with its lanes masked.
    func forEachVector(_ count: Int, _ body: (Value, Value?) -> Void) {
        let whole = count / lanes * lanes
        loop(int(0), int(whole), step: lanes) { body($0, nil) }
        if whole < count { body(int(whole), vcompare(LLVMIntSLT, laneIndices, intVectorConstant(count - whole))) }
    }

    /// `if condition { then() } else { otherwise() }`.
    func branch(_ condition: Value, then: () -> Void, otherwise: () -> Void) {
        let yes = block("then"), no = block("else"), join = block("join")
        LLVMBuildCondBr(builder, condition, yes, no)
        LLVMPositionBuilderAtEnd(builder, yes)
        then()
        LLVMBuildBr(builder, join)
        LLVMPositionBuilderAtEnd(builder, no)
        otherwise()
        LLVMBuildBr(builder, join)
        LLVMPositionBuilderAtEnd(builder, join)
    }

    /// `if condition { then() }`.
    func when(_ condition: Value, then: () -> Void) {
        let yes = block("then"), join = block("join")
        LLVMBuildCondBr(builder, condition, yes, join)
        LLVMPositionBuilderAtEnd(builder, yes)
        then()
        LLVMBuildBr(builder, join)
        LLVMPositionBuilderAtEnd(builder, join)
    }

    // MARK: Intrinsics

    func intrinsic(_ name: String, _ overloads: [LLVMTypeRef], _ operands: [Value]) -> Value {
        let id = LLVMLookupIntrinsicID(name, name.utf8.count)
        var types: [LLVMTypeRef?] = overloads
        let (declaration, type) = types.withUnsafeMutableBufferPointer {
            (LLVMGetIntrinsicDeclaration(module.module, id, $0.baseAddress, overloads.count),
             LLVMIntrinsicGetType(module.context, id, $0.baseAddress, overloads.count))
        }
        var arguments: [Value?] = operands
        return arguments.withUnsafeMutableBufferPointer {
            LLVMBuildCall2(builder, type, declaration, $0.baseAddress, UInt32(operands.count), "")
        }
    }
}
