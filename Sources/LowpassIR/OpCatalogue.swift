/// Every operator Lowpass knows. Names and semantics are ONNX's where ONNX has the op; spatial ops
/// are two-dimensional (NCHW). Attributes that later ONNX opsets moved to inputs (Clip's bounds,
/// Pad's pads, Reshape's shape) are attributes here: Lowpass treats them as compile-time constants.
public enum OpKind: String, Sendable, CaseIterable, Hashable {
    case conv = "Conv"
    case maxPool = "MaxPool"
    case averagePool = "AveragePool"
    case globalAveragePool = "GlobalAveragePool"
    /// PyTorch's AdaptiveAvgPool2d (not in ONNX): output cell i averages input rows
    /// floor(i*H/h) ..< ceil((i+1)*H/h), likewise for columns.
    case adaptiveAveragePool = "AdaptiveAveragePool"
    case batchNormalization = "BatchNormalization"
    case relu = "Relu"
    case clip = "Clip"
    case sigmoid = "Sigmoid"
    case hardSigmoid = "HardSigmoid"
    case hardSwish = "HardSwish"
    case add = "Add"
    case mul = "Mul"
    case gemm = "Gemm"
    case matMul = "MatMul"
    case flatten = "Flatten"
    case reshape = "Reshape"
    case concat = "Concat"
    case pad = "Pad"
    case dropout = "Dropout"
    case identity = "Identity"
    case softmax = "Softmax"
    case logSoftmax = "LogSoftmax"
    /// Lowpass's own: a binomial low-pass filter followed by subsampling (Zhang, ICML 2019).
    case blurPool = "BlurPool"
    // Element-wise ops beyond the above, each defined by its scalar expression (`ElementwiseOps.swift`).
    case sub = "Sub"
    case div = "Div"
    case pow = "Pow"
    case max = "Max"
    case min = "Min"
    case sum = "Sum"
    case mean = "Mean"
    case prelu = "PRelu"
    case neg = "Neg"
    case abs = "Abs"
    case reciprocal = "Reciprocal"
    case sqrt = "Sqrt"
    case exp = "Exp"
    case log = "Log"
    case tanh = "Tanh"
    case erf = "Erf"
    case softplus = "Softplus"
    case leakyRelu = "LeakyRelu"
    case elu = "Elu"
    case selu = "Selu"
    case celu = "Celu"
    case gelu = "Gelu"
    case mish = "Mish"
    case floor = "Floor"
    case ceil = "Ceil"
    case sin = "Sin"
    case cos = "Cos"
    // Data movement and reductions (`DataMovementOps.swift`, `ReductionOps.swift`).
    case transpose = "Transpose"
    case slice = "Slice"
    case squeeze = "Squeeze"
    case expand = "Expand"
    case gather = "Gather"
    case depthToSpace = "DepthToSpace"
    case spaceToDepth = "SpaceToDepth"
    case unsqueeze = "Unsqueeze"
    case tile = "Tile"
    case reduceMean = "ReduceMean"
    case reduceSum = "ReduceSum"
    case reduceMax = "ReduceMax"
    case reduceMin = "ReduceMin"
    case reduceL2 = "ReduceL2"
    case argMax = "ArgMax"
    case argMin = "ArgMin"
    case layerNormalization = "LayerNormalization"
    case instanceNormalization = "InstanceNormalization"
    case groupNormalization = "GroupNormalization"
    case resize = "Resize"
    case convTranspose = "ConvTranspose"
    case polyphaseIndex = "PolyphaseIndex"
    case polyphaseSelect = "PolyphaseSelect"

    public var schema: OpSchema { OpSchema.catalogue[self] ?? OpSchema(kind: self, summary: "", inputs: [], attributes: [], shape: ShapeRules.sameAsFirst) }
}

public struct InputSpec: Sendable {
    public var name: String
    public var isOptional: Bool
    /// Inputs that are normally weights (a conv's kernel, BN's statistics).
    public var isParameter: Bool
}

public struct AttributeSpec: Sendable {
    public var name: String
    public var type: AttributeType
    /// nil: the attribute is required, unless `isOptional`.
    public var defaultValue: AttributeValue?
    public var isOptional: Bool
    /// For string attributes: the values accepted.
    public var allowedValues: [String]
    public var help: String
    /// What the verifier checks beyond the type, for the docs and the JSON Schema: a list's exact
    /// length, the least (and greatest) value of an integer or of each list entry, and in words what
    /// needs the inputs' shapes.
    public var entries: Int? = nil
    public var minimum: Int? = nil
    public var maximum: Int? = nil
    public var checks: String = ""

    /// The attribute with what the verifier checks of it.
    func checked(entries: Int? = nil, minimum: Int? = nil, maximum: Int? = nil, _ checks: String = "") -> AttributeSpec {
        var spec = self
        (spec.entries, spec.minimum, spec.maximum, spec.checks) = (entries, minimum, maximum, checks)
        return spec
    }

    /// An int attribute read as a flag.
    var flag: AttributeSpec { checked("nonzero means true") }
}

public typealias ShapeRule = @Sendable (Node, [TensorType]) throws(NodeError) -> [TensorType]

/// An element-wise op's value for one element, given the node (for its attributes).
public typealias ScalarRule = @Sendable (Node) throws(NodeError) -> ScalarExpression

/// A problem with one node's attributes or input types, found by shape inference or a typed view.
public struct NodeError: Error, Sendable, CustomStringConvertible {
    public var id: DiagnosticID
    public var message: String
    public init(_ id: DiagnosticID, _ message: String) {
        self.id = id
        self.message = message
    }
    public var description: String { message }
}

/// What an op takes and how its output shape follows from its inputs: the single place that says so.
public struct OpSchema: Sendable {
    public var kind: OpKind
    public var summary: String
    public var inputs: [InputSpec]
    public var attributes: [AttributeSpec]
    public var outputCount: Int = 1
    public var shape: ShapeRule
    /// The output's shape in words, for the docs.
    public var output: String = "as X"
    /// Element-wise ops: what one output element is (`ScalarExpression`). Every element-wise op has
    /// one, and nothing else does: the reference, the JIT and constant folding read it from here.
    public var scalar: ScalarRule? = nil
    /// A non-linearity applied after a conv or linear layer (the antialias pass blurs after it; the
    /// JIT runs the one-input ones in the conv epilogue).
    public var isActivation = false
    /// The last input may repeat (Concat, Max, Sum): any count from `minimumInputs` up.
    public var isVariadic = false
    /// The ONNX opset from which ONNX defines the op as here (inputs, attributes, meaning); nil for
    /// Lowpass's own ops. The exporter writes it under its name when its opset has it, and otherwise
    /// as what it computes.
    public var onnxSince: Int? = 1

    public var minimumInputs: Int { inputs.filter { !$0.isOptional }.count }
    public var isElementwise: Bool { scalar != nil }
    public var arity: ClosedRange<Int> { minimumInputs...(isVariadic ? Int.max : inputs.count) }

    public func attribute(_ name: String) -> AttributeSpec? { attributes.first { $0.name == name } }
}

func input(_ name: String, optional: Bool = false, parameter: Bool = false) -> InputSpec {
    InputSpec(name: name, isOptional: optional, isParameter: parameter)
}

func attr(_ name: String, _ type: AttributeType, _ defaultValue: AttributeValue? = nil,
                  optional: Bool = false, allowed: [String] = [], _ help: String) -> AttributeSpec {
    AttributeSpec(name: name, type: type, defaultValue: defaultValue, isOptional: optional, allowedValues: allowed, help: help)
}

/// A required attribute: no default.
func attr(_ name: String, _ type: AttributeType, _ help: String) -> AttributeSpec {
    AttributeSpec(name: name, type: type, defaultValue: nil, isOptional: false, allowedValues: [], help: help)
}

extension OpSchema {
    static let strides = attr("strides", .ints, .ints([1, 1]), "step between windows, [sH, sW]").checked(entries: 2, minimum: 1)
    static let pads = attr("pads", .ints, .ints([0, 0, 0, 0]), "padding [top, left, bottom, right]").checked(entries: 4, minimum: 0)
    static let poolPads = pads.checked(entries: 4, minimum: 0, "each < the kernel on its axis")
    static let dilations = attr("dilations", .ints, .ints([1, 1]), "spacing between kernel taps, [dH, dW]").checked(entries: 2, minimum: 1)
    static let poolKernel = attr("kernel_shape", .ints, "window size [kH, kW]").checked(entries: 2, minimum: 1)
    static let ceilMode = attr("ceil_mode", .int, .int(0), "1: round the output size up").flag
    static let window = "`[N, C, H', W']`"

    static let unary: [InputSpec] = [input("X")]

    public static let catalogue: [OpKind: OpSchema] = {
        let schemas: [OpSchema] = [
            OpSchema(kind: .conv, summary: "2-D convolution (cross-correlation), optional bias",
                     inputs: [input("X"), input("W", parameter: true), input("B", optional: true, parameter: true)],
                     attributes: [attr("kernel_shape", .ints, optional: true, "[kH, kW]; taken from W when absent")
                                    .checked(entries: 2, minimum: 1, "must equal W's `[kH, kW]` (`shape-mismatch`)"),
                                  strides, pads, dilations,
                                  attr("group", .int, .int(1), "number of channel groups").checked(minimum: 1, "divides C and M (`shape-mismatch`)")],
                     shape: ShapeRules.conv, output: "`[N, M, H', W']`"),
            OpSchema(kind: .maxPool, summary: "maximum over sliding windows; padding never wins",
                     inputs: unary, attributes: [poolKernel, strides, poolPads, dilations, ceilMode], shape: ShapeRules.pool, output: window),
            OpSchema(kind: .averagePool, summary: "mean over sliding windows",
                     inputs: unary,
                     attributes: [poolKernel, strides, poolPads, ceilMode,
                                  attr("count_include_pad", .int, .int(0), "1: padding counts in the divisor").flag],
                     shape: ShapeRules.pool, output: window),
            OpSchema(kind: .globalAveragePool, summary: "mean over H and W, keeping them as 1x1",
                     inputs: unary, attributes: [], shape: ShapeRules.globalPool, output: "`[N, C, 1, 1]`"),
            OpSchema(kind: .adaptiveAveragePool,
                     summary: "PyTorch's AdaptiveAvgPool2d (Lowpass's own, not ONNX): cell i averages rows floor(i*H/h) ..< ceil((i+1)*H/h), likewise columns",
                     inputs: unary, attributes: [attr("output_size", .ints, "output [h, w]").checked(entries: 2, minimum: 1, "H and W must be fixed")],
                     shape: ShapeRules.adaptivePool, output: "`[N, C, h, w]`", onnxSince: nil),
            OpSchema(kind: .batchNormalization, summary: "inference-form batch normalization",
                     inputs: [input("X"), input("scale", parameter: true), input("B", parameter: true),
                              input("mean", parameter: true), input("var", parameter: true)],
                     attributes: [attr("epsilon", .float, .float(1e-5), "added to the variance"),
                                  attr("momentum", .float, .float(0.9), "training only; ignored")],
                     shape: ShapeRules.batchNorm),
            OpSchema(kind: .gemm, summary: "alpha * A' B' + beta * C, A' and B' optionally transposed",
                     inputs: [input("A"), input("B", parameter: true), input("C", optional: true, parameter: true)],
                     attributes: [attr("alpha", .float, .float(1), "scale of the product"),
                                  attr("beta", .float, .float(1), "scale of C"),
                                  attr("transA", .int, .int(0), "1: use A transposed").flag,
                                  attr("transB", .int, .int(0), "1: use B transposed").flag],
                     shape: ShapeRules.gemm, output: "`[M, N]`"),
            OpSchema(kind: .matMul, summary: "NumPy matmul over the last two axes, batch axes broadcast",
                     inputs: [input("A"), input("B")], attributes: [], shape: ShapeRules.matMul, output: "batch + `[M, N]`"),
            OpSchema(kind: .flatten, summary: "reshape to 2-D at an axis", inputs: unary,
                     attributes: [attr("axis", .int, .int(1), "dimensions before it form the first output axis")
                                    .checked("in [-r, r] for input rank r; negative means axis + r, as in ONNX")],
                     shape: ShapeRules.flatten, output: "rank 2"),
            OpSchema(kind: .reshape, summary: "reshape; 0 copies an input dimension, -1 is inferred", inputs: unary,
                     attributes: [attr("shape", .ints, "target shape").checked(minimum: -1, "at most one -1"),
                                  attr("allowzero", .int, .int(0), "1: 0 means a zero-size dimension").flag],
                     shape: ShapeRules.reshape, output: "`shape`, resolved"),
            OpSchema(kind: .concat, summary: "join tensors along an axis",
                     inputs: [input("inputs")],
                     attributes: [attr("axis", .int, "axis to join along; negative counts from the end").checked("in [-r, r-1]")],
                     shape: ShapeRules.concat, output: "as inputs, summed on `axis`", isVariadic: true),
            OpSchema(kind: .pad, summary: "pad with a constant, a reflection, the edge value or the opposite edge (wrap)", inputs: unary,
                     attributes: [attr("pads", .ints, "[x1_begin, x2_begin, ..., x1_end, x2_end, ...]")
                                    .checked("2 x rank entries; negative entries crop; reflect needs 0 <= p < axis size"),
                                  attr("mode", .string, .string("constant"), allowed: ["constant", "reflect", "edge", "wrap"],
                                       "how to fill (wrap: circularly, as if opposite edges were joined; ONNX opset 19)"),
                                  attr("value", .float, .float(0), "fill value for constant mode")],
                     shape: ShapeRules.pad, output: "as X, padded"),
            OpSchema(kind: .dropout, summary: "identity at inference", inputs: unary,
                     attributes: [attr("ratio", .float, .float(0.5), "training only; ignored")], shape: ShapeRules.sameAsFirst),
            OpSchema(kind: .identity, summary: "the input, unchanged", inputs: unary, attributes: [], shape: ShapeRules.sameAsFirst),
            OpSchema(kind: .softmax, summary: "exp(x) / sum(exp(x)) along an axis", inputs: unary,
                     attributes: [attr("axis", .int, .int(-1), "axis to normalize; negative counts from the end").checked("in [-r, r-1]")],
                     shape: ShapeRules.softmax),
            OpSchema(kind: .logSoftmax, summary: "x - log(sum(exp(x))) along an axis (the log of Softmax, computed without its underflow)", inputs: unary,
                     attributes: [attr("axis", .int, .int(-1), "axis to normalize; negative counts from the end").checked("in [-r, r-1]")],
                     shape: ShapeRules.softmax),
            OpSchema(kind: .blurPool, summary: "binomial low-pass filter then subsampling, per channel (antialiased downsampling)",
                     inputs: unary,
                     attributes: [attr("filter_size", .int, .int(4), "M >= 1: taps are row M-1 of Pascal's triangle").checked(minimum: 1, maximum: 64),
                                  attr("strides", .ints, .ints([2, 2]), "subsampling step [sH, sW]").checked(entries: 2, minimum: 1),
                                  attr("pad_mode", .string, .string("reflect"), allowed: BlurPadMode.allCases.map(\.rawValue), "border handling (circular: wrap around)"),
                                  attr("pad_off", .int, .int(0), "extra padding on every side").checked(minimum: 0, "ignored when `pads` is given"),
                                  attr("pads", .ints, optional: true,
                                       "[top, left, bottom, right]; default floor((M-1)/2)+pad_off before, ceil((M-1)/2)+pad_off after")
                                    .checked(entries: 4, minimum: 0, "replaces the default")],
                     shape: ShapeRules.blurPool, output: window, onnxSince: nil),
        ] + elementwise + dataMovement + reductions + normalizations + resampling + transposedConvolutions + polyphase
        return Dictionary(uniqueKeysWithValues: schemas.map { ($0.kind, $0) })
    }()
}
