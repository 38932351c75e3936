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
        g.insertAfterProducer(blur)
        #expect(g.replaceAllUses(of: "y", with: "y_blurred", except: ["blur"]) == 2)
        #expect(g.outputs == ["y_blurred", "z"])
        #expect(g.nodes[3].name == "blur", "inserted right after relu")
        #expect(g.node(named: "sigmoid")?.inputs == ["y_blurred"])
        _ = try g.verify()
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
        let changed = try applyPatternsGreedily([ReluToSigmoid(), SigmoidToRelu()], to: &g, context: &context, maximumSweeps: 3)
        #expect(changed)
    }
}
