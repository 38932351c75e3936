import ArgumentParser
import LowpassIR

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show which nodes, edges and parameters differ between two graph files.",
        discussion: "Nodes are matched by name. Lines start with + (added), - (removed) or ~ (changed). Exits 0 when the graphs are the same, 1 when they differ and 2 when a file cannot be read, as diff does.")

    @Argument(help: "The first model file (graph or ONNX).")
    var first: String

    @Argument(help: "The second model file (graph or ONNX).")
    var second: String

    func run() throws {
        let a: Graph, b: Graph
        do { a = try LoadedModel.read(first).graph } catch { _ = fail(error.inFile(first)); throw ExitCode(2) }
        do { b = try LoadedModel.read(second).graph } catch { _ = fail(error.inFile(second)); throw ExitCode(2) }
        let diff = GraphDiff(from: a, to: b)
        if diff.isEmpty {
            print("no difference")
            return
        }
        print("--- \(first)\n+++ \(second)")
        print(diff.text, terminator: "")
        print(diff.summary)
        throw ExitCode(1)
    }
}
