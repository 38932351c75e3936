import LowpassIR
import LowpassTensor

/// Which nodes run as one kernel:
/// - Conv [-> BatchNormalization] [-> Add residual] [-> an activation]: one conv with BN folded into
///   its weights and the rest in its epilogue; the activation is any function of the value alone, one
///   node (Relu, HardSwish) or several (SiLU as x * Sigmoid(x), see `Graph.scalarFunctionRegion`);
/// - MaxPool (stride 1) -> BlurPool: one MaxBlurPool kernel;
/// - chains of element-wise ops: one element-wise kernel;
/// - Reshape, Flatten, Identity, Dropout: no kernel, the output is the input's buffer.
/// Only values with a single use are fused through, so no fused-away tensor is needed elsewhere.
/// A fused group is emitted where its last node stands in topological order, when every operand exists.
struct FusionPlan {
    /// Groups of node indices, keyed by the index of the group's last node (where it is emitted).
    private(set) var groups: [Int: [Int]] = [:]
    private let graph: Graph
    private let types: [String: [Int]]
    private let weights: Weights

    static let longestChain = 64

    init(graph: Graph, order: [Int], types: [String: [Int]], weights: Weights) {
        self.graph = graph
        self.types = types
        self.weights = weights
        var grouped = Set<Int>()
        func extend(_ chain: inout [Int], _ accept: (Node) -> Bool) {
            guard let last = chain.last, let next = soleConsumer(graph.nodes[last].outputs[0]),
                  !grouped.contains(next), accept(graph.nodes[next]) else { return }
            chain.append(next)
        }
        for index in order where !grouped.contains(index) {
            let node = graph.nodes[index]
            var chain = [index]
            switch node.op {
            case .conv where allWeights(node.inputs.dropFirst()):
                extend(&chain) { $0.op == .batchNormalization && self.allWeights($0.inputs.dropFirst()) }
                let convOutput = graph.nodes[chain.last ?? index].outputs[0]
                extend(&chain) { next in
                    next.op == .add && next.inputs.count == 2 && next.inputs[0] != next.inputs[1]
                        && self.types[next.inputs[0]] == self.types[next.inputs[1]]
                        && self.weights.tensors[next.inputs.first { $0 != convOutput } ?? ""] == nil
                }
                // The activation: any function of the conv's value alone, one node or written out.
                let activation = graph.scalarFunctionRegion(after: graph.nodes[chain.last ?? index].outputs[0]) { name in
                    self.weights.tensors[name]?.count == 1
                }
                if !activation.contains(where: grouped.contains) { chain += activation }
            case .maxPool:
                if (try? node.poolGeometry()).map({ $0.strides == [1, 1] && $0.dilations == [1, 1] }) == true {
                    extend(&chain) { $0.op == .blurPool }
                }
            case let op where Self.isElementwise(op):
                // Identity and Dropout inside a chain are only renamings; the cap keeps each
                // expression (and the recursion that emits it) small.
                while chain.count < Self.longestChain {
                    let before = chain.count
                    extend(&chain) { Self.isElementwise($0.op) || $0.op == .identity || $0.op == .dropout }
                    if chain.count == before { break }
                }
                while let last = chain.last, [.identity, .dropout].contains(graph.nodes[last].op) { chain.removeLast() }
            default: break
            }
            grouped.formUnion(chain)
            groups[chain.last ?? index] = chain
        }
    }

    /// The node that alone consumes `value`, if any (a graph output is a use too).
    private func soleConsumer(_ value: String) -> Int? {
        graph.hasSingleUse(value) ? graph.consumers(of: value).first : nil
    }

    static func isElementwise(_ op: OpKind) -> Bool { op.schema.isElementwise || op == .batchNormalization }

    private func allWeights(_ names: some Sequence<String>) -> Bool { names.allSatisfy { weights.tensors[$0] != nil } }
}
