import Cleanup
import Foundation
import Testing
import LowpassIR
@testable import LowpassPasses

/// Every instrumentation flag, on the bundled MNIST-sized classifier (a zoo-like graph).
@Suite("Pass manager instrumentation")
struct InstrumentationTests {
    let registry = PassRegistry(plugins: [CleanupPlugin.self, TestPlugin.self])
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func graph() throws -> Graph {
        var graph = try Graph.load(contentsOf: Self.repository + "/Graphs/examples/mnist-blurpool-small.json")
        // Something for the cleanup passes to do.
        graph.nodes.insert(Node(name: "drop", op: .dropout, inputs: ["flatten"], outputs: ["dropped"]), at: graph.nodes.count - 1)
        graph.nodes[graph.nodes.count - 1].inputs[0] = "dropped"
        return graph
    }

    final class Log: @unchecked Sendable {
        var text = ""
    }

    func run(_ pipeline: String, _ configure: (inout Instrumentation) -> Void) throws -> (log: String, result: Result<Graph, PipelineFailure>) {
        var instrumentation = Instrumentation()
        configure(&instrumentation)
        let log = Log()
        let manager = PassManager(instrumentation: instrumentation) { log.text += $0 }
        let passes = try registry.configure(try Pipeline(parsing: pipeline))
        let input = try graph()
        let result: Result<Graph, PipelineFailure>
        do throws(PipelineFailure) {
            result = .success(try manager.run(passes, on: input).graph)
        } catch {
            result = .failure(error)
        }
        return (log.text, result)
    }

    @Test func verifyEachNamesThePassThatBrokeTheGraph() throws {
        let (_, result) = try run("dce,breaker,dce") { _ in }
        guard case .failure(.brokeTheGraph(let pass, let findings)) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(pass == "breaker")
        #expect(findings.items.contains { $0.id == .undefinedValue && $0.message.contains("no-such-value") })
        let (_, unchecked) = try run("dce,breaker") { $0.verifyEach = false }
        guard case .success = unchecked else { Issue.record("without verify-each the pipeline completes"); return }
    }

    /// MLIR's print-after-failure: the graph as the failing pass left it is printed where the user
    /// asked for that pass's output, and dumped as `NN-<pass>-failed`; banners carry the options given.
    @Test func aFailingPassShowsTheGraphItLeft() throws {
        let folder = NSTemporaryDirectory() + "lowpass-failed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (log, result) = try run("kitchen-sink{filter=3},breaker") { $0.printAfterAll = true; $0.dumpDirectory = folder }
        guard case .failure(.brokeTheGraph) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(log.contains("// -----// Graph after kitchen-sink{filter=3} //----- //"))
        #expect(log.contains("// -----// Graph after breaker failed //----- //"))
        #expect(log.contains("no-such-value"), "the broken graph as it was left")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        #expect(files.contains("02-breaker-failed.txt"), "\(files)")
        #expect(files.contains("02-breaker-failed.json"))
    }

    @Test func printAfterNamedPasses() throws {
        let (log, _) = try run("remove-identity,canonicalize,dce") { $0.printAfter = ["canonicalize"] }
        #expect(log.components(separatedBy: "// -----// Graph after").count == 2)
        #expect(log.contains("// -----// Graph after canonicalize //----- //\ngraph mnist-blurpool-small\n"))
        #expect(log.contains("%logits: f32[N,10] = Gemm(flatten, classifier.weight, classifier.bias) {transB=1}"))
    }

    @Test func printAfterAll() throws {
        let (log, _) = try run("remove-identity,canonicalize,dce") { $0.printAfterAll = true }
        for pass in ["remove-identity", "canonicalize", "dce"] { #expect(log.contains("// -----// Graph after \(pass) //----- //")) }
    }

    @Test func printChangedShowsOnlyPassesThatChangedSomething() throws {
        let (log, _) = try run("remove-identity,dce,rename-first") { $0.printChanged = true }
        #expect(log.contains("// -----// Changed by remove-identity //----- //"))
        #expect(!log.contains("Changed by dce"), "dce finds nothing to remove")
        #expect(log.contains("-  %dropped: f32[N,256] = Dropout(flatten)  # drop"))
        #expect(log.contains("@@ "))
        #expect(log.contains("-  %net.0: f32[N,32,26,26] = Conv(image, net.0.weight, net.0.bias)\n+  %net.0: f32[N,32,26,26] = Conv(image, net.0.weight, net.0.bias)  # net.0_renamed"))
    }

    @Test func timePassesReportsEveryPass() throws {
        let (log, _) = try run("remove-identity,canonicalize,dce") { $0.timePasses = true }
        #expect(log.contains("Pass execution timing report"))
        for pass in ["remove-identity", "canonicalize", "dce", "Total"] { #expect(log.contains("%  \(pass)")) }
    }

    @Test func dumpDirWritesEveryStepAndDotRendersIt() throws {
        let directory = NSTemporaryDirectory() + "lowpass-dump-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (_, result) = try run("remove-identity,canonicalize,dce") { $0.dumpDirectory = directory }
        guard case .success = result else { Issue.record("\(result)"); return }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let steps = ["00-input", "01-remove-identity", "02-canonicalize", "03-dce"]
        #expect(files == steps.flatMap { [$0 + ".dot", $0 + ".json", $0 + ".txt"] })
        let last = try Graph.load(contentsOf: directory + "/03-dce.json")
        #expect(last.node(named: "drop") == nil)
        // Graphviz must accept every DOT file (CI installs graphviz; see .ci/run).
        let dot = ["/usr/bin/dot", "/usr/local/bin/dot", "/opt/homebrew/bin/dot"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let executable = try #require(dot, "Graphviz 'dot' is needed to check the DOT output: apt-get install graphviz")
        for step in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["-Tsvg", directory + "/\(step).dot", "-o", directory + "/\(step).svg"]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "dot rejected \(step).dot")
            let svg = try String(contentsOfFile: directory + "/\(step).svg", encoding: .utf8)
            #expect(svg.contains("<svg"))
        }
    }

    @Test func theInputGraphIsNotModified() throws {
        let input = try graph()
        let passes = try registry.configure(try Pipeline(parsing: "remove-identity,canonicalize,dce"))
        let run = try PassManager(log: { _ in }).run(passes, on: input)
        let (output, report) = (run.graph, run.report)
        #expect(input == (try graph()))
        #expect(output != input)
        #expect(report.passes.map(\.changed) == [true, true, false], "canonicalize drops BlurPool's default pad_mode")
    }
}
