import ArgumentParser
import LowpassIR
import LowpassTensor

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a graph: names, arity, attributes, cycles, shapes, and its weights' shapes.",
        discussion: "Reports every problem found, not just the first. Exits non-zero if there is any.")

    @OptionGroup var file: ModelFile
    var model: String { file.model }
    var weights: String? { file.weights }

    func run() throws {
        let source = try readModel(model)
        let graph = source.graph
        var dataShapes: [String: [Int]]?
        if weights != nil || graph.weightsFile != nil || source.embeddedWeights != nil {
            do {
                let loaded = try source.weights(graphPath: model, weightsPath: weights)
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
