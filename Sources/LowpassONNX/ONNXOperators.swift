import LowpassIR
import LowpassTensor

/// ONNX attributes of one node, by name.
struct ONNXAttributes {
    var values: [String: Onnx_AttributeProto] = [:]

    init(_ node: Onnx_NodeProto) {
        for attribute in node.attribute { values[attribute.name] = attribute }
    }

    func int(_ name: String) -> Int? { values[name].map { Int(clamping: $0.i) } }
    func ints(_ name: String) -> [Int]? { values[name].map { $0.ints.map { Int(clamping: $0) } } }
    func float(_ name: String) -> Double? { values[name].map { Double($0.f) } }
    func string(_ name: String) -> String? { values[name].map { String(decoding: $0.s, as: UTF8.self) } }

    /// The attributes ONNX defines for each op Lowpass translates, over every opset (older spellings
    /// included). An attribute outside its op's list is refused as ONNX Runtime refuses it: ignoring it
    /// would compute something other than what the file says.
    static let defined: [String: Set<String>] = [
        "Constant": ["value", "value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings", "sparse_value"],
        "Conv": ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
        "MaxPool": ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"],
        "AveragePool": ["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"],
        "GlobalAveragePool": [], "Identity": [],
        "Dropout": ["ratio", "seed", "is_test", "consumed_inputs"],
        "Softmax": ["axis"], "LogSoftmax": ["axis"], "Flatten": ["axis"],
        "BatchNormalization": ["epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"],
        "Add": ["consumed_inputs", "broadcast", "axis"], "Mul": ["consumed_inputs", "broadcast", "axis"],
        "Gemm": ["alpha", "beta", "transA", "transB", "broadcast"], "MatMul": [],
        "Concat": ["axis"], "Clip": ["min", "max", "consumed_inputs"], "Pad": ["mode", "pads", "value"],
        "Reshape": ["allowzero", "shape", "consumed_inputs"], "Shape": ["start", "end"],
        "Gather": ["axis"], "Unsqueeze": ["axes"], "Squeeze": ["axes"], "Cast": ["to", "saturate"],
        "ConstantOfShape": ["value"], "Transpose": ["perm"], "Slice": ["axes", "ends", "starts"], "Split": ["axis", "split", "num_outputs"],
        "ReduceMean": ["axes", "keepdims", "noop_with_empty_axes"], "ReduceSum": ["axes", "keepdims", "noop_with_empty_axes"],
        "ReduceMax": ["axes", "keepdims", "noop_with_empty_axes"], "ReduceMin": ["axes", "keepdims", "noop_with_empty_axes"],
        "ReduceL2": ["axes", "keepdims", "noop_with_empty_axes"], "LayerNormalization": ["axis", "epsilon", "stash_type"],
        "Expand": [], "InstanceNormalization": ["epsilon"], "GroupNormalization": ["epsilon", "num_groups", "stash_type"], "Tile": [], "Range": [], "CumSum": ["exclusive", "reverse"], "Mod": ["fmod"], "Equal": [], "Less": [], "Greater": [], "LessOrEqual": [],
        "GreaterOrEqual": [], "Not": [], "And": [], "Or": [], "Where": [], "ScatterND": ["reduction"], "Einsum": ["equation"],
        "ArgMax": ["axis", "keepdims", "select_last_index"], "ArgMin": ["axis", "keepdims", "select_last_index"],
        "ConvTranspose": ["auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"], "DepthToSpace": ["blocksize", "mode"], "SpaceToDepth": ["blocksize"],
        "Resize": ["mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value",
                   "antialias", "axes", "keep_aspect_ratio_policy"],
    ]

    /// The attributes ONNX defines for `opType`: from the table, or for an element-wise op, Lowpass's own
    /// (which are ONNX's) and the opset-1 `consumed_inputs`.
    static func definedAttributes(_ opType: String) -> Set<String>? {
        if let listed = defined[opType] { return listed }
        guard let op = OpKind(rawValue: opType), op.schema.isElementwise else { return nil }
        return Set(op.schema.attributes.map(\.name) + ["consumed_inputs"])
    }

    /// Throws for an attribute the op does not define, or one Lowpass would have to ignore.
    static func check(_ node: Onnx_NodeProto, name: String) throws(Diagnostic) {
        guard let defined = definedAttributes(node.opType) else { return }
        var seen = Set<String>()
        for attribute in node.attribute {
            guard defined.contains(attribute.name) else {
                let list = defined.isEmpty ? "none" : defined.sorted().joined(separator: ", ")
                throw Diagnostic(.unknownAttribute, "\(node.opType) has no attribute '\(attribute.name)' (ONNX defines: \(list))", at: .node(name))
            }
            guard seen.insert(attribute.name).inserted else {
                throw Diagnostic(.badAttribute, "attribute '\(attribute.name)' is given twice", at: .node(name))
            }
        }
        let a = ONNXAttributes(node)
        // Attributes ONNX defines whose non-default values change the result in ways Lowpass does not compute.
        if node.opType == "BatchNormalization", let spatial = a.int("spatial"), spatial == 0 {
            throw Diagnostic(.unsupportedAttribute, "BatchNormalization with spatial=0 (per-element statistics) is not imported", at: .node(name))
        }
        if ["Add", "Mul"].contains(node.opType), a.values["axis"] != nil {
            throw Diagnostic(.unsupportedAttribute, "\(node.opType) with the pre-opset-7 broadcast axis is not imported; re-export with opset 7 or later", at: .node(name))
        }
    }
}

/// One ONNX node as the translation reads it: its proto, its (unique) Lowpass name and attributes.
struct ONNXNode {
    let proto: Onnx_NodeProto
    let name: String
    let attributes: ONNXAttributes
    var op: String { proto.opType }
    var inputs: [String] { proto.input }
    var output: String { proto.output.first ?? name }

    init(_ proto: Onnx_NodeProto, name: String) {
        (self.proto, self.name, attributes) = (proto, name, ONNXAttributes(proto))
    }

    func require(_ count: Int) throws(Diagnostic) {
        guard inputs.count >= count else { throw Diagnostic(.arity, "\(op) needs \(count) inputs, has \(inputs.count)", at: .node(name)) }
    }

    /// Whether input `i` is given (ONNX marks a skipped optional input with an empty name).
    func has(_ i: Int) -> Bool { i < inputs.count && !inputs[i].isEmpty }
}

extension GraphImporter {
    /// Translates one ONNX node; false if Lowpass has no translation for its op.
    mutating func translate(_ proto: Onnx_NodeProto, name: String) throws(Diagnostic) -> Bool {
        if proto.domain == PolyphaseRecognizer.domain, let op = OpKind(rawValue: proto.opType), [.polyphaseIndex, .polyphaseSelect].contains(op) {
            var attributes: Attributes = [:]
            for attribute in proto.attribute {
                attributes[attribute.name] = attribute.type == .ints ? .ints(attribute.ints.map { Int(clamping: $0) }) : .string(String(decoding: attribute.s, as: UTF8.self))
            }
            try emit(op, name, proto.input, proto.output.first ?? "", attributes)
            return true
        }
        guard proto.domain.isEmpty || proto.domain == "ai.onnx" else { return false }
        try ONNXAttributes.check(proto, name: name)
        let node = ONNXNode(proto, name: name), a = node.attributes
        switch node.op {
        case "Constant": return try translateConstant(node)
        case "Conv", "MaxPool", "AveragePool": try translateWindowed(node)
        case "GlobalAveragePool": try emit(.globalAveragePool, name, [try operand(node, 0)], node.output)
        case "Identity":
            if let constant = constants[node.inputs.first ?? ""], types[node.inputs[0]] == nil { constants[node.output] = constant; return true }
            try emit(.identity, name, [try operand(node, 0)], node.output)
        case "Dropout":
            remarkTrainingOutputs(node)
            try emit(.dropout, name, [try operand(node, 0)], node.output)
        case "Softmax", "LogSoftmax": try translateSoftmax(node)
        case "Flatten": try emit(.flatten, name, [try operand(node, 0)], node.output, ["axis": .int(a.int("axis") ?? 1)])
        case "BatchNormalization" where (a.int("training_mode") ?? 0) != 0:
            // Batch statistics of a constant (weight standardization: timm's StdConv2d, NFNets) fold;
            // of a computed tensor they would need the batch, which inference does not have.
            try node.require(3)
            guard let x = constants[node.inputs[0]]?.floatTensor, let scale = constants[node.inputs[1]]?.floatTensor,
                  let shift = constants[node.inputs[2]]?.floatTensor, let folded = Self.batchStatisticsNormalized(x, scale, shift, epsilon: a.float("epsilon") ?? 1e-5) else {
                throw Diagnostic(.unsupportedAttribute, "BatchNormalization with training_mode=1 (batch statistics) is not imported; export the model in eval mode", at: .node(name))
            }
            remarkTrainingOutputs(node)
            constants[node.output] = .floats(folded)
        case "BatchNormalization":
            try node.require(5)
            remarkTrainingOutputs(node)
            let operands = try (0..<5).map { (i) throws(Diagnostic) in try operand(node, i) }
            try emit(.batchNormalization, name, operands, node.output, ["epsilon": .float(a.float("epsilon") ?? 1e-5)])
        case "Gemm": try translateGemm(node)
        case "MatMul":
            try node.require(2)
            try emit(.matMul, name, [try operand(node, 0), try operand(node, 1)], node.output)
        case "Einsum": try translateEinsum(node)
        case "Concat":
            if node.inputs.allSatisfy({ constants[$0]?.ints != nil }), let folded = foldIntegers(node.proto, a) {
                constants[node.output] = folded
                return true
            }
            try emitOrFold(.concat, node, node.inputs, node.output, ["axis": .int(a.int("axis") ?? 0)])
        case "Clip": try translateClip(node)
        case "Pad": try translatePad(node)
        case "Reshape": try translateReshape(node)
        case "Shape": try translateShape(node)
        case "Gather" where constants[node.inputs.first ?? ""]?.ints == nil:
            // On a float tensor: the indices must be constant integers.
            try node.require(2)
            guard case .ints(let indices, let shape)? = constants[node.inputs[1]] else {
                throw Diagnostic(.dynamicConstant, "Gather's indices ('\(node.inputs[1])') must be a constant integer tensor", at: .node(name))
            }
            try emitOrFold(.gather, node, [node.inputs[0]], node.output, ["indices": .ints(indices), "indices_shape": .ints(shape), "axis": .int(a.int("axis") ?? 0)])
        case "Cast" where constants[node.inputs.first ?? ""] == nil: try translateCast(node)
        case "CumSum":
            // Only of constants (position encodings built from a mask of ones); Lowpass has no CumSum op.
            guard let folded = foldCumulativeSum(node) else { return false }
            constants[node.output] = folded
        case "ScatterND":
            guard let folded = foldScatter(node) else { return false }
            constants[node.output] = folded
        case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Where":
            // Only of constants: Lowpass's tensors are float, with no boolean computed at run time.
            guard let folded = foldLogic(node) else { return false }
            constants[node.output] = folded
        case "Gather", "Cast", "ConstantOfShape", "Range", "Mod":
            guard let folded = foldIntegers(node.proto, a) else { return false }
            constants[node.output] = folded
        case "Tile":
            try node.require(2)
            if let folded = foldIntegers(node.proto, a) {
                constants[node.output] = folded
                return true
            }
            try emitOrFold(.tile, node, [node.inputs[0]], node.output, ["repeats": .ints(try intConstant(node.inputs[1], "Tile's repeats", of: name))])
        case "ArgMax", "ArgMin":
            try emitOrFold(node.op == "ArgMax" ? .argMax : .argMin, node, [node.inputs.first ?? ""], node.output,
                           ["axis": .int(a.int("axis") ?? 0), "keepdims": .int(a.int("keepdims") ?? 1), "select_last_index": .int(a.int("select_last_index") ?? 0)])
        case "GroupNormalization": try translateGroupNorm(node)
        case "Expand":
            try node.require(2)
            if case .ints(let values, let shape)? = constants[node.inputs[0]] {
                // Index arithmetic on integer constants (Swin's relative positions).
                let target = try intConstant(node.inputs[1], "Expand's shape", of: name)
                let expand = Node(name: name, op: .expand, inputs: [], outputs: [], attributes: ["shape": .ints(target)])
                guard let expanded = IntegerTensor(values: values, shape: shape).viewed(by: expand) else {
                    throw Diagnostic(.shapeMismatch, "Expand of the integer constant '\(node.inputs[0])' of shape \(shape) to \(target) does not broadcast or is too large to fold", at: .node(name))
                }
                constants[node.output] = .ints(expanded.values, shape: expanded.shape)
                return true
            }
            try emitOrFold(.expand, node, [node.inputs[0]], node.output, ["shape": .ints(try intConstant(node.inputs[1], "Expand's shape", of: name))])
        case "DepthToSpace", "SpaceToDepth":
            guard let blocksize = a.int("blocksize") else { throw Diagnostic(.missingAttribute, "\(node.op) needs blocksize", at: .node(name)) }
            var attributes: Attributes = ["blocksize": .int(blocksize)]
            if node.op == "DepthToSpace" { attributes["mode"] = .string(a.string("mode") ?? "DCR") }
            try emitOrFold(node.op == "DepthToSpace" ? .depthToSpace : .spaceToDepth, node, [node.inputs[0]], node.output, attributes)
        case "Transpose", "Slice", "Squeeze", "Unsqueeze":
            if let folded = foldIntegers(node.proto, a) {
                constants[node.output] = folded
                return true
            }
            try translateDataMovement(node)
        case "Split": try translateSplit(node)
        case "Resize": try translateResize(node)
        case "ConvTranspose":
            try node.require(2)
            guard a.ints("output_shape") == nil, (a.string("auto_pad") ?? "NOTSET") == "NOTSET" else {
                throw Diagnostic(.unsupportedAttribute, "ConvTranspose with output_shape or auto_pad is not imported; export with explicit pads", at: .node(name))
            }
            var attributes: Attributes = [:]
            for key in ["kernel_shape", "strides", "pads", "dilations", "output_padding"] { if let v = a.ints(key) { attributes[key] = .ints(v) } }
            if let group = a.int("group") { attributes["group"] = .int(group) }
            let operands = try (0..<(node.has(2) ? 3 : 2)).map { (i) throws(Diagnostic) in try operand(node, i) }
            try emit(.convTranspose, name, operands, node.output, attributes)
        case "InstanceNormalization":
            try node.require(3)
            try emitOrFold(.instanceNormalization, node, Array(node.inputs.prefix(3)), node.output, ["epsilon": .float(a.float("epsilon") ?? 1e-5)])
        case "LayerNormalization":
            guard !node.proto.output.dropFirst().contains(where: { !$0.isEmpty }) else {
                throw Diagnostic(.unsupportedOp, "LayerNormalization's Mean and InvStdDev outputs are not imported", at: .node(name))
            }
            try node.require(2)
            var attributes: Attributes = ["axis": .int(a.int("axis") ?? -1), "epsilon": .float(a.float("epsilon") ?? 1e-5)]
            if let stash = a.int("stash_type") { attributes["stash_type"] = .int(stash) }
            try emitOrFold(.layerNormalization, node, node.inputs.filter { !$0.isEmpty }, node.output, attributes)
        case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2": try translateReduction(node)
        default:
            return try translateElementwise(node.proto, name: name, a)
        }
        return true
    }

    /// Input `i` of `node` as a graph value (a float constant becomes a parameter).
    mutating func operand(_ node: ONNXNode, _ i: Int) throws(Diagnostic) -> String {
        guard node.has(i) else {
            throw Diagnostic(.arity, "\(node.op) needs input \(i + 1), the node has \(node.inputs.count)", at: .node(node.name))
        }
        return try value(node.inputs[i], of: node.name)
    }

    /// Extra outputs (Dropout's mask, BatchNormalization's training statistics) are not imported.
    mutating func remarkTrainingOutputs(_ node: ONNXNode) {
        if node.proto.output.dropFirst().contains(where: { !$0.isEmpty }) {
            remarks.append("node '\(node.name)': \(node.op)'s extra outputs are training-only and not imported")
        }
    }

    mutating func translateConstant(_ node: ONNXNode) throws(Diagnostic) -> Bool {
        let a = node.attributes
        if let tensor = a.values["value"], tensor.hasT {
            constants[node.output] = try tensor.t.constant(directory: directory)
        } else if let f = a.float("value_float") {
            constants[node.output] = .floats(Tensor(shape: [], values: [Float(f)]))
        } else if let fs = a.values["value_floats"] {
            constants[node.output] = .floats(Tensor(shape: [fs.floats.count], values: fs.floats))
        } else if let i = a.int("value_int") {
            constants[node.output] = .ints([i], shape: [])
        } else if let i = a.ints("value_ints") {
            constants[node.output] = .ints(i, shape: [i.count])
        } else {
            return false
        }
        return true
    }

    /// Conv, MaxPool and AveragePool: 2-D windows, `auto_pad` made explicit, defaults left out.
    mutating func translateWindowed(_ node: ONNXNode) throws(Diagnostic) {
        let a = node.attributes, name = node.name, isConv = node.op == "Conv"
        try node.require(isConv ? 2 : 1)
        var attributes: Attributes = [:]
        let x = try operand(node, 0)
        let weight = isConv ? try operand(node, 1) : nil
        let kernel = a.ints("kernel_shape") ?? weight.flatMap { types[$0]?.fixedShape.map { Array($0.suffix(2)) } } ?? []
        guard kernel.count == 2 else { throw Diagnostic(.unsupportedOp, "only 2-D \(node.op) is imported", at: .node(name)) }
        if !isConv || a.ints("kernel_shape") != nil { attributes["kernel_shape"] = .ints(kernel) }
        let strides = a.ints("strides") ?? [1, 1]
        let dilations = a.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2, strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }) else {
            throw Diagnostic(.badAttribute, "strides and dilations must be two positive integers", at: .node(name))
        }
        if strides != [1, 1] { attributes["strides"] = .ints(strides) }
        if dilations != [1, 1] {
            guard node.op != "AveragePool" else { throw Diagnostic(.unsupportedAttribute, "AveragePool with dilations is not imported", at: .node(name)) }
            attributes["dilations"] = .ints(dilations)
        }
        let pads = try explicitPads(a, input: x, kernel: kernel, strides: strides, dilations: dilations, node: name)
        if pads != [0, 0, 0, 0] { attributes["pads"] = .ints(pads) }
        if let group = a.int("group"), group != 1 { attributes["group"] = .int(group) }
        if let ceil = a.int("ceil_mode"), ceil != 0 { attributes["ceil_mode"] = .int(1) }
        if let count = a.int("count_include_pad"), count != 0 { attributes["count_include_pad"] = .int(1) }
        let op: OpKind = isConv ? .conv : node.op == "MaxPool" ? .maxPool : .averagePool
        let operands = try isConv ? [x, try operand(node, 1)] + (node.has(2) ? [try operand(node, 2)] : []) : [x]
        if node.proto.output.count > 1 && !node.proto.output[1].isEmpty {
            throw Diagnostic(.unsupportedOp, "MaxPool's Indices output is not imported", at: .node(name))
        }
        try emit(op, name, operands, node.output, attributes)
    }

    mutating func translateSoftmax(_ node: ONNXNode) throws(Diagnostic) {
        let x = try operand(node, 0)
        let axis = node.attributes.int("axis") ?? (opset < 13 ? 1 : -1)
        if opset < 13, let rank = types[x]?.rank, axis != rank - 1 && axis != -1 {
            throw Diagnostic(.unsupportedAttribute, "\(node.op) before opset 13 over axis \(axis) of a rank-\(rank) tensor is not imported", at: .node(node.name))
        }
        try emit(node.op == "LogSoftmax" ? .logSoftmax : .softmax, node.name, [x], node.output, ["axis": .int(axis)])
    }

    mutating func translateGemm(_ node: ONNXNode) throws(Diagnostic) {
        try node.require(2)
        var attributes: Attributes = [:]
        for key in ["transA", "transB"] { if let v = node.attributes.int(key), v != 0 { attributes[key] = .int(v) } }
        for key in ["alpha", "beta"] { if let v = node.attributes.float(key), v != 1 { attributes[key] = .float(v) } }
        let operands = [try operand(node, 0), try operand(node, 1)] + (node.has(2) ? [try operand(node, 2)] : [])
        try emit(.gemm, node.name, operands, node.output, attributes)
    }

    /// Clip's bounds: attributes before opset 11, constant inputs since.
    mutating func translateClip(_ node: ONNXNode) throws(Diagnostic) {
        var attributes: Attributes = [:]
        if opset < 11 {
            if let low = node.attributes.float("min") { attributes["min"] = .float(low) }
            if let high = node.attributes.float("max") { attributes["max"] = .float(high) }
        } else {
            if node.inputs.count > 1, let low = try floatScalar(node.inputs[1], of: node.name) { attributes["min"] = .float(low) }
            if node.inputs.count > 2, let high = try floatScalar(node.inputs[2], of: node.name) { attributes["max"] = .float(high) }
        }
        guard node.has(0) else { throw Diagnostic(.arity, "Clip needs an input", at: .node(node.name)) }
        try emitOrFold(.clip, node, [node.inputs[0]], node.output, attributes)
    }

    mutating func translatePad(_ node: ONNXNode) throws(Diagnostic) {
        let a = node.attributes, inputs = node.inputs, name = node.name
        let x = try operand(node, 0)
        let pads = inputs.count > 1 ? try intConstant(inputs[1], "Pad's pads", of: name) : (a.ints("pads") ?? [])
        if node.has(3) { throw Diagnostic(.unsupportedAttribute, "Pad with an axes input is not imported", at: .node(name)) }
        let value = inputs.count > 2 ? try floatScalar(inputs[2], of: name) ?? 0 : (a.float("value") ?? 0)
        let mode = a.string("mode") ?? "constant"
        guard ["constant", "reflect", "edge"].contains(mode) else {
            throw Diagnostic(.unsupportedAttribute, "Pad mode '\(mode)' is not imported (constant, reflect and edge are)", at: .node(name))
        }
        var attributes: Attributes = ["pads": .ints(pads), "mode": .string(mode)]
        if value != 0 { attributes["value"] = .float(value) }
        try emit(.pad, name, [x], node.output, attributes)
    }

    /// Reshape to a constant shape, whose placeholder entries (a symbolic dimension) become "copy this
    /// dimension"; of an integer or float constant, folded.
    mutating func translateReshape(_ node: ONNXNode) throws(Diagnostic) {
        try node.require(2)
        let inputs = node.inputs, name = node.name
        if constants[inputs[0]]?.ints != nil, let folded = foldIntegers(node.proto, node.attributes) {
            constants[node.output] = folded
            return
        }
        var shape = try intConstant(inputs[1], "Reshape's shape", of: name, allowSymbolic: true)
        for (i, entry) in shape.enumerated() where entry <= Self.placeholderBase {
            guard let symbol = symbol(forPlaceholder: entry), types[inputs[0]]?.shape.indices.contains(i) == true,
                  types[inputs[0]]?.shape[i] == .symbol(symbol) else {
                throw Diagnostic(.dynamicConstant, "Reshape's shape uses the symbolic dimension at a position where the input does not have it", at: .node(name))
            }
            shape[i] = 0
        }
        if let constant = constants[inputs[0]], types[inputs[0]] == nil, let tensor = constant.floatTensor {
            let target = resolveReshape(shape, tensor.shape)
            guard target.allSatisfy({ $0 >= 0 }), Limits.elementCount(target) == tensor.count else {
                throw Diagnostic(.shapeMismatch, "cannot reshape constant '\(inputs[0])' of shape \(tensor.shape) to \(shape)", at: .node(name))
            }
            constants[node.output] = .floats(tensor.reshaped(target))
            return
        }
        var attributes: Attributes = ["shape": .ints(shape)]
        if let zero = node.attributes.int("allowzero"), zero != 0 { attributes["allowzero"] = .int(zero) }
        try emit(.reshape, name, [try operand(node, 0)], node.output, attributes)
    }

    /// A symbolic dimension (the batch) folds to a placeholder that Reshape turns back into "copy this
    /// dimension": the `x.view(x.size(0), -1)` that exporters spell with Shape and Gather.
    mutating func translateShape(_ node: ONNXNode) throws(Diagnostic) {
        let input = node.inputs.first ?? ""
        let all: [Int]
        switch (types[input], constants[input]) {
        case (let type?, _):
            all = type.shape.map { dim -> Int in
                switch dim {
                case .fixed(let n): return n
                case .symbol(let s): return symbolPlaceholder(s)
                }
            }
        case (nil, .floats(let tensor)?): all = tensor.shape
        case (nil, .ints(_, let shape)?): all = shape
        case (nil, nil): throw Diagnostic(.dynamicConstant, "Shape of '\(input)', whose type is unknown", at: .node(node.name))
        }
        // Opset 15's start and end slice the shape, negative ones counting from the back, both clamped.
        func clamped(_ i: Int) -> Int { min(max(i < 0 ? i + all.count : i, 0), all.count) }
        let start = clamped(node.attributes.int("start") ?? 0), end = clamped(node.attributes.int("end") ?? all.count)
        let dims = start < end ? Array(all[start..<end]) : []
        constants[node.output] = .ints(dims, shape: [dims.count])
    }

    /// An integer list that is an attribute in early opsets and an input (a constant) in later ones.
    func integerList(_ node: ONNXNode, attribute: String, input: Int) throws(Diagnostic) -> [Int]? {
        if node.has(input) { return try intConstant(node.inputs[input], "\(node.op)'s \(attribute)", of: node.name) }
        return node.attributes.ints(attribute)
    }

    /// Adds a node unless all its inputs are constants, in which case its value is folded.
    mutating func emitOrFold(_ op: OpKind, _ node: ONNXNode, _ inputs: [String], _ output: String, _ attributes: Attributes, name: String? = nil) throws(Diagnostic) {
        let name = name ?? node.name
        if let folded = try foldConstant(op, name: name, inputs, attributes) {
            constants[output] = .floats(folded)
            return
        }
        let operands = try inputs.map { (input) throws(Diagnostic) in try value(input, of: name) }
        try emit(op, name, operands, output, attributes)
    }

    /// Training-mode BatchNormalization of a constant: each channel (axis 1) normalized by its own mean
    /// and (population) variance over the other axes, then scaled and shifted. Nil for shapes that do not fit.
    static func batchStatisticsNormalized(_ x: Tensor, _ scale: Tensor, _ shift: Tensor, epsilon: Double) -> Tensor? {
        guard x.rank >= 2, x.shape[1] > 0, scale.count == x.shape[1], shift.count == x.shape[1] else { return nil }
        let channels = x.shape[1], inner = x.shape[2...].reduce(1, *), outer = x.shape[0]
        guard inner * outer > 0 else { return nil }
        var mean = [Double](repeating: 0, count: channels), variance = mean
        for i in 0..<x.count { mean[i / inner % channels] += Double(x[i]) }
        for c in 0..<channels { mean[c] /= Double(inner * outer) }
        for i in 0..<x.count { let d = Double(x[i]) - mean[i / inner % channels]; variance[i / inner % channels] += d * d }
        return Tensor(shape: x.shape) { i in
            let c = i / inner % channels
            let normalized = (Double(x[i]) - mean[c]) / (variance[c] / Double(inner * outer) + epsilon).squareRoot()
            return Float(normalized * Double(scale[c]) + Double(shift[c]))
        }
    }

    /// Einsum as attention writes it: a batched matrix product of two operands with the same batch axes
    /// (`bhid,bhjd->bhij`, `bhij,bhjd->bhid`), each operand's last two axes in either order. It becomes
    /// MatMul, with a Transpose of an operand whose contracted axis is not where MatMul wants it.
    mutating func translateEinsum(_ node: ONNXNode) throws(Diagnostic) {
        try node.require(2)
        let equation = (node.attributes.string("equation") ?? "").filter { !$0.isWhitespace }
        let unsupported = Diagnostic(.unsupportedAttribute, "Einsum '\(equation)' is not a batched matrix product of two operands (the only form Lowpass imports)", at: .node(node.name))
        let sides = equation.components(separatedBy: "->")
        guard node.inputs.count == 2, sides.count == 2 else { throw unsupported }
        let operands = sides[0].split(separator: ",").map(Array.init), output = Array(sides[1])
        guard operands.count == 2, operands[0].count == operands[1].count, operands[0].count >= 2, output.count == operands[0].count,
              Set(operands[0]).count == operands[0].count, Set(operands[1]).count == operands[1].count else { throw unsupported }
        let rank = output.count, batch = Array(output.prefix(rank - 2))
        let (i, j) = (output[rank - 2], output[rank - 1])
        guard Array(operands[0].prefix(rank - 2)) == batch, Array(operands[1].prefix(rank - 2)) == batch else { throw unsupported }
        let a = Array(operands[0].suffix(2)), b = Array(operands[1].suffix(2))
        // The contracted letter: in both operands' last two axes, not in the output.
        guard let k = a.first(where: { b.contains($0) && !output.contains($0) }), Set(a) == [i, k], Set(b) == [k, j] else { throw unsupported }
        var inputs = [try operand(node, 0), try operand(node, 1)]
        let swap = Array(0..<(rank - 2)) + [rank - 1, rank - 2]
        for (index, needsSwap) in [a != [i, k], b != [k, j]].enumerated() where needsSwap {
            let transposed = uniqueName(node.name + ".transpose\(index)")
            try emit(.transpose, transposed, [inputs[index]], transposed, ["perm": .ints(swap)])
            inputs[index] = transposed
        }
        try emit(.matMul, node.name, inputs, node.output)
    }

    /// Cast of a computed tensor: Lowpass's tensors are float, so a cast to float is a renaming, and so is
    /// a cast of ArgMax's or ArgMin's indices to an integer type (they are whole numbers already). A cast
    /// of other values to an integer type truncates, which Lowpass does not compute.
    mutating func translateCast(_ node: ONNXNode) throws(Diagnostic) {
        let to = node.attributes.int("to") ?? 0
        let toFloat = [ONNXDataType.float, .double].contains { Int($0.rawValue) == to }
        let input = try operand(node, 0)
        let isIndex = graph.producerIndex(of: input).map { [.argMax, .argMin].contains(graph.nodes[$0].op) } ?? false
        guard toFloat || isIndex else {
            throw Diagnostic(.unsupportedOp, "Cast of the computed tensor '\(input)' to ONNX type \(to) (an integer or boolean type) is not imported; Lowpass computes in float", at: .node(node.name))
        }
        try emit(.identity, node.name, [input], node.output)
    }

    /// GroupNormalization: scale and B one per channel (opset 21); opsets 18-20 gave one per group,
    /// which is widened to the group's channels.
    mutating func translateGroupNorm(_ node: ONNXNode) throws(Diagnostic) {
        try node.require(3)
        guard let groups = node.attributes.int("num_groups") else { throw Diagnostic(.missingAttribute, "GroupNormalization needs num_groups", at: .node(node.name)) }
        var operands = try (0..<3).map { (i) throws(Diagnostic) in try operand(node, i) }
        if opset < 21, groups > 0, let channels = types[operands[0]]?.shape.dropFirst().first?.value, channels % groups == 0 {
            for i in 1...2 {
                guard let perGroup = weights[operands[i]], perGroup.shape == [groups], groups != channels else { continue }
                let widened = Tensor(shape: [channels]) { perGroup[$0 / (channels / groups)] }
                let name = operands[i] + ".per_channel"
                addParameter(name, widened)
                operands[i] = name
            }
        }
        var attributes: Attributes = ["num_groups": .int(groups), "epsilon": .float(node.attributes.float("epsilon") ?? 1e-5)]
        if let stash = node.attributes.int("stash_type") { attributes["stash_type"] = .int(stash) }
        try emitOrFold(.groupNormalization, node, operands, node.output, attributes)
    }

    /// Transpose, Slice (starts, ends, axes and steps as inputs from opset 10), Squeeze and Unsqueeze
    /// (axes as an input from opset 13).
    mutating func translateDataMovement(_ node: ONNXNode) throws(Diagnostic) {
        guard node.has(0) else { throw Diagnostic(.arity, "\(node.op) needs an input", at: .node(node.name)) }
        var attributes: Attributes = [:]
        switch node.op {
        case "Transpose":
            if let perm = node.attributes.ints("perm") { attributes["perm"] = .ints(perm) }
            try emitOrFold(.transpose, node, [node.inputs[0]], node.output, attributes)
        case "Slice":
            // Exporters write "to the end" as INT64_MAX; clamped, it means the same and stays in range.
            let clamp = { (v: [Int]) in v.map { min(max($0, -Limits.maximumDimension), Limits.maximumDimension) } }
            guard let starts = try integerList(node, attribute: "starts", input: 1), let ends = try integerList(node, attribute: "ends", input: 2) else {
                throw Diagnostic(.missingAttribute, "Slice needs starts and ends", at: .node(node.name))
            }
            attributes["starts"] = .ints(clamp(starts))
            attributes["ends"] = .ints(clamp(ends))
            if let axes = try integerList(node, attribute: "axes", input: 3) { attributes["axes"] = .ints(axes) }
            if node.has(4) { attributes["steps"] = .ints(clamp(try intConstant(node.inputs[4], "Slice's steps", of: node.name))) }
            try emitOrFold(.slice, node, [node.inputs[0]], node.output, attributes)
        default:
            let op: OpKind = node.op == "Squeeze" ? .squeeze : .unsqueeze
            if let axes = try integerList(node, attribute: "axes", input: 1) { attributes["axes"] = .ints(axes) }
            try emitOrFold(op, node, [node.inputs[0]], node.output, attributes)
        }
    }

    /// Split becomes one Slice per output, along the axis: the sizes from the `split` input (opset 13)
    /// or attribute, else equal parts (the last smaller, as opset 18's num_outputs has it).
    mutating func translateSplit(_ node: ONNXNode) throws(Diagnostic) {
        let x = try operand(node, 0)
        guard let type = types[x] else { throw Diagnostic(.undefinedValue, "Split's input has no known type", at: .node(node.name)) }
        let rawAxis = node.attributes.int("axis") ?? 0
        let axis = rawAxis < 0 ? rawAxis + type.rank : rawAxis
        guard (0..<type.rank).contains(axis) else {
            throw Diagnostic(.badAttribute, "Split's axis \(rawAxis) is outside the \(type.rank) axes of its input", at: .node(node.name))
        }
        guard let size = type.shape[axis].value else {
            throw Diagnostic(.symbolicDimension, "Split along axis \(axis), whose size is symbolic", at: .node(node.name))
        }
        let outputs = node.proto.output
        let count = outputs.count
        let sizes = try integerList(node, attribute: "split", input: 1)
            ?? (0..<count).map { i in min(size - i * ((size + count - 1) / count), (size + count - 1) / count) }
        guard sizes.count == count, sizes.allSatisfy({ (0...size).contains($0) }), sizes.reduce(0, +) == size else {
            throw Diagnostic(.badAttribute, "Split sizes \(sizes) do not divide axis \(axis) of size \(size) into \(count) outputs", at: .node(node.name))
        }
        var start = 0
        for (i, (output, length)) in zip(outputs, sizes).enumerated() where !output.isEmpty {
            let attributes: Attributes = ["starts": .ints([start]), "ends": .ints([start + length]), "axes": .ints([axis])]
            try emitOrFold(.slice, node, [node.inputs[0]], output, attributes, name: uniqueName("\(node.name).\(i)"))
            start += length
        }
    }

    /// Resize (opset 11 on: X, roi, scales, sizes; opset 10: X, scales): nearest or linear, the output
    /// size from `sizes` or from floor(input * scale). What Lowpass does not compute is refused by name.
    mutating func translateResize(_ node: ONNXNode) throws(Diagnostic) {
        let a = node.attributes, name = node.name
        let x = try operand(node, 0)
        guard let shape = types[x]?.shape, shape.count == 4 else { throw Diagnostic(.unsupportedAttribute, "Resize of a tensor that is not NCHW is not imported", at: .node(name)) }
        let mode = a.string("mode") ?? "nearest"
        let transformation = a.string("coordinate_transformation_mode") ?? "half_pixel"
        guard ["nearest", "linear"].contains(mode) else { throw Diagnostic(.unsupportedAttribute, "Resize mode '\(mode)' is not imported (nearest and linear are)", at: .node(name)) }
        guard ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"].contains(transformation) else {
            throw Diagnostic(.unsupportedAttribute, "Resize's coordinate_transformation_mode '\(transformation)' is not imported", at: .node(name))
        }
        guard (a.int("antialias") ?? 0) == 0, (a.int("exclude_outside") ?? 0) == 0, a.ints("axes") == nil else {
            throw Diagnostic(.unsupportedAttribute, "Resize with antialias, exclude_outside or axes is not imported", at: .node(name))
        }
        let scalesInput = opset < 11 ? 1 : 2, sizesInput = 3
        var attributes: Attributes = ["mode": .string(mode), "coordinate_transformation_mode": .string(transformation),
                                      "nearest_mode": .string(a.string("nearest_mode") ?? "round_prefer_floor")]
        // N and C are never resized: a symbolic batch stays symbolic (its entry in `sizes` is not read).
        let kept = [shape[0].value ?? 0, shape[1].value ?? 0]
        if node.has(sizesInput) {
            let sizes = try intConstant(node.inputs[sizesInput], "Resize's sizes", of: name, allowSymbolic: true)
            guard sizes.count == 4 else { throw Diagnostic(.badAttribute, "Resize's sizes must have 4 entries", at: .node(name)) }
            attributes["sizes"] = .ints(kept + sizes[2...])
        } else if node.has(scalesInput), let scales = constants[node.inputs[scalesInput]]?.floatTensor, scales.count == 4 {
            guard let height = shape[2].value, let width = shape[3].value else {
                throw Diagnostic(.symbolicDimension, "Resize by scales of a map whose height or width is symbolic", at: .node(name))
            }
            attributes["scales"] = .floats(scales.values.map(Double.init))
            let sizes = zip([height, width], scales.values[2...]).map { (Double($0) * Double($1)).rounded(.down) }
            guard sizes.allSatisfy({ $0 >= 0 && $0 <= Double(Limits.maximumDimension) }) else {
                throw Diagnostic(.badAttribute, "Resize's scales \(scales.values) give a map of \(sizes), out of range", at: .node(name))
            }
            attributes["sizes"] = .ints(kept + sizes.map { Int($0) })
        } else {
            throw Diagnostic(.dynamicConstant, "Resize needs constant scales (4 of them) or sizes", at: .node(name))
        }
        try emit(.resize, name, [x], node.output, attributes)
    }

    /// ReduceMean, ReduceSum, ReduceMax, ReduceMin and ReduceL2: axes as an attribute or (ReduceSum from
    /// opset 13, the others from 18) an input; no axes with noop_with_empty_axes=1 is the identity.
    mutating func translateReduction(_ node: ONNXNode) throws(Diagnostic) {
        guard let op = OpKind(rawValue: node.op) else { throw Diagnostic(.unknownOp, "\(node.op) is not a reduction", at: .node(node.name)) }
        var attributes: Attributes = ["keepdims": .int(node.attributes.int("keepdims") ?? 1)]
        let axes = try integerList(node, attribute: "axes", input: 1)
        if let axes, !axes.isEmpty {
            attributes["axes"] = .ints(axes)
        } else if node.attributes.int("noop_with_empty_axes") == 1 {
            return try emitOrFold(.identity, node, [node.inputs[0]], node.output, [:])
        }
        try emitOrFold(op, node, [node.inputs[0]], node.output, attributes)
    }

    /// An element-wise op, which ONNX and Lowpass define alike: same name, inputs and attributes. Folded
    /// when every input is a constant.
    mutating func translateElementwise(_ node: Onnx_NodeProto, name: String, _ a: ONNXAttributes) throws(Diagnostic) -> Bool {
        guard let op = OpKind(rawValue: node.opType), op.schema.isElementwise else { return false }
        let schema = op.schema
        guard schema.arity.contains(node.input.count), !node.input.contains(where: \.isEmpty) else {
            throw Diagnostic(.arity, "\(node.opType) takes \(schema.minimumInputs)\(schema.isVariadic ? " or more" : "") inputs, the node has \(node.input.count)", at: .node(name))
        }
        var attributes: Attributes = [:]
        for spec in schema.attributes {
            guard let proto = a.values[spec.name] else { continue }
            switch spec.type {
            case .int: attributes[spec.name] = .int(Int(clamping: proto.i))
            case .float: attributes[spec.name] = .float(Double(proto.f))
            case .ints: attributes[spec.name] = .ints(proto.ints.map { Int(clamping: $0) })
            case .floats: attributes[spec.name] = .floats(proto.floats.map(Double.init))
            case .string: attributes[spec.name] = .string(String(decoding: proto.s, as: UTF8.self))
            }
        }
        let output = node.output.first ?? name
        if let folded = foldIntegerElementwise(op, node) {
            constants[output] = folded
            return true
        }
        if let folded = try foldConstant(op, name: name, node.input, attributes) {
            constants[output] = .floats(folded)
            return true
        }
        let operands = try node.input.map { (input) throws(Diagnostic) in try value(input, of: name) }
        try emit(op, name, operands, output, attributes)
        return true
    }

    /// The node's value when all its inputs are float constants (small ones: folding runs the reference).
    func foldConstant(_ op: OpKind, name: String, _ inputs: [String], _ attributes: Attributes) throws(Diagnostic) -> Tensor? {
        let tensors = inputs.compactMap { types[$0] == nil ? constants[$0]?.floatTensor : nil }
        guard tensors.count == inputs.count, tensors.allSatisfy({ $0.count <= 1 << 16 }) else { return nil }
        let node = Node(name: name, op: op, inputs: inputs, outputs: [name], attributes: attributes)
        do {
            return try ReferenceInterpreter.evaluate(node, tensors)
        } catch {
            throw Diagnostic(error.id, error.message, at: .node(name))
        }
    }

    /// Integers at or below this stand for symbolic dimensions inside folded shape arithmetic.
    static let placeholderBase = -(1 << 40)

    func symbolPlaceholder(_ symbol: String) -> Int {
        let names = graph.inputs.flatMap { $0.type.shape.compactMap { dim -> String? in if case .symbol(let s) = dim { s } else { nil } } }
        let index = names.firstIndex(of: symbol) ?? names.count
        return Self.placeholderBase - index
    }

    func symbol(forPlaceholder value: Int) -> String? {
        let names = graph.inputs.flatMap { $0.type.shape.compactMap { dim -> String? in if case .symbol(let s) = dim { s } else { nil } } }
        let index = Self.placeholderBase - value
        return names.indices.contains(index) ? names[index] : nil
    }

    /// Pads as [top, left, bottom, right], from `pads` or `auto_pad`.
    func explicitPads(_ a: ONNXAttributes, input: String, kernel: [Int], strides: [Int], dilations: [Int], node: String) throws(Diagnostic) -> [Int] {
        let autoPad = a.string("auto_pad") ?? "NOTSET"
        switch autoPad {
        case "NOTSET", "":
            let pads = a.ints("pads") ?? [0, 0, 0, 0]
            guard pads.count == 4 else { throw Diagnostic(.badAttribute, "pads must have 4 entries for a 2-D op", at: .node(node)) }
            return pads
        case "VALID":
            return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            guard let size = types[input]?.shape.suffix(2).compactMap(\.value), size.count == 2 else {
                throw Diagnostic(.badAttribute, "auto_pad \(autoPad) needs the input's height and width", at: .node(node))
            }
            var pads = [0, 0, 0, 0]
            for axis in 0..<2 {
                let out = (size[axis] + strides[axis] - 1) / strides[axis]
                let total = max(0, (out - 1) * strides[axis] + dilations[axis] * (kernel[axis] - 1) + 1 - size[axis])
                let small = total / 2, large = total - small
                (pads[axis], pads[axis + 2]) = autoPad == "SAME_UPPER" ? (small, large) : (large, small)
            }
            return pads
        default:
            throw Diagnostic(.badAttribute, "unknown auto_pad '\(autoPad)'", at: .node(node))
        }
    }

    func resolveReshape(_ shape: [Int], _ input: [Int]) -> [Int] {
        var out = shape.enumerated().map { $1 == 0 && $0 < input.count ? input[$0] : $1 }
        // Overflow-safe: hostile shapes leave the -1 in place, which the callers reject.
        if let hole = out.firstIndex(of: -1) {
            let others = out.enumerated().filter { $0.offset != hole }.map(\.element)
            if let known = Limits.elementCount(others), known > 0, let total = Limits.elementCount(input) {
                out[hole] = total / known
            }
        }
        return out
    }
}
