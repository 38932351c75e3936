import LowpassIR

/// Builds a graph the way a PyTorch module tree reads: each call adds one layer, named by its module
/// path, whose parameters take the `state_dict()` names of that module (`layer1.0.conv1.weight`).
/// Values are named after the node that makes them; channel counts are tracked so that callers
/// give only output sizes, as in `nn.Conv2d(in, out, ...)`.
struct GraphBuilder {
    private(set) var graph: Graph
    private var channels: [String: Int] = [:]
    private var taken: Set<String> = []

    init(name: String, input: String = "input", channels inputChannels: Int, height: Int, width: Int,
         metadata: [String: String] = [:]) {
        graph = Graph(name: name, metadata: metadata,
                      inputs: [ValueInfo(name: input, type: TensorType(.f32, [.symbol("N"), .fixed(inputChannels), .fixed(height), .fixed(width)]))])
        channels[input] = inputChannels
        taken.insert(input)
    }

    func channelCount(_ value: String) -> Int { channels[value] ?? 0 }

    /// `name`, or `name_1`, `name_2`, ... when a module is applied more than once (torchvision reuses `relu`).
    private mutating func unique(_ name: String) -> String {
        var candidate = name
        var i = 1
        while taken.contains(candidate) { candidate = "\(name)_\(i)"; i += 1 }
        taken.insert(candidate)
        return candidate
    }

    private mutating func parameter(_ name: String, _ shape: [Int]) -> String {
        graph.parameters.append(Parameter(name: name, type: TensorType(fixed: shape)))
        taken.insert(name)
        return name
    }

    /// Adds a node whose output is named like the node; returns that output.
    @discardableResult
    mutating func add(_ op: OpKind, _ name: String, _ inputs: [String], _ attributes: Attributes = [:], channels count: Int? = nil) -> String {
        let nodeName = unique(name)
        graph.nodes.append(Node(name: nodeName, op: op, inputs: inputs, outputs: [nodeName], attributes: attributes))
        channels[nodeName] = count ?? inputs.first.map(channelCount) ?? 0
        return nodeName
    }

    mutating func output(_ value: String) { graph.outputs.append(value) }

    // MARK: Layers, as torch.nn names them

    /// `nn.Conv2d(in, out, kernel, stride, padding, dilation, groups, bias)`; `pads` overrides `padding`
    /// with explicit [top, left, bottom, right] (TensorFlow-style asymmetric padding).
    mutating func conv(_ name: String, _ x: String, _ out: Int, kernel: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0),
                       pads: [Int]? = nil, dilation: Int = 1, groups: Int = 1, bias: Bool = false) -> String {
        let weight = parameter("\(name).weight", [out, channelCount(x) / groups, kernel.0, kernel.1])
        var inputs = [x, weight]
        if bias { inputs.append(parameter("\(name).bias", [out])) }
        var attributes: Attributes = [:]
        if stride != 1 { attributes["strides"] = .ints([stride, stride]) }
        let explicit = pads ?? [padding.0, padding.1, padding.0, padding.1]
        if explicit != [0, 0, 0, 0] { attributes["pads"] = .ints(explicit) }
        if dilation != 1 { attributes["dilations"] = .ints([dilation, dilation]) }
        if groups != 1 { attributes["group"] = .int(groups) }
        return add(.conv, name, inputs, attributes, channels: out)
    }

    mutating func conv(_ name: String, _ x: String, _ out: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                       dilation: Int = 1, groups: Int = 1, bias: Bool = false) -> String {
        conv(name, x, out, kernel: (kernel, kernel), stride: stride, padding: (padding, padding), dilation: dilation, groups: groups, bias: bias)
    }

    /// `nn.BatchNorm2d` / `nn.BatchNorm1d` in inference form.
    mutating func batchNorm(_ name: String, _ x: String, epsilon: Double = 1e-5) -> String {
        let c = channelCount(x)
        let inputs = [x] + ["weight", "bias", "running_mean", "running_var"].map { parameter("\(name).\($0)", [c]) }
        return add(.batchNormalization, name, inputs, epsilon == 1e-5 ? [:] : ["epsilon": .float(epsilon)])
    }

    mutating func relu(_ name: String, _ x: String) -> String { add(.relu, name, [x]) }

    mutating func relu6(_ name: String, _ x: String) -> String { add(.clip, name, [x], ["min": .float(0), "max": .float(6)]) }

    mutating func sigmoid(_ name: String, _ x: String) -> String { add(.sigmoid, name, [x]) }

    mutating func maxPool(_ name: String, _ x: String, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false) -> String {
        var attributes: Attributes = ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride])]
        if padding != 0 { attributes["pads"] = .ints([padding, padding, padding, padding]) }
        if ceilMode { attributes["ceil_mode"] = .int(1) }
        return add(.maxPool, name, [x], attributes)
    }

    /// `nn.AvgPool2d`; PyTorch's default counts padding in the divisor (count_include_pad=True).
    mutating func avgPool(_ name: String, _ x: String, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false,
                          countIncludePad: Bool = true) -> String {
        var attributes: Attributes = ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride])]
        if padding != 0 { attributes["pads"] = .ints([padding, padding, padding, padding]) }
        if ceilMode { attributes["ceil_mode"] = .int(1) }
        if countIncludePad { attributes["count_include_pad"] = .int(1) }
        return add(.averagePool, name, [x], attributes)
    }

    mutating func globalAveragePool(_ name: String, _ x: String) -> String { add(.globalAveragePool, name, [x]) }

    /// `torch.flatten(x, 1)`: the feature count is C*H*W, read from the shapes inferred so far.
    mutating func flatten(_ name: String, _ x: String) -> String {
        var partial = graph
        partial.outputs = [x]
        let inner = (try? partial.verify().types[x]?.shape.dropFirst().compactMap(\.value)) ?? nil
        let features = inner.map { $0.reduce(1, *) }
        return add(.flatten, name, [x], channels: features ?? channelCount(x))
    }

    mutating func dropout(_ name: String, _ x: String, ratio: Double = 0.5) -> String {
        add(.dropout, name, [x], ratio == 0.5 ? [:] : ["ratio": .float(ratio)])
    }

    /// `nn.Linear(in, out)`: Gemm with the weight as [out, in].
    mutating func linear(_ name: String, _ x: String, _ out: Int, bias: Bool = true) -> String {
        let weight = parameter("\(name).weight", [out, channelCount(x)])
        let inputs = [x, weight] + (bias ? [parameter("\(name).bias", [out])] : [])
        return add(.gemm, name, inputs, ["transB": .int(1)], channels: out)
    }

    mutating func sum(_ name: String, _ a: String, _ b: String) -> String { add(.add, name, [a, b]) }

    mutating func product(_ name: String, _ a: String, _ b: String) -> String {
        add(.mul, name, [a, b], channels: max(channelCount(a), channelCount(b)))
    }

    mutating func concat(_ name: String, _ xs: [String]) -> String {
        add(.concat, name, xs, ["axis": .int(1)], channels: xs.reduce(0) { $0 + channelCount($1) })
    }

    /// A constant carried in the graph, such as a scale factor.
    mutating func constant(_ name: String, _ values: [Float]) -> String {
        graph.parameters.append(Parameter(name: name, type: TensorType(fixed: [values.count]), inlineData: values))
        taken.insert(name)
        return name
    }

    mutating func blurPool(_ name: String, _ x: String, filterSize: Int, stride: Int = 2, padMode: String = "reflect") -> String {
        var attributes: Attributes = ["filter_size": .int(filterSize)]
        if stride != 2 { attributes["strides"] = .ints([stride, stride]) }
        if padMode != "reflect" { attributes["pad_mode"] = .string(padMode) }
        return add(.blurPool, name, [x], attributes)
    }
}
