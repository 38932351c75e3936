import CLLVM

/// A fused chain of element-wise ops (Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Add, Mul, and
/// BatchNormalization as a per-channel multiply-add) evaluated once per output element.
indirect enum Expression: Hashable {
    /// Operand `i` of the kernel (its argument `i + 1`), broadcast to the output shape.
    case operand(Int)
    case relu(Expression)
    case clip(Expression, Double, Double)
    case sigmoid(Expression)
    case hardSigmoid(Expression, alpha: Double, beta: Double)
    case hardSwish(Expression)
    case add(Expression, Expression)
    case mul(Expression, Expression)

    func evaluate(_ e: Emitter, _ operands: [Value]) -> Value {
        switch self {
        case .operand(let i): return operands[i]
        case .relu(let x): return Activation.relu.apply(e, x.evaluate(e, operands))
        case .clip(let x, let low, let high): return Activation.clip(low, high).apply(e, x.evaluate(e, operands))
        case .sigmoid(let x):
            return e.fdiv(e.vector(1), e.fadd(e.vector(1), e.exp(e.fsub(e.vector(0), x.evaluate(e, operands)))))
        case .hardSigmoid(let x, let alpha, let beta):
            return Activation.clip(0, 1).apply(e, e.fma(e.vector(alpha), x.evaluate(e, operands), e.vector(beta)))
        case .hardSwish(let x):
            let v = x.evaluate(e, operands)
            return e.fmul(v, Activation.clip(0, 1).apply(e, e.fma(e.vector(1.0 / 6), v, e.vector(0.5))))
        case .add(let a, let b): return e.fadd(a.evaluate(e, operands), b.evaluate(e, operands))
        case .mul(let a, let b): return e.fmul(a.evaluate(e, operands), b.evaluate(e, operands))
        }
    }

    var opNames: [String] {
        switch self {
        case .operand: return []
        case .relu(let x): return x.opNames + ["relu"]
        case .clip(let x, _, _): return x.opNames + ["clip"]
        case .sigmoid(let x): return x.opNames + ["sigmoid"]
        case .hardSigmoid(let x, _, _): return x.opNames + ["hardsigmoid"]
        case .hardSwish(let x): return x.opNames + ["hardswish"]
        case .add(let a, let b): return a.opNames + b.opNames + ["add"]
        case .mul(let a, let b): return a.opNames + b.opNames + ["mul"]
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

/// Evaluates an `Expression` over the output: an outer loop over work items (rows), and an inner
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
    var expression: Expression
    var lanes: Int

    var kind: String { "elementwise " + (expression.opNames.isEmpty ? "copy" : expression.opNames.joined(separator: "+")) }
    var elementCount: Int { shape.reduce(1, *) }
    var flops: Double { Double(elementCount * max(expression.opNames.count, 1)) }
    var bytes: Double { 4 * Double(elementCount * (operandStrides.count + 1)) }

    /// How many trailing axes form the inner loop.
    var innerAxes: Int {
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

    func emitItem(_ e: Emitter, _ item: Value) {
        let outer = outerShape, inner = self.inner
        let coordinates = outer.isEmpty ? [] : split(e, item, outer)
        let out = e.address(e.outputArgument, e.mul(item, inner))
        // Each operand is either contiguous over the inner axes (loaded per vector) or constant over
        // them (broadcast once).
        let operands: [(base: Value, broadcast: Value?)] = operandStrides.enumerated().map { i, strides in
            var offset = e.int(0)
            for (axis, coordinate) in coordinates.enumerated() { offset = e.add(offset, e.mul(coordinate, strides[axis])) }
            let base = e.address(e.operandArgument(i), offset)
            let contiguous = shape.indices.suffix(innerAxes).contains { shape[$0] > 1 && strides[$0] != 0 }
            return (base, contiguous ? nil : e.splat(e.load(base, e.int(0))))
        }
        let body = { (i: Value, mask: Value?) in
            let values = operands.map { $0.broadcast ?? e.loadVector($0.base, i, mask: mask) }
            e.storeVector(expression.evaluate(e, values), out, i, mask: mask)
        }
        let whole = inner / lanes * lanes
        e.loop(e.int(0), e.int(whole), step: lanes) { i in body(i, nil) }
        if whole < inner {
            body(e.int(whole), e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(inner - whole)))
        }
    }
}
