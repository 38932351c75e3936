import LowpassIR
import LowpassPasses
import LowpassTensor

/// Structural re-parameterization: training-time structures that are linear collapse into one conv.
public enum ReparamPlugin: PassPlugin {
    public static let name = "Reparam"

    public static func register(into registry: inout PassRegistry) {
        registry.register(FoldBatchNorm.self, plugin: name)
        registry.register(FuseBranches.self, plugin: name)
    }
}

/// A convolution's weights as plain arrays, in double, for exact re-parameterization arithmetic.
struct ConvWeights {
    /// [out, in/group, kh, kw]
    var shape: [Int]
    var kernel: [Double]
    var bias: [Double]

    var outputs: Int { shape[0] }
    var perOutput: Int { shape[1] * shape[2] * shape[3] }

    init(shape: [Int], kernel: [Double], bias: [Double]?) {
        self.shape = shape
        self.kernel = kernel
        self.bias = bias ?? Array(repeating: 0, count: shape[0])
    }

    /// Folds an inference-form BatchNormalization that follows: w' = w * g / sqrt(v + eps),
    /// b' = beta + (b - mean) * g / sqrt(v + eps).
    mutating func fold(_ bn: BatchNormAffine) {
        for o in 0..<outputs {
            let scale = bn.scale[o]
            for i in 0..<perOutput { kernel[o * perOutput + i] *= scale }
            bias[o] = bn.offset[o] + bias[o] * scale
        }
    }

    /// The same kernel placed at the centre of a larger [kh, kw] window.
    func embedded(in size: [Int]) -> ConvWeights {
        let (kh, kw) = (shape[2], shape[3])
        let (top, left) = ((size[0] - kh) / 2, (size[1] - kw) / 2)
        var out = [Double](repeating: 0, count: shape[0] * shape[1] * size[0] * size[1])
        for oc in 0..<(shape[0] * shape[1]) {
            for y in 0..<kh { for x in 0..<kw { out[(oc * size[0] + top + y) * size[1] + left + x] = kernel[(oc * kh + y) * kw + x] } }
        }
        return ConvWeights(shape: [shape[0], shape[1], size[0], size[1]], kernel: out, bias: bias)
    }

    func tensors() -> (kernel: Tensor, bias: Tensor) {
        (Tensor(shape: shape, values: kernel.map(Float.init)), Tensor(shape: [outputs], values: bias.map(Float.init)))
    }
}

extension BatchNormAffine {
    /// The affine map of `node`, whose statistics must be parameters with data.
    init(_ node: Node, weights: [String: Tensor]) throws(NodeError) {
        try self.init(node) { i throws(NodeError) in
            guard let tensor = weights[node.inputs[i]] else {
                throw NodeError(.missingParameter, "BatchNormalization's statistics must be parameters with data")
            }
            return tensor
        }
    }
}

/// The edits of fold-bn and fuse-branches, made so that n folds cost O(n): each fold swaps one node
/// through the use-def index and detaches the ones it absorbs; the detached nodes and the parameter
/// changes are applied to the graph once, by `finish`. (Erasing a node or inserting a parameter per
/// fold moves the whole array each time.)
struct ConvFolding {
    var weights: [String: Tensor]
    private var absorbed = Set<String>()
    private var kernelShapes: [String: [Int]] = [:]
    /// New bias parameters, each to follow its kernel's parameter.
    private var biases: [(name: String, kernel: String, channels: Int)] = []
    private var biasNames = Set<String>()

    init(weights: [String: Tensor]) { self.weights = weights }

    /// Makes `conv` (keeping its name and its kernel's parameter name) compute `w` into `output`, and
    /// detaches `absorbed`, whose work it now does. The bias is the conv's own, or `<kernel prefix>.bias`.
    mutating func replace(conv: Node, removing absorbed: [Node], with w: ConvWeights, output: String, in graph: inout Graph) {
        let kernelName = conv.inputs[1]
        let biasName: String
        if conv.inputs.count > 2 {
            biasName = conv.inputs[2]
        } else {
            let base = kernelName.hasSuffix(".weight") ? String(kernelName.dropLast(".weight".count)) + ".bias" : kernelName + ".bias"
            biasName = graph.freshName(base, avoiding: biasNames)
            biases.append((biasName, kernelName, w.outputs))
            biasNames.insert(biasName)
        }
        (weights[kernelName], weights[biasName]) = w.tensors()
        kernelShapes[kernelName] = w.shape
        var fused = conv
        fused.inputs = [conv.inputs[0], kernelName, biasName]
        fused.outputs = [output]
        if fused.attributes["kernel_shape"] != nil { fused.attributes["kernel_shape"] = .ints([w.shape[2], w.shape[3]]) }
        // Detach first, so that `output`, which an absorbed node wrote, is recorded as the conv's.
        for node in absorbed where node.name != conv.name {
            guard let index = graph.index(ofNodeNamed: node.name) else { continue }
            graph.detach(nodeAt: index)
            self.absorbed.insert(node.name)
        }
        guard let index = graph.index(ofNodeNamed: conv.name) else { return }
        graph.replaceNode(at: index, with: [fused])
    }

    /// Removes the absorbed nodes and updates the parameters, in one sweep each.
    func finish(_ graph: inout Graph, pass: String) throws(PassError) {
        do { try graph.erase(nodesNamed: absorbed) } catch { throw PassError(pass: pass, error.description, node: error.node) }
        guard !kernelShapes.isEmpty || !biases.isEmpty else { return }
        let biasesAfter = Dictionary(grouping: biases, by: \.kernel)
        var parameters: [Parameter] = []
        parameters.reserveCapacity(graph.parameters.count + biases.count)
        for var parameter in graph.parameters {
            if let shape = kernelShapes[parameter.name] { parameter.type = TensorType(fixed: shape) }
            parameters.append(parameter)
            for bias in biasesAfter[parameter.name] ?? [] { parameters.append(Parameter(name: bias.name, type: TensorType(fixed: [bias.channels]))) }
        }
        graph.parameters = parameters
    }
}

extension PassContext {
    /// The weights, or an error naming the pass that needs them.
    func requireWeights(_ pass: String) throws(PassError) -> [String: Tensor] {
        guard let weights else {
            throw PassError(pass: pass, "it computes new weights, and the graph names no weight file (give --weights)")
        }
        return weights
    }
}
