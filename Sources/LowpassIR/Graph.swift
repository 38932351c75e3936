/// Element types. Lowpass computes in f32; the enum leaves room for more.
public enum DType: String, Sendable, CaseIterable {
    case f32
}

/// One dimension of a tensor shape: a number, or a symbol such as `N` for a batch size chosen at run time.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)

    public var value: Int? {
        if case .fixed(let n) = self { return n }
        return nil
    }

    public var description: String {
        switch self {
        case .fixed(let n): return String(n)
        case .symbol(let s): return s
        }
    }
}

public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Dim]

    public init(_ dtype: DType = .f32, _ shape: [Dim]) {
        self.dtype = dtype
        self.shape = shape
    }

    public init(_ dtype: DType = .f32, fixed shape: [Int]) {
        self.init(dtype, shape.map(Dim.fixed))
    }

    public var rank: Int { shape.count }

    /// The shape as numbers, or nil while any dimension is symbolic.
    public var fixedShape: [Int]? {
        let values = shape.compactMap(\.value)
        return values.count == shape.count ? values : nil
    }

    public var description: String { "\(dtype.rawValue)[\(shape.map(\.description).joined(separator: ","))]" }

    /// Replaces symbols by the numbers bound to them (e.g. `["N": 8]`); unbound symbols stay.
    public func binding(_ symbols: [String: Int]) -> TensorType {
        TensorType(dtype, shape.map { dim in
            if case .symbol(let s) = dim, let n = symbols[s] { return .fixed(n) }
            return dim
        })
    }
}

/// A named graph input with its type.
public struct ValueInfo: Hashable, Sendable {
    public var name: String
    public var type: TensorType

    public init(name: String, type: TensorType) {
        self.name = name
        self.type = type
    }
}

/// A named weight. The graph records its shape; the data lives in the weight file, except for
/// small constants (such as a scale factor) that the graph may carry inline.
public struct Parameter: Hashable, Sendable {
    public var name: String
    public var type: TensorType
    public var inlineData: [Float]?

    public init(name: String, type: TensorType, inlineData: [Float]? = nil) {
        self.name = name
        self.type = type
        self.inlineData = inlineData
    }
}

public struct Node: Hashable, Sendable {
    public var name: String
    public var op: OpKind
    /// Value names: graph inputs, parameters or other nodes' outputs. Optional inputs may be left off the end.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: Attributes

    public init(name: String, op: OpKind, inputs: [String], outputs: [String], attributes: Attributes = [:]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    public var schema: OpSchema { op.schema }
}

/// A dataflow graph of ONNX-style operators over NCHW tensors.
public struct Graph: Hashable, Sendable {
    public static let formatName = "lowpass-graph"
    public static let formatVersion = 1

    public var name: String
    /// Free-form facts about the graph: where it came from, its expected input size, ...
    public var metadata: [String: String]
    /// The `.safetensors` file holding the parameters, relative to the graph file.
    public var weightsFile: String?
    // The four parts the use-def index describes: any change drops it. `_modify` lets callers mutate
    // in place (a `didSet` observer made every `graph.nodes.append` from another module copy the array).
    public var inputs: [ValueInfo] {
        get { storedInputs }
        set { storedInputs = newValue; dropIndex() }
        _modify { defer { dropIndex() }; yield &storedInputs }
    }
    public var outputs: [String] {
        get { storedOutputs }
        set { storedOutputs = newValue; dropIndex() }
        _modify { defer { dropIndex() }; yield &storedOutputs }
    }
    public var parameters: [Parameter] {
        get { storedParameters }
        set { storedParameters = newValue; dropIndex() }
        _modify { defer { dropIndex() }; yield &storedParameters }
    }
    public var nodes: [Node] {
        get { storedNodes }
        set { storedNodes = newValue; dropIndex() }
        _modify { defer { dropIndex() }; yield &storedNodes }
    }
    private var storedInputs: [ValueInfo]
    private var storedOutputs: [String]
    private var storedParameters: [Parameter]
    private var storedNodes: [Node]
    /// The use-def index (UseDefIndex.swift), built on demand; not part of the graph's value.
    var indexCache = UseDefCache()
    /// Nodes appended by `append(_:placed:)` that `settleOrder()` will move next to their anchors.
    var placements: [Placement] = []

    struct Placement: Sendable {
        var node: String
        var anchor: String
        var before: Bool
    }

    public init(name: String, metadata: [String: String] = [:], weightsFile: String? = nil,
                inputs: [ValueInfo] = [], outputs: [String] = [], parameters: [Parameter] = [], nodes: [Node] = []) {
        self.name = name
        self.metadata = metadata
        self.weightsFile = weightsFile
        self.storedInputs = inputs
        self.storedOutputs = outputs
        self.storedParameters = parameters
        self.storedNodes = nodes
    }

    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    public static func == (a: Graph, b: Graph) -> Bool {
        a.name == b.name && a.metadata == b.metadata && a.weightsFile == b.weightsFile && a.inputs == b.inputs
            && a.outputs == b.outputs && a.parameters == b.parameters && a.nodes == b.nodes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(inputs)
        hasher.combine(outputs)
        hasher.combine(nodes)
    }
}

extension Dim: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: Int) { self = .fixed(value) }
    public init(stringLiteral value: String) { self = .symbol(value) }
}
