import Testing
import LowpassIR
@testable import LowpassPasses

/// The edit verbs and pattern helpers, on small graphs written as text-like literals.
@Suite("Graph editing")
struct GraphEditingTests {
    /// x -> conv -> bn -> relu -> (y, and a sigmoid branch z)
    func graph() -> Graph {
        Graph(name: "g", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", 2, 6, 6]))], outputs: ["y", "z"],
              parameters: [Parameter(name: "w", type: TensorType(fixed: [2, 2, 1, 1]))] + ["s", "b", "m", "v"].map {
                  Parameter(name: $0, type: TensorType(fixed: [2]))
              } + [Parameter(name: "unused", type: TensorType(fixed: [3]))],
              nodes: [
                  Node(name: "conv", op: .conv, inputs: ["x", "w"], outputs: ["c"]),
                  Node(name: "bn", op: .batchNormalization, inputs: ["c", "s", "b", "m", "v"], outputs: ["n"]),
                  Node(name: "relu", op: .relu, inputs: ["n"], outputs: ["y"]),
                  Node(name: "sigmoid", op: .sigmoid, inputs: ["y"], outputs: ["z"]),
                  Node(name: "dead", op: .relu, inputs: ["c"], outputs: ["d"]),
              ])
    }

    @Test func usesIncludeGraphOutputs() {
        let g = graph()
        #expect(g.uses(of: "y") == [.node(index: 3, slot: 0), .graphOutput(index: 0)])
        #expect(g.hasSingleUse("n"))
        #expect(!g.hasSingleUse("c"), "read by bn and dead")
        #expect(!g.hasSingleUse("z"), "a graph output is not a node use")
    }

    @Test func replaceAllUsesRewiresNodesAndOutputs() throws {
        var g = graph()
        let blur = Node(name: g.freshName("blur"), op: .blurPool, inputs: ["y"], outputs: [g.freshName("y_blurred")])
        g.append(blur, placed: "relu")
        #expect(g.replaceAllUses(of: "y", with: "y_blurred", except: ["blur"]) == 2)
        #expect(g.outputs == ["y_blurred", "z"])
        #expect(g.nodes.last?.name == "blur", "appended until the order settles")
        g.settleOrder()
        #expect(g.nodes[3].name == "blur", "right after relu")
        #expect(g.node(named: "sigmoid")?.inputs == ["y_blurred"])
        _ = try g.verify()
    }

    /// The verbs keep the use-def index in step: after a run of edits its answers are those of an
    /// index built afresh from the edited graph; and a copy of a graph keeps answering for itself.
    @Test func theIndexFollowsEveryEdit() throws {
        var g = graph()
        let original = g
        _ = g.uses(of: "c")  // build it
        g.replaceNode(at: 4, with: [Node(name: "dead", op: .sigmoid, inputs: ["n"], outputs: ["d"]),
                                    Node(name: "dead2", op: .relu, inputs: ["d"], outputs: ["d2"])])
        g.append(Node(name: "extra", op: .relu, inputs: ["c"], outputs: ["e"]), placed: "conv")
        g.append(Node(name: "first", op: .relu, inputs: ["x"], outputs: ["f"]), placed: "conv", before: true)
        #expect(g.replaceAllUses(of: "n", with: "c", except: ["relu"]) == 1)
        let fresh = Graph(name: g.name, inputs: g.inputs, outputs: g.outputs, parameters: g.parameters, nodes: g.nodes)
        for value in ["x", "c", "n", "y", "d", "d2", "e", "f", "w"] {
            #expect(g.uses(of: value) == fresh.uses(of: value), "uses of \(value)")
            #expect(g.producerIndex(of: value) == fresh.producerIndex(of: value), "producer of \(value)")
        }
        for name in ["conv", "dead", "dead2", "extra", "first"] { #expect(g.index(ofNodeNamed: name) == fresh.index(ofNodeNamed: name)) }
        #expect(g.freshName("extra") == "extra_1")
        #expect(original.uses(of: "c") == [.node(index: 1, slot: 0), .node(index: 4, slot: 0)], "the copy is untouched")
        #expect(original.node(named: "extra") == nil)
        g.settleOrder()
        #expect(g.nodes.map(\.name) == ["first", "conv", "extra", "bn", "relu", "sigmoid", "dead", "dead2"])
        #expect(g.uses(of: "c") == [.node(index: 2, slot: 0), .node(index: 3, slot: 0), .node(index: 6, slot: 0)], "rebuilt after the sweep")
        try g.erase(nodesNamed: ["dead", "dead2", "extra", "first"])
        #expect(g.nodes.map(\.name) == ["conv", "bn", "relu", "sigmoid"])
        #expect(throws: Graph.StillUsed.self) { try g.erase(nodesNamed: ["bn"]) }
    }

    @Test func eraseIsRefusedWhileUsed() throws {
        var g = graph()
        #expect(throws: Graph.StillUsed.self) { try g.erase(nodeNamed: "bn") }
        try g.erase(nodeNamed: "dead")
        #expect(g.node(named: "dead") == nil)
    }

    @Test func deadCodeEliminationReportsWhatItRemoved() {
        var g = graph()
        #expect(g.eliminateDeadCode() == ["dead", "unused"])
        #expect(g.eliminateDeadCode() == [], "a second run changes nothing")
    }

    @Test func freshNamesAvoidEveryTakenName() {
        let g = graph()
        #expect(g.freshName("conv") == "conv_1")
        #expect(g.freshName("w") == "w_1")
        #expect(g.freshName("new") == "new")
        #expect(g.freshName("conv", avoiding: ["conv_1"]) == "conv_2")
    }

    @Test func chainsRequireSingleUseLinks() {
        var g = graph()
        #expect(g.chains([.conv, .batchNormalization, .relu]).isEmpty, "conv's output is also read by 'dead'")
        g.nodes.removeLast()
        #expect(g.chains([.conv, .batchNormalization, .relu]) == [[0, 1, 2]])
        #expect(g.chains([.batchNormalization, .relu]) == [[1, 2]], "the last node's output may have other uses")
        #expect(g.chains([.batchNormalization, .relu, .sigmoid]).isEmpty, "relu's output is also a graph output")
        #expect(g.chains([.relu, .sigmoid]).isEmpty, "y is also a graph output")
    }

    /// Two patterns that undo each other: the driver must stop.
    struct ReluToSigmoid: RewritePattern {
        let root = OpKind.relu
        func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) -> Bool {
            graph.nodes[index].op = .sigmoid
            return true
        }
    }

    struct SigmoidToRelu: RewritePattern {
        let root = OpKind.sigmoid
        func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) -> Bool {
            graph.nodes[index].op = .relu
            return true
        }
    }

    @Test func greedyDriverHasAnIterationCap() throws {
        var g = graph()
        var context = PassContext()
        let result = try applyPatternsGreedily([ReluToSigmoid(), SigmoidToRelu()], to: &g, context: &context, maximumSweeps: 3)
        #expect(result.changed)
        #expect(!result.converged, "said, not silent")
        #expect(result.rewrites <= 3 * (g.nodes.count + 1))
    }

    /// Each rewrite makes a new match at the same node and the next one down: the worklist queues the
    /// rewritten node and its neighbours again, and stops at the fixed point.
    struct FoldReluPairs: RewritePattern {
        let root = OpKind.relu
        func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) -> Bool {
            // Relu(Relu(x)) -> Relu(x): the outer one reads the inner one's input.
            let node = graph.nodes[index]
            guard let p = graph.producerIndex(of: node.inputs[0]), graph.nodes[p].op == .relu else { return false }
            graph.replaceNode(at: index, with: [Node(name: node.name, op: .identity, inputs: graph.nodes[p].inputs, outputs: node.outputs)])
            return true
        }
    }

    struct IdentityToRelu: RewritePattern {
        let root = OpKind.identity
        func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) -> Bool {
            graph.replaceNode(at: index, with: [Node(name: graph.nodes[index].name, op: .relu, inputs: graph.nodes[index].inputs, outputs: graph.nodes[index].outputs)])
            return true
        }
    }

    @Test func theWorklistRevisitsNeighboursAndConverges() throws {
        var g = Graph(name: "g", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [4]))], outputs: ["r3"],
                      nodes: (0..<4).map { Node(name: "r\($0)", op: .relu, inputs: [$0 == 0 ? "x" : "r\($0 - 1)"], outputs: ["r\($0)"]) })
        var context = PassContext()
        let result = try applyPatternsGreedily([FoldReluPairs(), IdentityToRelu()], to: &g, context: &context, maximumSweeps: 10)
        #expect(result.converged && result.changed)
        #expect(g.nodes.map(\.op) == [.relu, .relu, .relu, .relu])
        #expect(g.nodes.map { $0.inputs[0] } == ["x", "x", "x", "x"], "every relu now reads x")
    }
}
