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

/// The targets every JIT test compiles for: each instruction set this CPU runs, so an AVX-512 machine
/// checks the 8-lane (AVX2) code as well as the 16-lane code; the host alone on a CPU with neither.
let testedTargets: [Target] = {
    let targets = InstructionSet.allCases.compactMap { try? Target.host(restrictedTo: $0) }
    return targets.isEmpty ? [.host] : targets
}()

/// Compiles `graph` for every tested target (or `targets`), runs it and the reference interpreter on
/// the same inputs, and checks every output to `tolerance` relative to the reference's largest
/// magnitude. Returns the compiled models, one per target, in order: assertions on kernel choice read
/// `model.target` so they say which vector width they are about.
@discardableResult
func expectMatchesReference(_ graph: Graph, _ weights: Weights, inputs: [String: Tensor], tolerance: Double = 1e-5,
                            threads: Int = 2, winograd: Bool = false, precision: Precision = .f32, on targets: [Target] = testedTargets,
                            sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [CompiledModel] {
    let reference = try ReferenceInterpreter(precision: precision).run(graph, weights: weights, inputs: inputs)
    return try targets.map { target in
        var options = CompileOptions()
        options.threads = threads
        options.winograd = winograd
        options.precision = precision
        options.target = target
        let model = try CompiledModel(graph: graph, weights: weights, inputShapes: inputs.mapValues(\.shape), options: options)
        let jit = try model.run(inputs)
        for name in graph.outputs {
            let expected = try #require(reference[name], sourceLocation: sourceLocation)
            let actual = try #require(jit[name], sourceLocation: sourceLocation)
            #expect(actual.shape == expected.shape, "\(target)", sourceLocation: sourceLocation)
            let error = actual.difference(to: expected).relative
            #expect(error <= tolerance, "output \(name), \(target): relative error \(error)", sourceLocation: sourceLocation)
        }
        return model
    }
}
