/// The element-wise ops: each is its scalar expression (`x` is the first input's element, `y` the
/// second's, broadcast NumPy-style), its attributes, and the ONNX opset that defines it. Nothing else
/// in Lowpass names them one by one: the reference, the JIT's element-wise kernel and conv epilogue,
/// constant folding and ONNX import and export all work from these entries.
extension OpSchema {
    typealias E = ScalarExpression

    static let elementwise: [OpSchema] = [
        activation(.relu, "max(x, 0)") { _ in .maximum(.x, 0) },
        activation(.clip, "min(max(x, min), max); ReLU6 is Clip{min=0,max=6}",
                   [attr("min", .float, .float(-.infinity), "lower bound"), attr("max", .float, .float(.infinity), "upper bound")]) { node throws(NodeError) in
            .clamp(.x, .constant(try node.float("min")), .constant(try node.float("max")))
        },
        activation(.sigmoid, "1 / (1 + exp(-x))") { _ in .sigmoid(.x) },
        activation(.hardSigmoid, "max(0, min(1, alpha*x + beta))",
                   [attr("alpha", .float, .float(0.2), "slope"), attr("beta", .float, .float(0.5), "offset")]) { node throws(NodeError) in
            .clamp(.constant(try node.float("alpha")) * .x + .constant(try node.float("beta")), 0, 1)
        },
        activation(.hardSwish, "x * max(0, min(1, x/6 + 1/2))", onnxSince: 14) { _ in .x * .clamp(.constant(1.0 / 6) * .x + 0.5, 0, 1) },
        activation(.leakyRelu, "x if x >= 0, else alpha * x",
                   [attr("alpha", .float, .float(0.01), "slope for negative x")], onnxSince: 6) { node throws(NodeError) in
            .whereNegative(.x, .constant(try node.float("alpha")) * .x)
        },
        activation(.elu, "x if x >= 0, else alpha * (exp(x) - 1)",
                   [attr("alpha", .float, .float(1), "scale of the negative part")], onnxSince: 6) { node throws(NodeError) in
            .whereNegative(.x, .constant(try node.float("alpha")) * (.exp(.x) - 1))
        },
        activation(.selu, "gamma * (x if x > 0, else alpha * (exp(x) - 1))",
                   [attr("alpha", .float, .float(1.67326319217681884765625), "scale of the negative part"),
                    attr("gamma", .float, .float(1.05070102214813232421875), "overall scale")], onnxSince: 6) { node throws(NodeError) in
            .constant(try node.float("gamma")) * .whereNegative(.x, .constant(try node.float("alpha")) * (.exp(.x) - 1))
        },
        activation(.celu, "max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
                   [attr("alpha", .float, .float(1), "scale of the negative part")], onnxSince: 12) { node throws(NodeError) in
            let alpha = E.constant(try node.float("alpha"))
            return .maximum(.x, 0) + .minimum(alpha * (.exp(.x / alpha) - 1), 0)
        },
        activation(.gelu, "x * Phi(x): 0.5 x (1 + erf(x / sqrt 2)), or with approximate=tanh 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
                   [attr("approximate", .string, .string("none"), allowed: ["none", "tanh"], "the exact form or the tanh approximation")],
                   onnxSince: 20) { node throws(NodeError) in
            if try node.string("approximate") == "tanh" {
                return 0.5 * .x * (1 + .tanh(.constant((2 / Double.pi).squareRoot()) * (.x + 0.044715 * .x * .x * .x)))
            }
            return 0.5 * .x * (1 + .erf(.constant(1 / 2.0.squareRoot()) * .x))
        },
        activation(.mish, "x * tanh(softplus(x))", onnxSince: 18) { _ in .x * .tanh(.softplus(.x)) },
        activation(.softplus, "log(1 + exp(x))") { _ in .softplus(.x) },
        activation(.tanh, "tanh(x)", onnxSince: 6) { _ in .tanh(.x) },
        function(.neg, "-x", onnxSince: 6) { _ in -.x },
        function(.abs, "|x|", onnxSince: 6) { _ in .abs(.x) },
        function(.reciprocal, "1 / x", onnxSince: 6) { _ in 1 / .x },
        function(.sqrt, "square root of x", onnxSince: 6) { _ in .sqrt(.x) },
        function(.exp, "e^x", onnxSince: 6) { _ in .exp(.x) },
        function(.log, "natural logarithm of x", onnxSince: 6) { _ in .log(.x) },
        function(.erf, "the error function of x", onnxSince: 9) { _ in .erf(.x) },
        function(.floor, "the largest integer <= x", onnxSince: 6) { _ in .unary(.floor, .x) },
        function(.ceil, "the smallest integer >= x", onnxSince: 6) { _ in .unary(.ceil, .x) },
        function(.sin, "sine of x (radians)", onnxSince: 7) { _ in .unary(.sin, .x) },
        function(.cos, "cosine of x (radians)", onnxSince: 7) { _ in .unary(.cos, .x) },
        binary(.add, "element-wise sum with NumPy broadcasting", onnxSince: 7) { _ in .x + .y },
        binary(.sub, "element-wise difference with NumPy broadcasting", onnxSince: 7) { _ in .x - .y },
        binary(.mul, "element-wise product with NumPy broadcasting", onnxSince: 7) { _ in .x * .y },
        binary(.div, "element-wise quotient with NumPy broadcasting", onnxSince: 7) { _ in .x / .y },
        binary(.pow, "x to the power y, NumPy broadcasting (x^2 and x^0.5 with a constant y cost one multiply or square root)", onnxSince: 7) { _ in
            .power(.x, .y)
        },
        OpSchema(kind: .prelu, summary: "x if x >= 0, else slope * x; slope broadcasts to x (one per channel: [C, 1, 1])",
                 inputs: [input("X"), input("slope", parameter: true)], attributes: [], shape: ShapeRules.broadcast, output: "broadcast of X, slope",
                 scalar: { _ in .whereNegative(.x, .y * .x) }, isActivation: true, onnxSince: 9),
        variadic(.max, "element-wise maximum of the inputs, NumPy broadcasting", onnxSince: 8) { count in
            (1..<count).reduce(E.input(0)) { .maximum($0, .input($1)) }
        },
        variadic(.min, "element-wise minimum of the inputs, NumPy broadcasting", onnxSince: 8) { count in
            (1..<count).reduce(E.input(0)) { .minimum($0, .input($1)) }
        },
        variadic(.sum, "element-wise sum of the inputs, NumPy broadcasting", onnxSince: 8) { count in
            (1..<count).reduce(E.input(0)) { $0 + .input($1) }
        },
        variadic(.mean, "element-wise mean of the inputs, NumPy broadcasting", onnxSince: 8) { count in
            (1..<count).reduce(E.input(0)) { $0 + .input($1) } / .constant(Double(count))
        },
    ]

    /// A one-input non-linearity.
    private static func activation(_ kind: OpKind, _ summary: String, _ attributes: [AttributeSpec] = [], onnxSince: Int = 1,
                                   _ rule: @escaping ScalarRule) -> OpSchema {
        OpSchema(kind: kind, summary: summary, inputs: unary, attributes: attributes, shape: ShapeRules.sameAsFirst,
                 scalar: rule, isActivation: true, onnxSince: onnxSince)
    }

    /// A one-input function that is not used as a layer's activation.
    private static func function(_ kind: OpKind, _ summary: String, onnxSince: Int, _ rule: @escaping ScalarRule) -> OpSchema {
        OpSchema(kind: kind, summary: summary, inputs: unary, attributes: [], shape: ShapeRules.sameAsFirst, scalar: rule, onnxSince: onnxSince)
    }

    private static func binary(_ kind: OpKind, _ summary: String, onnxSince: Int, _ rule: @escaping ScalarRule) -> OpSchema {
        OpSchema(kind: kind, summary: summary, inputs: [input("A"), input("B")], attributes: [], shape: ShapeRules.broadcast,
                 output: "broadcast of A, B", scalar: rule, onnxSince: onnxSince)
    }

    /// One or more inputs, combined left to right by `combine(count)`.
    private static func variadic(_ kind: OpKind, _ summary: String, onnxSince: Int,
                                 _ combine: @escaping @Sendable (Int) -> ScalarExpression) -> OpSchema {
        OpSchema(kind: kind, summary: summary, inputs: [input("data_0")], attributes: [], shape: ShapeRules.broadcast,
                 output: "broadcast of the inputs", scalar: { node in combine(node.inputs.count) }, isVariadic: true, onnxSince: onnxSince)
    }
}
