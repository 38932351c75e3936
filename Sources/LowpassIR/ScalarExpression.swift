import Foundation

/// What an element-wise op computes for one element, as a small expression over its inputs' elements.
///
/// It is the op's one definition: the reference interpreter evaluates it in double, constant folding
/// on import evaluates it the same way, and the JIT emits it into its fused element-wise kernel and
/// into the conv epilogue. A new element-wise op is a catalogue entry with an expression, nothing else.
public indirect enum ScalarExpression: Hashable, Sendable {
    /// The element of input `i` (broadcast to the output shape).
    case input(Int)
    case constant(Double)
    case unary(UnaryFunction, ScalarExpression)
    case binary(BinaryFunction, ScalarExpression, ScalarExpression)
    /// `a < b ? then : otherwise`.
    case ifLess(ScalarExpression, ScalarExpression, then: ScalarExpression, otherwise: ScalarExpression)

    /// `roundToBFloat16` is no op's: the nearest bfloat16 (`Float.roundedToBFloat16`), which the
    /// JIT's bf16 precision puts where the reference rounds an operand (docs/jit.md, "Precision: bf16").
    public enum UnaryFunction: String, Hashable, Sendable, CaseIterable {
        case negate, abs, exp, log, sqrt, tanh, erf, floor, ceil, sin, cos, roundToBFloat16
    }

    /// `max` and `min` propagate NaN (ONNX Max/Min, PyTorch's clamp): a NaN on either side wins.
    public enum BinaryFunction: String, Hashable, Sendable, CaseIterable {
        case add, subtract, multiply, divide, power, max, min
    }

    public static let x = ScalarExpression.input(0)
    public static let y = ScalarExpression.input(1)

    /// The value for inputs `inputs`, in double (the reference semantics).
    public func evaluate(_ inputs: [Double]) -> Double {
        switch self {
        case .input(let i): return inputs[i]
        case .constant(let c): return c
        case .unary(let f, let a): return f.apply(a.evaluate(inputs))
        case .binary(let f, let a, let b): return f.apply(a.evaluate(inputs), b.evaluate(inputs))
        case .ifLess(let a, let b, let then, let otherwise):
            return a.evaluate(inputs) < b.evaluate(inputs) ? then.evaluate(inputs) : otherwise.evaluate(inputs)
        }
    }

    /// The expression with input `i` replaced by `replacement(i)`: how a chain of ops becomes one.
    public func substituting(_ replacement: (Int) -> ScalarExpression) -> ScalarExpression {
        switch self {
        case .input(let i): return replacement(i)
        case .constant: return self
        case .unary(let f, let a): return .unary(f, a.substituting(replacement))
        case .binary(let f, let a, let b): return .binary(f, a.substituting(replacement), b.substituting(replacement))
        case .ifLess(let a, let b, let then, let otherwise):
            return .ifLess(a.substituting(replacement), b.substituting(replacement),
                           then: then.substituting(replacement), otherwise: otherwise.substituting(replacement))
        }
    }

    /// The highest input index read, plus one.
    public var arity: Int {
        switch self {
        case .input(let i): return i + 1
        case .constant: return 0
        case .unary(_, let a): return a.arity
        case .binary(_, let a, let b): return max(a.arity, b.arity)
        case .ifLess(let a, let b, let then, let otherwise): return [a, b, then, otherwise].map(\.arity).max() ?? 0
        }
    }

    /// How many operations it applies (for cost estimates).
    public var operationCount: Int {
        switch self {
        case .input, .constant: return 0
        case .unary(_, let a): return 1 + a.operationCount
        case .binary(_, let a, let b): return 1 + a.operationCount + b.operationCount
        case .ifLess(let a, let b, let then, let otherwise): return 1 + [a, b, then, otherwise].map(\.operationCount).reduce(0, +)
        }
    }
}

extension ScalarExpression.UnaryFunction {
    public func apply(_ a: Double) -> Double {
        switch self {
        case .negate: return -a
        case .abs: return Swift.abs(a)
        case .exp: return Foundation.exp(a)
        case .log: return Foundation.log(a)
        case .sqrt: return a.squareRoot()
        case .tanh: return Foundation.tanh(a)
        case .erf: return Foundation.erf(a)
        case .floor: return a.rounded(.down)
        case .ceil: return a.rounded(.up)
        case .sin: return Foundation.sin(a)
        case .cos: return Foundation.cos(a)
        case .roundToBFloat16: return Double(Float(a).roundedToBFloat16)
        }
    }
}

extension ScalarExpression.BinaryFunction {
    public func apply(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        case .power: return Foundation.pow(a, b)
        case .max: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        case .min: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
        }
    }
}

// The spelling the catalogue's definitions use: `x * sigmoid(x)` reads as the formula it is.
extension ScalarExpression: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    public init(floatLiteral value: Double) { self = .constant(value) }
    public init(integerLiteral value: Int) { self = .constant(Double(value)) }

    public static func + (a: Self, b: Self) -> Self { .binary(.add, a, b) }
    public static func - (a: Self, b: Self) -> Self { .binary(.subtract, a, b) }
    public static func * (a: Self, b: Self) -> Self { .binary(.multiply, a, b) }
    public static func / (a: Self, b: Self) -> Self { .binary(.divide, a, b) }
    public static prefix func - (a: Self) -> Self { .unary(.negate, a) }

    public static func maximum(_ a: Self, _ b: Self) -> Self { .binary(.max, a, b) }
    public static func minimum(_ a: Self, _ b: Self) -> Self { .binary(.min, a, b) }
    public static func power(_ a: Self, _ b: Self) -> Self { .binary(.power, a, b) }
    public static func clamp(_ a: Self, _ low: Self, _ high: Self) -> Self { minimum(maximum(a, low), high) }
    public static func exp(_ a: Self) -> Self { .unary(.exp, a) }
    public static func log(_ a: Self) -> Self { .unary(.log, a) }
    public static func sqrt(_ a: Self) -> Self { .unary(.sqrt, a) }
    public static func tanh(_ a: Self) -> Self { .unary(.tanh, a) }
    public static func erf(_ a: Self) -> Self { .unary(.erf, a) }
    public static func abs(_ a: Self) -> Self { .unary(.abs, a) }
    public static func sigmoid(_ a: Self) -> Self { 1 / (1 + exp(-a)) }
    /// log(1 + e^a), written so that it does not overflow for large `a`.
    public static func softplus(_ a: Self) -> Self { maximum(a, 0) + log(1 + exp(-abs(a))) }
    /// `a < 0 ? negative : a`.
    public static func whereNegative(_ a: Self, _ negative: Self) -> Self { .ifLess(a, 0, then: negative, otherwise: a) }
}

extension ScalarExpression: CustomStringConvertible {
    public var description: String {
        switch self {
        case .input(let i): return i < 3 ? ["x", "y", "z"][i] : "x\(i)"
        case .constant(let c): return c == c.rounded() && Swift.abs(c) < 1e15 ? String(Int(c)) : "\(c)"
        case .unary(let f, let a): return f == .negate ? "-(\(a))" : "\(f.rawValue)(\(a))"
        case .binary(let f, let a, let b):
            let infix: [ScalarExpression.BinaryFunction: String] = [.add: "+", .subtract: "-", .multiply: "*", .divide: "/"]
            if let symbol = infix[f] { return "(\(a) \(symbol) \(b))" }
            return "\(f.rawValue)(\(a), \(b))"
        case .ifLess(let a, let b, let then, let otherwise): return "(\(a) < \(b) ? \(then) : \(otherwise))"
        }
    }
}
