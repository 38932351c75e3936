import LowpassIR
import LowpassPasses

/// Puts equivalent forms into one form, so later passes and the JIT match fewer shapes:
/// attributes equal to their defaults are dropped, `Reshape` that flattens becomes `Flatten`,
/// `MatMul` + bias `Add` becomes `Gemm`, and `Clip{min=0}` with no upper bound becomes `Relu`.
///
///     Before: %f = Reshape(p) {shape=[0,-1]}; %m = MatMul(f, w); %y = Add(m, b) {}; %c = Conv(x, k) {strides=[1,1]}
///     After:  %f = Flatten(p); %y = Gemm(f, w, b); %c = Conv(x, k)
public struct Canonicalize: Pass {
    public static let name = "canonicalize"
    public static let summary = "drop default attributes; Reshape->Flatten, MatMul+Add->Gemm, Clip(0,inf)->Relu"

    public init(options: PassOptions) {}

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        let types = try graph.verified(for: Self.name).types
        let parameterShapes = Dictionary(uniqueKeysWithValues: graph.parameters.compactMap { p in p.type.fixedShape.map { (p.name, $0) } })
        var changed = dropDefaultAttributes(&graph, types: types)
        let patterns: [any RewritePattern] = [
            ReshapeToFlatten(types: types),
            MatMulAddToGemm(types: types, parameterShapes: parameterShapes),
            ClipToRelu(),
        ]
        let result = try applyPatternsGreedily(patterns, to: &graph, context: &context)
        guard result.converged else {
            throw PassError(pass: Self.name, "its patterns did not reach a fixed point after \(result.rewrites) rewrites (a pattern undoes another)")
        }
        return result.changed || changed
    }

    func dropDefaultAttributes(_ graph: inout Graph, types: [String: TensorType]) -> Bool {
        var changed = false
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            for (name, value) in node.attributes {
                var isDefault = node.schema.attribute(name)?.defaultValue.map { $0 == value || $0 == Self.widened(value) } ?? false
                if node.op == .conv, name == "kernel_shape", node.inputs.count > 1,
                   let weight = types[node.inputs[1]]?.fixedShape, weight.count == 4, value == .ints(Array(weight[2...])) {
                    isDefault = true
                }
                if isDefault {
                    graph.nodes[i].attributes[name] = nil
                    changed = true
                }
            }
        }
        return changed
    }

    /// An int given for a float attribute compares equal to the float default.
    static func widened(_ value: AttributeValue) -> AttributeValue {
        if case .int(let n) = value { return .float(Double(n)) }
        return value
    }
}

/// `Reshape(x) {shape=[0,-1]}` (or any shape that keeps axis 0 and joins the rest) is `Flatten(x)`.
struct ReshapeToFlatten: RewritePattern {
    let root = OpKind.reshape
    var types: [String: TensorType]

    func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) -> Bool {
        let node = graph.nodes[index]
        guard let input = types[node.inputs[0]], let output = types[node.outputs[0]], input.rank >= 2,
              output.rank == 2, output.shape[0] == input.shape[0] else { return false }
        graph.nodes[index] = Node(name: node.name, op: .flatten, inputs: node.inputs, outputs: node.outputs)
        context.remark("Reshape to \(output) is a Flatten", node: node.name)
        return true
    }
}

/// `Add(MatMul(a, w), b)` with a 2-D weight `w` and a bias `b` of one row is `Gemm(a, w, b)`.
struct MatMulAddToGemm: RewritePattern {
    let root = OpKind.add
    var types: [String: TensorType]
    var parameterShapes: [String: [Int]]

    func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        let add = graph.nodes[index]
        for (productSlot, biasSlot) in [(0, 1), (1, 0)] {
            let product = add.inputs[productSlot], bias = add.inputs[biasSlot]
            guard let matMulIndex = graph.producerIndex(of: product), graph.nodes[matMulIndex].op == .matMul,
                  graph.hasSingleUse(product) else { continue }
            let matMul = graph.nodes[matMulIndex]
            guard types[matMul.inputs[0]]?.rank == 2, let weight = parameterShapes[matMul.inputs[1]], weight.count == 2,
                  let biasShape = parameterShapes[bias], biasShape == [weight[1]] || biasShape == [1, weight[1]] else { continue }
            graph.nodes[index] = Node(name: add.name, op: .gemm, inputs: [matMul.inputs[0], matMul.inputs[1], bias], outputs: add.outputs)
            do { try graph.erase(nodeNamed: matMul.name) } catch { throw PassError(pass: Canonicalize.name, error.description, node: matMul.name) }
            context.remark("MatMul '\(matMul.name)' and bias Add are one Gemm", node: add.name)
            return true
        }
        return false
    }
}

/// `Clip{min=0}` without an upper bound is `Relu`.
struct ClipToRelu: RewritePattern {
    let root = OpKind.clip

    func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) -> Bool {
        let node = graph.nodes[index]
        guard (try? node.float("min")) == 0, (try? node.float("max")) == .infinity else { return false }
        graph.nodes[index] = Node(name: node.name, op: .relu, inputs: node.inputs, outputs: node.outputs)
        return true
    }
}
