import ArgumentParser
import LowpassIR
import LowpassTensor

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a graph: names, arity, attributes, cycles, shapes, and its weights' shapes.",
        discussion: "Reports every problem found, not just the first. Exits non-zero if there is any.")

    @Argument(help: "The graph file (.json).")
    var model: String

    @Option(help: "A .safetensors file to check the parameters against (default: the graph's own weight file, if it names one).")
    var weights: String?

    func run() throws {
        let graph: Graph
        do { graph = try Graph.load(contentsOf: model) } catch { throw fail(error.inFile(model)) }
        var dataShapes: [String: [Int]]?
        if weights != nil || graph.weightsFile != nil {
            do {
                let loaded = try Weights.load(for: graph, graphPath: model, weightsPath: weights)
                dataShapes = loaded.tensors.mapValues(\.shape)
            } catch {
                throw fail(error)
            }
        }
        do {
            let verified = try graph.verify(parameterDataShapes: dataShapes)
            print("ok: \(model): graph '\(graph.name)', \(graph.nodes.count) nodes, \(grouped(verified.parameterCount)) parameters, "
                + "\(scaled(verified.totalMultiplyAdds)) multiply-adds per sample")
        } catch {
            throw fail(error.inFile(model))
        }
    }
}
