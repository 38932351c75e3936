import Foundation
import LowpassIR
import Testing

/// Each element-wise op's scalar expression against the formula in ONNX's operator documentation,
/// written out independently here, at points on both sides of every branch. The JIT and the
/// reference both evaluate the catalogue's expression, so this is where a wrong definition shows.
@Suite("Element-wise op definitions")
struct ElementwiseDefinitionTests {
    static let points: [Double] = [-7.5, -2, -0.7, -0.01, 0, 0.003, 0.5, 1, 2.25, 9]

    static func node(_ op: OpKind, inputs: Int = 1, _ attributes: Attributes = [:]) -> Node {
        Node(name: "n", op: op, inputs: (0..<inputs).map { "x\($0)" }, outputs: ["y"], attributes: attributes)
    }

    static func phi(_ x: Double) -> Double { 0.5 * (1 + erf(x / 2.0.squareRoot())) }

    static let unary: [(OpKind, Attributes, @Sendable (Double) -> Double)] = [
        (.relu, [:], { max($0, 0) }),
        (.clip, ["min": .float(-0.5), "max": .float(2)], { min(max($0, -0.5), 2) }),
        (.sigmoid, [:], { 1 / (1 + exp(-$0)) }),
        (.hardSigmoid, ["alpha": .float(0.3), "beta": .float(0.4)], { max(0, min(1, 0.3 * $0 + 0.4)) }),
        (.hardSwish, [:], { $0 * max(0, min(1, $0 / 6 + 0.5)) }),
        (.leakyRelu, [:], { $0 >= 0 ? $0 : 0.01 * $0 }),
        (.leakyRelu, ["alpha": .float(0.2)], { $0 >= 0 ? $0 : 0.2 * $0 }),
        (.elu, ["alpha": .float(0.7)], { $0 >= 0 ? $0 : 0.7 * (exp($0) - 1) }),
        (.selu, [:], { 1.05070102214813232421875 * ($0 > 0 ? $0 : 1.67326319217681884765625 * (exp($0) - 1)) }),
        (.celu, ["alpha": .float(1.3)], { max(0, $0) + min(0, 1.3 * (exp($0 / 1.3) - 1)) }),
        (.gelu, [:], { $0 * phi($0) }),
        (.gelu, ["approximate": .string("tanh")], { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * pow($0, 3)))) }),
        (.mish, [:], { $0 * tanh(log(1 + exp($0))) }),
        (.softplus, [:], { log(1 + exp($0)) }),
        (.tanh, [:], { tanh($0) }),
        (.neg, [:], { -$0 }),
        (.abs, [:], { abs($0) }),
        (.reciprocal, [:], { 1 / $0 }),
        (.sqrt, [:], { sqrt($0) }),
        (.exp, [:], { exp($0) }),
        (.log, [:], { log($0) }),
        (.erf, [:], { erf($0) }),
        (.floor, [:], { $0.rounded(.down) }),
        (.ceil, [:], { $0.rounded(.up) }),
    ]

    @Test func unaryOpsFollowTheirFormulas() throws {
        for (op, attributes, formula) in Self.unary {
            let expression = try Self.node(op, attributes).scalarExpression()
            for x in Self.points {
                let expected = formula(x), actual = expression.evaluate([x])
                if expected.isNaN || expected.isInfinite { #expect(actual.isNaN == expected.isNaN && (expected.isNaN || actual == expected), "\(op) at \(x)"); continue }
                #expect(abs(actual - expected) <= 1e-12 * max(1, abs(expected)), "\(op) \(attributes) at \(x): \(actual), expected \(expected)")
            }
        }
    }

    @Test func multiInputOpsFollowTheirFormulas() throws {
        let binary: [(OpKind, (Double, Double) -> Double)] = [
            (.add, +), (.sub, -), (.mul, *), (.div, /), (.pow, { pow($0, $1) }),
            (.prelu, { $0 >= 0 ? $0 : $1 * $0 }), (.max, { max($0, $1) }), (.min, { min($0, $1) }),
            (.sum, +), (.mean, { ($0 + $1) / 2 }),
        ]
        for (op, formula) in binary {
            let expression = try Self.node(op, inputs: 2).scalarExpression()
            for x in Self.points { for y in [-1.5, 0.25, 3.0] {
                let expected = formula(x, y), actual = expression.evaluate([x, y])
                if expected.isNaN || expected.isInfinite { #expect(actual.isNaN == expected.isNaN && (expected.isNaN || actual == expected), "\(op) at \(x), \(y)"); continue }
                #expect(abs(actual - expected) <= 1e-12 * max(1, abs(expected)), "\(op) at \(x), \(y)")
            } }
        }
        #expect(try Self.node(.mean, inputs: 3).scalarExpression().evaluate([1, 2, 6]) == 3)
        #expect(try Self.node(.max, inputs: 3).scalarExpression().evaluate([1, 7, 6]) == 7)
        #expect(try Self.node(.max, inputs: 2).scalarExpression().evaluate([.nan, 1]).isNaN)
        #expect(try Self.node(.min, inputs: 2).scalarExpression().evaluate([1, .nan]).isNaN)
    }

    /// Softplus is written so it does not overflow where e^x does.
    @Test func softplusIsStableAtTheExtremes() throws {
        let expression = try Self.node(.softplus).scalarExpression()
        #expect(expression.evaluate([1000]) == 1000)
        #expect(abs(expression.evaluate([-40]) - exp(-40)) < 1e-17)
    }

    @Test func sineAndCosineInRadians() throws {
        #expect(abs(try Self.node(.sin).scalarExpression().evaluate([Double.pi / 2]) - 1) < 1e-15)
        #expect(abs(try Self.node(.cos).scalarExpression().evaluate([Double.pi]) + 1) < 1e-15)
    }

    @Test func everyElementwiseOpHasADefinitionAndOthersDoNot() {
        let elementwise = OpKind.allCases.filter { $0.schema.isElementwise }
        #expect(elementwise.count == 34)
        #expect(!OpKind.conv.schema.isElementwise && !OpKind.batchNormalization.schema.isElementwise)
    }
}
