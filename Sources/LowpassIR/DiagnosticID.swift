/// Every diagnostic id Lowpass reports, with what it means. Ids are API: tests, scripts and users
/// match them, so each is declared once, here, and docs/diagnostics.md is generated from this list
/// (`lowpass diagnostics`; a test checks the file is current).
public struct DiagnosticID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public let meaning: String

    private init(_ rawValue: String, _ meaning: String) {
        self.rawValue = rawValue
        self.meaning = meaning
    }

    public var description: String { rawValue }

    public static func == (a: DiagnosticID, b: DiagnosticID) -> Bool { a.rawValue == b.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    public static let ambiguousName = DiagnosticID("ambiguous-name", "two names are equal as Unicode text but not as bytes (NFC vs NFD); Lowpass would take them for one")
    public static let arity = DiagnosticID("arity", "a node has more or fewer inputs or outputs than its op takes")
    public static let badAttribute = DiagnosticID("bad-attribute", "an attribute value has the wrong type, length or range for its op and input")
    public static let badGraphFile = DiagnosticID("bad-graph-file", "the graph file's JSON has the wrong structure: a missing or unknown key, a wrong type, a wrong format or version")
    public static let badImage = DiagnosticID("bad-image", "an image file cannot be decoded: not PNG or JPEG, damaged, or too large")
    public static let badNpy = DiagnosticID("bad-npy", "an .npy file is malformed or holds something Lowpass does not read (dtype, order, header)")
    public static let badOnnx = DiagnosticID("bad-onnx", "an ONNX file is malformed, truncated or refers to data it may not read")
    public static let badOption = DiagnosticID("bad-option", "a command-line option is missing, repeated or contradicts another")
    public static let badOutputName = DiagnosticID("bad-output-name", "an output's name cannot become a file name, or two outputs would share one")
    public static let badPipeline = DiagnosticID("bad-pipeline", "pipeline text does not parse or names an unknown pass or option")
    public static let badSafetensors = DiagnosticID("bad-safetensors", "a .safetensors file is malformed: header, offsets, tiling, sizes or values")
    public static let badShape = DiagnosticID("bad-shape", "a tensor shape has a negative dimension")
    public static let buildFailed = DiagnosticID("build-failed", "the system's C compiler or linker could not build the library `lowpass compile` writes")
    public static let cycle = DiagnosticID("cycle", "a node depends on its own output")
    public static let duplicateName = DiagnosticID("duplicate-name", "a value is defined twice, or two nodes share a name")
    public static let dynamicConstant = DiagnosticID("dynamic-constant", "an ONNX value Lowpass needs as a constant (pads, shapes) depends on a symbolic dimension")
    public static let emptyName = DiagnosticID("empty-name", "a graph input, parameter, node or value has an empty name")
    public static let emptyWindow = DiagnosticID("empty-window", "an average is taken over no pixels")
    public static let fileTooLarge = DiagnosticID("file-too-large", "a file is larger than Lowpass reads")
    public static let fineTune = DiagnosticID("fine-tune", "a note: the rewritten graph carries weights that were trained for the original")
    public static let inputShape = DiagnosticID("input-shape", "a given input tensor does not have the shape the graph declares")
    public static let invalidInput = DiagnosticID("invalid-input", "the graph given to a pipeline does not verify")
    public static let invalidResult = DiagnosticID("invalid-result", "a pipeline produced a graph that does not verify")
    public static let jitError = DiagnosticID("jit", "LLVM could not compile or load the generated code")
    public static let jitInternal = DiagnosticID("jit-internal", "the JIT found an inconsistency in its own lowering (a bug)")
    public static let jitLimit = DiagnosticID("jit-limit", "a size is beyond what the JIT's kernels index")
    public static let jitUnsupported = DiagnosticID("jit-unsupported", "the JIT has no kernel for this node; the reference engine runs it")
    public static let malformedJson = DiagnosticID("malformed-json", "a file is not valid JSON (syntax, duplicate key, depth, number range, UTF-8)")
    public static let memoryBudget = DiagnosticID("memory-budget", "the parameters or intermediates would need more memory than the budget")
    public static let missingAttribute = DiagnosticID("missing-attribute", "a required attribute is absent")
    public static let missingInput = DiagnosticID("missing-input", "no tensor was given for a graph input")
    public static let missingParameter = DiagnosticID("missing-parameter", "a parameter has no data in the weight file, or a pass needs weights it was not given")
    public static let noOutputs = DiagnosticID("no-outputs", "the graph declares no outputs")
    public static let notAMap = DiagnosticID("not-a-map", "antialias met a value that is not a 4-D feature map of known size")
    public static let notFolded = DiagnosticID("not-folded", "a note: fold-bn left a BatchNormalization as it was, and why")
    public static let notFused = DiagnosticID("not-fused", "a note: fuse-branches left a sum of branches as it was, and why")
    public static let parameterShape = DiagnosticID("parameter-shape", "a parameter's data does not have its declared shape")
    public static let passBrokeGraph = DiagnosticID("pass-broke-graph", "a pass produced a graph that does not verify")
    public static let passFailed = DiagnosticID("pass-failed", "a pass could not do its job")
    public static let remark = DiagnosticID("remark", "a note from a pass about what it did")
    public static let apsInexact = DiagnosticID("aps-inexact", "a warning: a map polyphase sampling subsamples is not a whole number of strides, so invariance is not exact")
    public static let apsTies = DiagnosticID("aps-ties", "a warning: adaptive polyphase sampling's components tie by construction, so rounding chooses")
    public static let shapeChange = DiagnosticID("shape-change", "antialias could not keep a layer's output size")
    public static let shapeMismatch = DiagnosticID("shape-mismatch", "input ranks or sizes do not fit the op")
    public static let smallMap = DiagnosticID("small-map", "a map is too small for the blur's reflect padding")
    public static let stemKept = DiagnosticID("stem-kept", "a note: antialias or aps kept a stem convolution strided")
    public static let symbolicDimension = DiagnosticID("symbolic-dimension", "a size an op computes with is a symbol, not a number")
    public static let symbolicParameter = DiagnosticID("symbolic-parameter", "a parameter's shape has a symbolic dimension")
    public static let tensorTooLarge = DiagnosticID("tensor-too-large", "a tensor has more elements than the limit (LOWPASS_MAX_TENSOR_ELEMENTS)")
    public static let undefinedValue = DiagnosticID("undefined-value", "a node input or graph output names no graph input, parameter or node output")
    public static let unknownAttribute = DiagnosticID("unknown-attribute", "an attribute the op does not define")
    public static let unknownInput = DiagnosticID("unknown-input", "a tensor was given for an input the graph does not have")
    public static let unknownModel = DiagnosticID("unknown-model", "no zoo model has that name")
    public static let unknownOp = DiagnosticID("unknown-op", "an op name Lowpass does not know")
    public static let unreadableFile = DiagnosticID("unreadable-file", "a file cannot be opened or read, or is not a regular file")
    public static let unresolvedShape = DiagnosticID("unresolved-shape", "a value's shape is still symbolic when the JIT needs numbers")
    public static let unsupportedAttribute = DiagnosticID("unsupported-attribute", "an ONNX attribute value Lowpass does not import")
    public static let unsupportedDtype = DiagnosticID("unsupported-dtype", "a tensor's element type is one Lowpass does not read")
    public static let unsupportedExport = DiagnosticID("unsupported-export", "a node has no exact form in the export format")
    public static let unsupportedInput = DiagnosticID("unsupported-input", "an ONNX graph input is not a float tensor of known rank")
    public static let unsupportedOp = DiagnosticID("unsupported-op", "an ONNX op Lowpass does not import")
    public static let unsupportedOpset = DiagnosticID("unsupported-opset", "an ONNX opset outside the range Lowpass reads")
    public static let windowTooLarge = DiagnosticID("window-too-large", "a pooling or convolution window is larger than the padded input")
    public static let wouldOverwriteInput = DiagnosticID("would-overwrite-input", "an output would replace one of the command's inputs")
    public static let writeFailed = DiagnosticID("write-failed", "an output file could not be written")
    public static let writeRefused = DiagnosticID("write-refused", "an output path is not a regular file Lowpass may replace")

    /// All of them, in alphabetical order.
    public static let all: [DiagnosticID] = [
        .ambiguousName,
        .apsInexact,
        .apsTies,
        .arity,
        .badAttribute,
        .badGraphFile,
        .badImage,
        .badNpy,
        .badOnnx,
        .badOption,
        .badOutputName,
        .badPipeline,
        .badSafetensors,
        .badShape,
        .buildFailed,
        .cycle,
        .duplicateName,
        .dynamicConstant,
        .emptyName,
        .emptyWindow,
        .fileTooLarge,
        .fineTune,
        .inputShape,
        .invalidInput,
        .invalidResult,
        .jitError,
        .jitInternal,
        .jitLimit,
        .jitUnsupported,
        .malformedJson,
        .memoryBudget,
        .missingAttribute,
        .missingInput,
        .missingParameter,
        .noOutputs,
        .notAMap,
        .notFolded,
        .notFused,
        .parameterShape,
        .passBrokeGraph,
        .passFailed,
        .remark,
        .shapeChange,
        .shapeMismatch,
        .smallMap,
        .stemKept,
        .symbolicDimension,
        .symbolicParameter,
        .tensorTooLarge,
        .undefinedValue,
        .unknownAttribute,
        .unknownInput,
        .unknownModel,
        .unknownOp,
        .unreadableFile,
        .unresolvedShape,
        .unsupportedAttribute,
        .unsupportedDtype,
        .unsupportedExport,
        .unsupportedInput,
        .unsupportedOp,
        .unsupportedOpset,
        .windowTooLarge,
        .wouldOverwriteInput,
        .writeFailed,
        .writeRefused,
    ]
}
