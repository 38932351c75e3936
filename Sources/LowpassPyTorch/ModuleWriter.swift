import LowpassIR

/// Translates a verified graph node by node into a module's `__init__` entries (`ModuleTree`) and
/// `forward` lines, each a standard `torch` / `torch.nn.functional` call on the node's inputs.
struct ModuleWriter {
    enum Helper: CaseIterable { case blurPool, depthToSpaceDCR, spaceToDepth, polyphase }

    let graph: Graph
    let types: [String: TensorType]
    var tree = ModuleTree()
    private var forward: [String] = []
    var helpers: Set<Helper> = []
    /// Python variable of each graph input and node output.
    private var variables: [String: String] = [:]
    private var taken: Set<String> = ["self", "torch", "nn", "F", "math", "Container", "BlurPool"]
    let parameters: [String: Parameter]
    /// How many node inputs read each parameter, and how many parameters lie under each dotted prefix.
    private let uses: [String: Int]
    private let parametersUnder: [String: Int]

    init(graph: Graph, types: [String: TensorType]) {
        self.graph = graph
        self.types = types
        parameters = Dictionary(graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var uses: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs where parameters[input] != nil { uses[input, default: 0] += 1 } }
        self.uses = uses
        var under: [String: Int] = [:]
        for name in parameters.keys {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            for depth in 1..<max(parts.count, 1) { under[parts[..<depth].joined(separator: "."), default: 0] += 1 }
        }
        parametersUnder = under
        for input in graph.inputs { variables[input.name] = fresh(input.name) }
    }

    // MARK: Names

    private mutating func fresh(_ name: String) -> String {
        let base = PythonName.identifier(name)
        var candidate = base, n = 1
        while taken.contains(candidate) { n += 1; candidate = "\(base)_\(n)" }
        taken.insert(candidate)
        return candidate
    }

    /// The expression for value `name`: a variable, or a parameter (registered on first use).
    mutating func value(_ name: String, buffer: Bool = false) throws(NodeError) -> String {
        if let variable = variables[name] { return variable }
        guard let parameter = parameters[name] else { throw NodeError(.undefinedValue, "'\(name)' is not defined") }
        if !tree.contains(name) {
            guard let shape = parameter.type.fixedShape else { throw NodeError(.symbolicParameter, "parameter '\(name)' has a symbolic shape") }
            // Constants written into the graph stay constants; weights from the file are trained.
            try tree.add(name, .tensor(shape: shape, inline: parameter.inlineData, buffer: buffer || parameter.inlineData != nil))
        }
        return ModuleTree.access(name)
    }

    func shape(_ value: String) -> [Dim] { types[value]?.shape ?? parameters[value]?.type.shape ?? [] }
    func rank(_ value: String) -> Int { shape(value).count }

    func fixedShape(_ value: String, for purpose: String) throws(NodeError) -> [Int] {
        guard let fixed = TensorType(.f32, shape(value)).fixedShape else {
            throw NodeError(.unsupportedExport, "\(purpose) needs a fixed shape for '\(value)', which is \(shape(value))")
        }
        return fixed
    }

    /// The common prefix `P` when inputs `roles` are exactly the parameters `P.<suffix>`, each read by
    /// this node alone, with nothing else under `P`: the node can be the torch layer at `P`.
    func layerPath(_ node: Node, _ roles: [(input: Int, suffix: String)]) -> String? {
        guard let first = roles.first, node.inputs.indices.contains(first.input) else { return nil }
        let name = node.inputs[first.input]
        guard name.hasSuffix("." + first.suffix) else { return nil }
        let path = String(name.dropLast(first.suffix.count + 1))
        for role in roles {
            guard node.inputs.indices.contains(role.input) else { return nil }
            let input = node.inputs[role.input]
            guard input == path + "." + role.suffix, let parameter = parameters[input], parameter.inlineData == nil,
                  uses[input] == 1, !tree.contains(input) else { return nil }
        }
        guard parametersUnder[path] == roles.count, parameters[path] == nil, ModuleTree.isValid(path), !tree.contains(path) else { return nil }
        return path
    }

    // MARK: Nodes

    mutating func translate(_ node: Node) throws(NodeError) {
        let expression = try self.expression(node)
        let output = fresh(node.outputs[0])
        variables[node.outputs[0]] = output
        forward.append("\(output) = \(expression)  # \(node.name) (\(node.op.rawValue))")
    }

    private mutating func expression(_ node: Node) throws(NodeError) -> String {
        let x = node.inputs.isEmpty ? "" : try value(node.inputs[0])
        switch node.op {
        case .conv, .convTranspose: return try convolution(node, x)
        case .batchNormalization: return try batchNormalization(node, x)
        case .maxPool, .averagePool: return try pool(node, x)
        case .blurPool: return try blurPool(node, x)
        case .polyphaseIndex:
            helpers.insert(.polyphase)
            return "polyphase_index(\(x), \(PythonName.tuple(try node.ints("strides", count: 2, minimum: 1))), \(PythonName.string(try node.polyphaseNorm().rawValue)))"
        case .polyphaseSelect:
            helpers.insert(.polyphase)
            return "polyphase_select(\(x), \(try value(node.inputs[1])), \(PythonName.tuple(try node.ints("strides", count: 2, minimum: 1))))"
        case .globalAveragePool: return "\(x).mean((2, 3), keepdim=True)"
        case .adaptiveAveragePool: return "F.adaptive_avg_pool2d(\(x), \(PythonName.tuple(try node.ints("output_size", count: 2, minimum: 1))))"
        case .gemm: return try gemm(node, x)
        case .matMul: return "torch.matmul(\(x), \(try value(node.inputs[1])))"
        case .relu: return "F.relu(\(x))"
        case .clip:
            let (low, high) = (try node.float("min"), try node.float("max"))
            if low == 0 && high == 6 { return "F.relu6(\(x))" }
            return "torch.clamp(\(x)" + (low.isInfinite ? "" : ", min=\(PythonName.float(low))") + (high.isInfinite ? "" : ", max=\(PythonName.float(high))") + ")"
        case .sigmoid: return "torch.sigmoid(\(x))"
        case .hardSigmoid:
            let (alpha, beta) = (try node.float("alpha"), try node.float("beta"))
            if abs(alpha - 1.0 / 6) < 1e-7 && beta == 0.5 { return "F.hardsigmoid(\(x))" }
            return "torch.clamp(\(PythonName.float(alpha)) * \(x) + \(PythonName.float(beta)), 0.0, 1.0)"
        case .hardSwish: return "F.hardswish(\(x))"
        case .add: return "\(x) + \(try value(node.inputs[1]))"
        case .sub: return "\(x) - \(try value(node.inputs[1]))"
        case .mul: return "\(x) * \(try value(node.inputs[1]))"
        case .div: return "\(x) / \(try value(node.inputs[1]))"
        case .pow: return "torch.pow(\(x), \(try value(node.inputs[1])))"
        case .max, .min, .sum, .mean:
            var operands: [String] = []
            for input in node.inputs { operands.append(try value(input)) }
            switch node.op {
            case .max: return operands.dropFirst().reduce(operands[0]) { "torch.maximum(\($0), \($1))" }
            case .min: return operands.dropFirst().reduce(operands[0]) { "torch.minimum(\($0), \($1))" }
            case .sum: return operands.joined(separator: " + ")
            default: return operands.count == 1 ? operands[0] : "(\(operands.joined(separator: " + "))) / \(operands.count)"
            }
        case .prelu: return "torch.where(\(x) < 0, \(try value(node.inputs[1])) * \(x), \(x))"
        case .neg: return "-\(x)"
        case .abs: return "torch.abs(\(x))"
        case .reciprocal: return "torch.reciprocal(\(x))"
        case .sqrt: return "torch.sqrt(\(x))"
        case .exp: return "torch.exp(\(x))"
        case .log: return "torch.log(\(x))"
        case .tanh: return "torch.tanh(\(x))"
        case .erf: return "torch.erf(\(x))"
        case .floor: return "torch.floor(\(x))"
        case .ceil: return "torch.ceil(\(x))"
        case .sin: return "torch.sin(\(x))"
        case .cos: return "torch.cos(\(x))"
        case .softplus: return "F.softplus(\(x))"
        case .mish: return "F.mish(\(x))"
        case .leakyRelu: return "F.leaky_relu(\(x), \(PythonName.float(try node.float("alpha"))))"
        case .elu: return "F.elu(\(x), \(PythonName.float(try node.float("alpha"))))"
        case .celu: return "F.celu(\(x), \(PythonName.float(try node.float("alpha"))))"
        case .selu:
            let (alpha, gamma) = (try node.float("alpha"), try node.float("gamma"))
            if abs(alpha - 1.6732631921768188) < 1e-12 && abs(gamma - 1.0507010221481323) < 1e-12 { return "F.selu(\(x))" }
            return "\(PythonName.float(gamma)) * torch.where(\(x) > 0, \(x), \(PythonName.float(alpha)) * torch.expm1(\(x)))"
        case .gelu: return try node.string("approximate") == "tanh" ? "F.gelu(\(x), approximate=\"tanh\")" : "F.gelu(\(x))"
        case .softmax, .logSoftmax:
            let axis = try normalized(try node.int("axis"), rank: rank(node.inputs[0]))
            return "torch.\(node.op == .softmax ? "softmax" : "log_softmax")(\(x), \(axis))"
        case .dropout: return "F.dropout(\(x), \(PythonName.float(try node.float("ratio"))), self.training)"
        case .identity: return x
        default: return try reshaping(node, x)
        }
    }

    func normalized(_ axis: Int, rank: Int, allowEnd: Bool = false) throws(NodeError) -> Int {
        let limit = allowEnd ? rank + 1 : rank
        guard axis >= -limit && axis < limit else { throw NodeError(.badAttribute, "axis \(axis) is outside a tensor of rank \(rank)") }
        return axis < 0 ? axis + limit : axis
    }

    // MARK: Layers

    private mutating func convolution(_ node: Node, _ x: String) throws(NodeError) -> String {
        let transposed = node.op == .convTranspose
        let weight = try fixedShape(node.inputs[1], for: node.op.rawValue)
        let g = try node.convGeometry(weightShape: weight.map(Dim.fixed))
        let groups = try node.int("group")
        let (top, left, bottom, right) = (g.pads[0], g.pads[1], g.pads[2], g.pads[3])
        let symmetric = top == bottom && left == right
        let outputPadding = transposed ? try node.ints("output_padding", count: 2, minimum: 0) : [0, 0]
        var options = ", stride=\(PythonName.tuple(g.strides))"
        if symmetric && (top, left) != (0, 0) { options += ", padding=\(PythonName.tuple([top, left]))" }
        if transposed && outputPadding != [0, 0] { options += ", output_padding=\(PythonName.tuple(outputPadding))" }
        if g.dilations != [1, 1] { options += ", dilation=\(PythonName.tuple(g.dilations))" }
        if groups != 1 { options += ", groups=\(groups)" }
        // Asymmetric padding: a conv pads the input first; a transposed conv crops its output after.
        let input = symmetric || transposed ? x : "F.pad(\(x), \(PythonName.tuple([left, right, top, bottom])))"
        let hasBias = node.inputs.count > 2
        var call: String
        if let path = layerPath(node, [(1, "weight")] + (hasBias ? [(2, "bias")] : [])) {
            let (inChannels, outChannels) = transposed ? (weight[0], weight[1] * groups) : (weight[1] * groups, weight[0])
            let layer = transposed ? "nn.ConvTranspose2d" : "nn.Conv2d"
            try tree.add(path, .layer(constructor: "\(layer)(\(inChannels), \(outChannels), \(PythonName.tuple(g.kernel))\(options)\(hasBias ? "" : ", bias=False"))"))
            call = "\(ModuleTree.access(path))(\(input))"
        } else {
            let bias = hasBias ? try value(node.inputs[2]) : "None"
            call = "F.\(transposed ? "conv_transpose2d" : "conv2d")(\(input), \(try value(node.inputs[1])), \(bias)\(options))"
        }
        if transposed && !symmetric {
            func range(_ begin: Int, _ end: Int) -> String { "\(begin):" + (end > 0 ? "-\(end)" : "") }
            call += "[:, :, \(range(top, bottom)), \(range(left, right))]"
        }
        return call
    }

    private mutating func batchNormalization(_ node: Node, _ x: String) throws(NodeError) -> String {
        let epsilon = try node.float("epsilon")
        // ONNX's momentum weighs the old statistics, PyTorch's the new batch's; 12 digits drop 1 - 0.9's rounding.
        let momentum = ((1 - (try node.float("momentum"))) * 1e12).rounded() / 1e12
        let rank = rank(node.inputs[0])
        if (2...4).contains(rank), let path = layerPath(node, [(1, "weight"), (2, "bias"), (3, "running_mean"), (4, "running_var")]) {
            let channels = try fixedShape(node.inputs[1], for: "BatchNormalization")[0]
            let layer = rank == 4 ? "nn.BatchNorm2d" : "nn.BatchNorm1d"
            try tree.add(path, .layer(constructor: "\(layer)(\(channels), eps=\(PythonName.float(epsilon)), momentum=\(PythonName.float(momentum)))"))
            return "\(ModuleTree.access(path))(\(x))"
        }
        let (scale, shift) = (try value(node.inputs[1]), try value(node.inputs[2]))
        let (mean, variance) = (try value(node.inputs[3], buffer: true), try value(node.inputs[4], buffer: true))
        return "F.batch_norm(\(x), \(mean), \(variance), \(scale), \(shift), self.training, \(PythonName.float(momentum)), \(PythonName.float(epsilon)))"
    }

    private mutating func gemm(_ node: Node, _ x: String) throws(NodeError) -> String {
        let (transA, transB) = (try node.int("transA") != 0, try node.int("transB") != 0)
        let (alpha, beta) = (try node.float("alpha"), try node.float("beta"))
        let hasC = node.inputs.count > 2
        if !transA && transB && alpha == 1 && beta == 1, !hasC || rank(node.inputs[2]) == 1,
           let path = layerPath(node, [(1, "weight")] + (hasC ? [(2, "bias")] : [])) {
            let weight = try fixedShape(node.inputs[1], for: "Gemm")
            try tree.add(path, .layer(constructor: "nn.Linear(\(weight[1]), \(weight[0])\(hasC ? "" : ", bias=False"))"))
            return "\(ModuleTree.access(path))(\(x))"
        }
        let a = transA ? "\(x).t()" : x
        let b = transB ? "\(try value(node.inputs[1])).t()" : try value(node.inputs[1])
        var product = "torch.matmul(\(a), \(b))"
        if alpha != 1 { product = "\(PythonName.float(alpha)) * \(product)" }
        guard hasC, beta != 0 else { return product }
        let c = try value(node.inputs[2])
        return "\(product) + " + (beta == 1 ? c : "\(PythonName.float(beta)) * \(c)")
    }

    private mutating func pool(_ node: Node, _ x: String) throws(NodeError) -> String {
        let g = try node.poolGeometry()
        let (top, left, bottom, right) = (g.pads[0], g.pads[1], g.pads[2], g.pads[3])
        let isMax = node.op == .maxPool
        // PyTorch pads symmetrically, at most half the window; other padding goes in front.
        let fits = top == bottom && left == right && 2 * top <= g.kernel[0] && 2 * left <= g.kernel[1]
        let includePad = isMax ? false : try node.int("count_include_pad") != 0
        var input = x
        var options = ""
        if !fits {
            guard !g.ceilMode else { throw NodeError(.unsupportedExport, "\(node.op.rawValue) with ceil_mode and padding \(g.pads) has no PyTorch form") }
            guard isMax || includePad else {
                throw NodeError(.unsupportedExport, "AveragePool with padding \(g.pads) that does not count in the divisor has no PyTorch form")
            }
            input = "F.pad(\(x), \(PythonName.tuple([left, right, top, bottom])), value=\(isMax ? "float(\"-inf\")" : "0.0"))"
        } else if (top, left) != (0, 0) {
            options += ", padding=\(PythonName.tuple([top, left]))"
        }
        if isMax && g.dilations != [1, 1] { options += ", dilation=\(PythonName.tuple(g.dilations))" }
        if g.ceilMode { options += ", ceil_mode=True" }
        if !isMax && fits && (top, left) != (0, 0) && !includePad { options += ", count_include_pad=False" }
        return "F.\(isMax ? "max_pool2d" : "avg_pool2d")(\(input), \(PythonName.tuple(g.kernel)), stride=\(PythonName.tuple(g.strides))\(options))"
    }

    private mutating func blurPool(_ node: Node, _ x: String) throws(NodeError) -> String {
        let spec = try node.blurPoolSpec()
        helpers.insert(.blurPool)
        let mode = switch spec.padMode { case .reflect: "reflect"; case .replicate: "replicate"; case .zero: "constant"; case .circular: "circular" }
        var path = "blur_" + PythonName.identifier(node.name)
        var n = 1
        while tree.contains(path) || parametersUnder[path] != nil || parameters[path] != nil { n += 1; path = "blur_\(PythonName.identifier(node.name))_\(n)" }
        let pads = [spec.pads[1], spec.pads[3], spec.pads[0], spec.pads[2]]
        let channels = shape(node.inputs[0]).count == 4 ? shape(node.inputs[0])[1].value.map(String.init) ?? "None" : "None"
        try tree.add(path, .layer(constructor: "BlurPool(\(channels), \(spec.filterSize), \(PythonName.tuple(spec.strides)), \(PythonName.string(mode)), \(PythonName.tuple(pads)))"))
        return "\(ModuleTree.access(path))(\(x))"
    }

    // MARK: Source

    func source(className: String, graphName: String, weightsFile: String) throws(NodeError) -> String {
        var lines = ["\"\"\"\(graphName), written by Lowpass (`lowpass export ... -o FILE.py`).",
                     "",
                     "    model = \(className)()",
                     "    model.load_state_dict(safetensors.torch.load_file(\(PythonName.string(weightsFile))))",
                     "",
                     "state_dict() keys are the graph's parameter names; BlurPool filters are non-persistent buffers.",
                     "\"\"\"",
                     "import math",
                     "",
                     "import torch",
                     "import torch.nn as nn",
                     "import torch.nn.functional as F",
                     "",
                     "",
                     "class Container(nn.Module):",
                     "    \"\"\"Holds submodules and tensors under the graph's dotted names; `c[3]` is the child named \"3\".\"\"\"",
                     "",
                     "    def __getitem__(self, name):",
                     "        return getattr(self, str(name))",
                     ""]
        for helper in Helper.allCases where helpers.contains(helper) { lines += ["", helper.source] }
        lines += ["", "class \(className)(Container):", "    def __init__(self):", "        super().__init__()"]
        lines += try tree.initializer().map { "        " + $0 }
        let inputs = graph.inputs.compactMap { variables[$0.name] }
        lines += ["", "    def forward(self, \(inputs.joined(separator: ", "))):"]
        lines += forward.map { "        " + $0 }
        let outputs = graph.outputs.compactMap { variables[$0] ?? parameters[$0].map { ModuleTree.access($0.name) } }
        lines.append("        return " + (outputs.count == 1 ? outputs[0] : outputs.joined(separator: ", ")))
        return lines.joined(separator: "\n") + "\n"
    }
}
