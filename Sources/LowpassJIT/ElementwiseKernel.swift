import CLLVM
import LowpassIR

extension ScalarExpression {
    /// Emits the expression with input `i` = `operands[i]`; operands and result are all vectors or all
    /// scalars, of `like`'s type.
    func emit(_ e: Emitter, _ operands: [Value], like: Value) -> Value {
        switch self {
        case .input(let i): return operands[i]
        case .constant(let c): return e.constant(c, like: like)
        case .unary(let f, let a): return f.emit(e, a.emit(e, operands, like: like))
        case .binary(.add, .binary(.multiply, let a, let b), let c):
            return e.fma(a.emit(e, operands, like: like), b.emit(e, operands, like: like), c.emit(e, operands, like: like))
        case .binary(.power, let a, .constant(let exponent)) where [0.5, 1, 2, 3, -1].contains(exponent):
            let base = a.emit(e, operands, like: like)
            switch exponent {
            case 0.5: return e.fsqrt(base)
            case 1: return base
            case 2: return e.fmul(base, base)
            case 3: return e.fmul(e.fmul(base, base), base)
            default: return e.fdiv(e.constant(1, like: like), base)
            }
        case .binary(let f, let a, let b): return f.emit(e, a.emit(e, operands, like: like), b.emit(e, operands, like: like))
        case .ifLess(let a, let b, let then, let otherwise):
            let less = e.fless(a.emit(e, operands, like: like), b.emit(e, operands, like: like))
            return e.select(less, then.emit(e, operands, like: like), otherwise.emit(e, operands, like: like))
        }
    }
}

extension ScalarExpression.UnaryFunction {
    func emit(_ e: Emitter, _ a: Value) -> Value {
        switch self {
        case .negate: return e.fneg(a)
        case .abs: return e.fabs(a)
        case .exp: return e.exp(a)
        case .log: return e.log(a)
        case .sqrt: return e.fsqrt(a)
        case .floor: return e.intrinsic("llvm.floor", [LLVMTypeOf(a)], [a])
        case .ceil: return e.intrinsic("llvm.ceil", [LLVMTypeOf(a)], [a])
        // Rare in CNNs (position encodings, mostly folded on import): libm's, lane by lane.
        case .sin: return e.intrinsic("llvm.sin", [LLVMTypeOf(a)], [a])
        case .cos: return e.intrinsic("llvm.cos", [LLVMTypeOf(a)], [a])
        case .roundToBFloat16: return e.roundedToBFloat16(a)
        case .tanh:
            // (1 - t) / (1 + t) with t = e^(-2|a|), which neither overflows nor loses large arguments.
            let t = e.exp(e.fmul(e.constant(-2, like: a), e.fabs(a)))
            let one = e.constant(1, like: a)
            return e.copysign(e.fdiv(e.fsub(one, t), e.fadd(one, t)), a)
        case .erf:
            // Abramowitz and Stegun 7.1.26: absolute error below 1.5e-7, under float's rounding of values near 1.
            let x = e.fabs(a)
            let t = e.fdiv(e.constant(1, like: a), e.fma(e.constant(0.3275911, like: a), x, e.constant(1, like: a)))
            var poly = e.constant(1.061405429, like: a)
            for c in [-1.453152027, 1.421413741, -0.284496736, 0.254829592] { poly = e.fma(poly, t, e.constant(c, like: a)) }
            poly = e.fmul(poly, t)
            let y = e.fsub(e.constant(1, like: a), e.fmul(poly, e.exp(e.fneg(e.fmul(x, x)))))
            return e.copysign(y, a)
        }
    }
}

extension ScalarExpression.BinaryFunction {
    func emit(_ e: Emitter, _ a: Value, _ b: Value) -> Value {
        switch self {
        case .add: return e.fadd(a, b)
        case .subtract: return e.fsub(a, b)
        case .multiply: return e.fmul(a, b)
        case .divide: return e.fdiv(a, b)
        case .power: return e.pow(a, b)
        case .max: return e.fmax(a, b)
        case .min: return e.fmin(a, b)
        }
    }
}

/// Element strides of a tensor of `shape` broadcast to `target` (0 along broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: target.count - shape.count) + shape
    var strides = [Int](repeating: 0, count: target.count)
    var step = 1
    for axis in stride(from: target.count - 1, through: 0, by: -1) {
        strides[axis] = padded[axis] == 1 ? 0 : step
        step *= padded[axis]
    }
    return strides
}

/// Evaluates a `ScalarExpression` over the output (input `i` is operand `i`): an outer loop over work items (rows), and an inner
/// vector loop over the longest suffix of axes along which every operand is either contiguous or
/// constant (so a per-channel scale on NCHW is one broadcast per H*W plane).
///
/// Arguments: output, then the operands.
struct ElementwiseKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var shape: [Int]
    var operandStrides: [[Int]]
    var expression: ScalarExpression
    /// The ops it computes, for `kind` (e.g. `bn+relu`); empty for a copy.
    var opNames: [String]
    var lanes: Int
    /// How many trailing axes form the inner loop.
    let innerAxes: Int

    init(nodes: [String], arguments: [Operand], output: Int, shape: [Int], operandStrides: [[Int]], expression: ScalarExpression,
         opNames: [String], lanes: Int) {
        (self.nodes, self.arguments, self.output, self.shape, self.operandStrides) = (nodes, arguments, output, shape, operandStrides)
        (self.expression, self.opNames, self.lanes) = (expression, opNames, lanes)
        innerAxes = Self.innerAxes(shape: shape, operandStrides: operandStrides)
    }

    var kind: String { "elementwise " + (opNames.isEmpty ? "copy" : opNames.joined(separator: "+")) }
    /// The first arena operand read element for element where the output is written (not broadcast):
    /// each item loads every operand's vector before it stores the output's.
    var inPlaceArgument: Int? {
        let contiguous = broadcastStrides(shape, to: shape)
        return operandStrides.indices.first { i in
            guard i + 1 < arguments.count, case .buffer = arguments[i + 1] else { return false }
            return operandStrides[i].indices.allSatisfy { shape[$0] == 1 || operandStrides[i][$0] == contiguous[$0] }
        }.map { $0 + 1 }
    }
    var elementCount: Int { shape.reduce(1, *) }
    var flops: Double { Double(elementCount * max(expression.operationCount, 1)) }
    var bytes: Double { 4 * Double(elementCount * (operandStrides.count + 1)) }

    /// How many trailing axes form the inner loop: the longest suffix along which every operand is
    /// contiguous or constant.
    private static func innerAxes(shape: [Int], operandStrides: [[Int]]) -> Int {
        let contiguous = broadcastStrides(shape, to: shape)
        var count = 0
        for k in 1...max(shape.count, 1) where k <= shape.count {
            let axes = (shape.count - k)..<shape.count
            let uniform = operandStrides.allSatisfy { strides in
                axes.allSatisfy { shape[$0] == 1 || strides[$0] == contiguous[$0] }
                    || axes.allSatisfy { shape[$0] == 1 || strides[$0] == 0 }
            }
            guard uniform else { break }
            count = k
        }
        return count
    }

    var outerShape: [Int] { Array(shape.dropLast(innerAxes)) }
    var inner: Int { shape.suffix(innerAxes).reduce(1, *) }
    var workItems: Int { outerShape.reduce(1, *) }

    /// Whether the outer axes' extents and strides are run-time integers: rows of 64 floats or more,
    /// where dividing the item index by a variable costs nothing beside the row, so that a network's
    /// per-channel ops over maps of one size (DenseNet's BatchNorm+ReLU before each conv, over ever more
    /// channels) share one function.
    var outerAtRunTime: Bool { !outerShape.isEmpty && inner >= 64 }

    /// The outer extents, then each operand's strides along them.
    var runTimeIntegers: [Int] {
        guard outerAtRunTime else { return [] }
        let outer = outerShape.count
        return outerShape + operandStrides.flatMap { $0.prefix(outer) }
    }

    mutating func eraseRunTimeIntegers() {
        guard outerAtRunTime else { return }
        let outer = outerShape.indices
        for axis in outer { shape[axis] = 0 }
        for i in operandStrides.indices { for axis in outer { operandStrides[i][axis] = 0 } }
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let outer = outerShape, inner = self.inner
        let atRunTime = outerAtRunTime
        let extents = outer.indices.map { atRunTime ? e.runTimeInteger($0) : e.int(outer[$0]) }
        let coordinates = outer.isEmpty ? [] : split(e, item, extents)
        let out = e.address(e.outputArgument, e.mul(item, inner))
        // Each operand is either contiguous over the inner axes (loaded per vector) or constant over
        // them (broadcast once).
        let operands: [(base: Value, broadcast: Value?)] = operandStrides.enumerated().map { i, strides in
            var offset = e.int(0)
            for (axis, coordinate) in coordinates.enumerated() {
                let stride = atRunTime ? e.runTimeInteger(outer.count * (i + 1) + axis) : e.int(strides[axis])
                offset = e.add(offset, e.mul(coordinate, stride))
            }
            let base = e.address(e.operandArgument(i), offset)
            let contiguous = shape.indices.suffix(innerAxes).contains { shape[$0] > 1 && strides[$0] != 0 }
            return (base, contiguous ? nil : e.splat(e.load(base, e.int(0))))
        }
        let body = { (i: Value, mask: Value?) in
            let values = operands.map { $0.broadcast ?? e.loadVector($0.base, i, mask: mask) }
            e.storeVector(expression.emit(e, values, like: e.vector(0)), out, i, mask: mask)
        }
        e.forEachVector(inner, body)
    }
}
