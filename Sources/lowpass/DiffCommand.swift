import ArgumentParser
import LowpassIR

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show which nodes, edges and parameters differ between two graph files.",
        discussion: "Nodes are matched by name. Lines start with + (added), - (removed) or ~ (changed). Exits 1 when the graphs differ, as diff does.")

    @Argument(help: "The first graph file.")
    var first: String

    @Argument(help: "The second graph file.")
    var second: String

    func run() throws {
        let a: Graph, b: Graph
        do { a = try Graph.load(contentsOf: first) } catch { throw fail(error.inFile(first)) }
        do { b = try Graph.load(contentsOf: second) } catch { throw fail(error.inFile(second)) }
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
