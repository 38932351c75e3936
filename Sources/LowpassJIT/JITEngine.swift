import Foundation
import LowpassIR
import LowpassTensor

/// A graph ready to run at any input shape: the first run at a shape compiles a `CompiledModel` for it
/// (every loop bound a constant), later runs at that shape reuse it.
public final class JITEngine: @unchecked Sendable {
    public let graph: Graph
    public let weights: Weights
    public let options: CompileOptions
    private var models: [[String: [Int]]: CompiledModel] = [:]
    private let lock = NSLock()

    public init(graph: Graph, weights: Weights, options: CompileOptions = CompileOptions()) {
        self.graph = graph
        self.weights = weights
        self.options = options
    }

    /// The model compiled for `inputShapes` (by graph input name), compiling it on first use.
    public func model(for inputShapes: [String: [Int]]) throws(Diagnostics) -> CompiledModel {
        if let cached = lock.withLock({ models[inputShapes] }) { return cached }
        let compiled = try CompiledModel(graph: graph, weights: weights, inputShapes: inputShapes, options: options)
        return lock.withLock {
            if let raced = models[inputShapes] { return raced }
            models[inputShapes] = compiled
            return compiled
        }
    }

    public func run(_ inputs: [String: Tensor]) throws(Diagnostics) -> [String: Tensor] {
        try model(for: inputs.mapValues(\.shape)).run(inputs)
    }

    /// How many input shapes have a compiled model.
    public var compiledShapes: Int { lock.withLock { models.count } }
}
