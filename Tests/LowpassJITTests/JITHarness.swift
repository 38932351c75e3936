import LowpassIR
import LowpassJIT
import LowpassTensor
import Testing

/// Deterministic random tensors, uniform in [-1, 1) (or [low, high)).
func randomTensor(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    return Tensor(shape: shape) { _ in Float(low + (high - low) * generator.nextUniform()) }
}

/// A one-node graph over input `x` with the given parameters (fed after `x`, in the given order).
func oneNodeGraph(_ op: OpKind, input shape: [Int], _ attributes: Attributes = [:],
                  parameters: [(String, Tensor)] = [], extraInputs: [String] = []) -> (Graph, Weights) {
    let graph = Graph(
        name: "one", inputs: [ValueInfo(name: "x", type: TensorType(fixed: shape))], outputs: ["y"],
        parameters: parameters.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1.shape)) },
        nodes: [Node(name: "n", op: op, inputs: ["x"] + extraInputs + parameters.map(\.0), outputs: ["y"], attributes: attributes)])
    return (graph, Weights(tensors: Dictionary(uniqueKeysWithValues: parameters)))
}

/// Compiles `graph`, runs it and the reference interpreter on the same inputs, and checks every output
/// to `tolerance` relative to the reference's largest magnitude. Returns the compiled model.
@discardableResult
func expectMatchesReference(_ graph: Graph, _ weights: Weights, inputs: [String: Tensor], tolerance: Double = 1e-5,
                            threads: Int = 2, winograd: Bool = false, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> CompiledModel {
    var options = CompileOptions()
    options.threads = threads
    options.winograd = winograd
    let model = try CompiledModel(graph: graph, weights: weights, inputShapes: inputs.mapValues(\.shape), options: options)
    let jit = try model.run(inputs)
    let reference = try ReferenceInterpreter().run(graph, weights: weights, inputs: inputs)
    for name in graph.outputs {
        let expected = try #require(reference[name], sourceLocation: sourceLocation)
        let actual = try #require(jit[name], sourceLocation: sourceLocation)
        #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
        let error = actual.difference(to: expected).relative
        #expect(error <= tolerance, "output \(name): relative error \(error)", sourceLocation: sourceLocation)
    }
    return model
}
