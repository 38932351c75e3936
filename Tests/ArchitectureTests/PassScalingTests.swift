import Foundation
import Testing
import LowpassIR
import LowpassPasses
import LowpassTensor
import Cleanup
import Antialias
import Reparam

/// Every pass of the usual pipelines runs in near-linear time: on graphs 10x larger it takes about
/// 10x longer, not 100x. Before the use-def index, remove-identity and antialias scanned the graph
/// per edit (a wide graph of 10,000 nodes took 42 s and 90 s in a debug build).
///
/// This is a ratio of two timings in one process, so it holds on any machine; the bound (30x for 10x
/// the nodes) leaves room for noise and cache effects while failing any quadratic step (100x).
@Suite("Passes scale with graph size", .serialized)
struct PassScalingTests {
    /// Conv(1x1) -> BatchNormalization -> Identity -> Relu, repeated: `nodes` nodes.
    static func chain(_ nodes: Int) -> (Graph, [String: Tensor]) {
        var graph = Graph(name: "chain", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 4, 8, 8]))])
        var weights: [String: Tensor] = [:]
        var value = "x"
        for i in 0..<nodes {
            let out = "t\(i)"
            switch i % 4 {
            case 0:
                graph.parameters.append(Parameter(name: "w\(i)", type: TensorType(fixed: [4, 4, 1, 1])))
                weights["w\(i)"] = Tensor(shape: [4, 4, 1, 1]) { Float(($0 + i) % 7) * 0.1 - 0.3 }
                graph.nodes.append(Node(name: "c\(i)", op: .conv, inputs: [value, "w\(i)"], outputs: [out]))
            case 1:
                let statistics = ["s", "b", "m", "v"].map { "\($0)\(i)" }
                for name in statistics {
                    graph.parameters.append(Parameter(name: name, type: TensorType(fixed: [4])))
                    weights[name] = Tensor(shape: [4]) { Float($0 + 1) * 0.25 }
                }
                graph.nodes.append(Node(name: "bn\(i)", op: .batchNormalization, inputs: [value] + statistics, outputs: [out]))
            case 2: graph.nodes.append(Node(name: "id\(i)", op: .identity, inputs: [value], outputs: [out]))
            default: graph.nodes.append(Node(name: "r\(i)", op: .relu, inputs: [value], outputs: [out]))
            }
            value = out
        }
        graph.outputs = [value]
        return (graph, weights)
    }

    /// `nodes / 8` ACNet blocks side by side on one input: 3x3, 1x3 and 3x1 convs, each with its BN,
    /// summed; then a strided max pool and an Identity; all concatenated.
    static func wide(_ nodes: Int) -> (Graph, [String: Tensor]) {
        var graph = Graph(name: "wide", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 2, 8, 8]))])
        var weights: [String: Tensor] = [:]
        var results: [String] = []
        for b in 0..<(nodes / 8) {
            var sums: [String] = []
            for (k, kernel) in [[3, 3], [1, 3], [3, 1]].enumerated() {
                let w = "b\(b).k\(k).w", statistics = ["s", "b", "m", "v"].map { "b\(b).k\(k).\($0)" }
                graph.parameters.append(Parameter(name: w, type: TensorType(fixed: [2, 2] + kernel)))
                weights[w] = Tensor(shape: [2, 2] + kernel) { Float(($0 + b) % 5) * 0.1 }
                for name in statistics {
                    graph.parameters.append(Parameter(name: name, type: TensorType(fixed: [2])))
                    weights[name] = Tensor(shape: [2]) { Float($0 + 1) * 0.5 }
                }
                let pads = [kernel[0] / 2, kernel[1] / 2, kernel[0] / 2, kernel[1] / 2]
                graph.nodes.append(Node(name: "b\(b).conv\(k)", op: .conv, inputs: ["x", w], outputs: ["b\(b).c\(k)"], attributes: ["pads": .ints(pads)]))
                graph.nodes.append(Node(name: "b\(b).bn\(k)", op: .batchNormalization, inputs: ["b\(b).c\(k)"] + statistics, outputs: ["b\(b).n\(k)"]))
                sums.append("b\(b).n\(k)")
            }
            graph.nodes.append(Node(name: "b\(b).add0", op: .add, inputs: [sums[0], sums[1]], outputs: ["b\(b).a0"]))
            graph.nodes.append(Node(name: "b\(b).add1", op: .add, inputs: ["b\(b).a0", sums[2]], outputs: ["b\(b).a1"]))
            graph.nodes.append(Node(name: "b\(b).pool", op: .maxPool, inputs: ["b\(b).a1"], outputs: ["b\(b).p"],
                                    attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]))
            graph.nodes.append(Node(name: "b\(b).id", op: .identity, inputs: ["b\(b).p"], outputs: ["b\(b).y"]))
            results.append("b\(b).y")
        }
        graph.nodes.append(Node(name: "concat", op: .concat, inputs: results, outputs: ["y"], attributes: ["axis": .int(1)]))
        graph.outputs = ["y"]
        return (graph, weights)
    }

    static let smallSize = Int(ProcessInfo.processInfo.environment["LOWPASS_SCALING_NODES"] ?? "") ?? 3_000

    static let passes: [String] = ["remove-identity", "canonicalize", "dce", "antialias", "fold-bn", "fuse-branches"]

    static func seconds(_ pass: String, on graph: Graph, _ weights: [String: Tensor]) throws -> Double {
        var registry = PassRegistry()
        CleanupPlugin.register(into: &registry)
        AntialiasPlugin.register(into: &registry)
        ReparamPlugin.register(into: &registry)
        let configured = try registry.configure(Pipeline(parsing: pass), text: pass)
        var best = Double.infinity
        for _ in 0..<2 {
            var copy = graph
            var context = PassContext(weights: weights)
            let clock = ContinuousClock()
            let elapsed = try clock.measure { _ = try configured[0].pass.run(on: &copy, context: &context) }
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return best
    }

    /// Appending nodes and parameters from another module mutates the arrays in place (an observer
    /// on `Graph.nodes` once made each append copy the array: 10,000 appends took 2.5 s).
    @Test func buildingAGraphByAppendingIsLinear() {
        func seconds(_ n: Int) -> Double {
            let start = ContinuousClock.now
            _ = Self.chain(n)
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        let ratio = seconds(10 * Self.smallSize) / max(seconds(Self.smallSize), 1e-4)
        #expect(ratio < 30, "10x the nodes took \(ratio)x the time to build")
    }

    @Test(arguments: passes)
    func nearLinear(pass: String) throws {
        for (shape, build) in [("chain", Self.chain), ("wide", Self.wide)] as [(String, (Int) -> (Graph, [String: Tensor]))] {
            let (small, smallWeights) = build(Self.smallSize)
            let (large, largeWeights) = build(10 * Self.smallSize)
            let (before, after) = (try Self.seconds(pass, on: small, smallWeights), try Self.seconds(pass, on: large, largeWeights))
            let ratio = after / max(before, 1e-4)
            print("\(pass) on a \(shape) graph: \(small.nodes.count) nodes \(before) s, \(large.nodes.count) nodes \(after) s (x\(ratio))")
            #expect(ratio < 30, "\(pass) on a \(shape) graph: 10x the nodes took \(ratio)x the time")
        }
    }
}
