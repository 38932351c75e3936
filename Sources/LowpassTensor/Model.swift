import LowpassIR

/// A graph with its parameters' data: what `lowpass rewrite` reads and writes and what a pipeline
/// rewrites. Inline constants keep their data in the graph; `weights` holds the rest.
public struct Model: Sendable {
    public var graph: Graph
    /// Parameter data by name; nil when the graph came without a weight file (a pass that computes
    /// weights refuses to run then).
    public var weights: [String: Tensor]?
    /// Set when a pass computed new weights: the model needs a weight file of its own.
    public var weightsChanged = false

    public init(graph: Graph, weights: [String: Tensor]? = nil) {
        self.graph = graph
        self.weights = weights
    }
}
