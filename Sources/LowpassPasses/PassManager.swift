import Foundation
import LowpassIR
import LowpassTensor

/// A pass ready to run: resolved from a pipeline step, options checked.
public struct ConfiguredPass: Sendable {
    public var name: String
    public var options: PassOptions
    public var pass: any GraphRewrite
    /// The step as the pipeline gave it, options included (`antialias{filter=3}`): what banners print.
    public var text: String

    public init(name: String, options: PassOptions, pass: any GraphRewrite, text: String? = nil) {
        self.name = name
        self.options = options
        self.pass = pass
        self.text = text ?? name
    }
}

extension PassRegistry {
    /// Resolves every step of `pipeline` to a pass with typed options; errors point at the column.
    public func configure(_ pipeline: Pipeline, text: String? = nil) throws(PipelineError) -> [ConfiguredPass] {
        let source = text ?? pipeline.description
        var configured: [ConfiguredPass] = []
        for step in pipeline.steps {
            guard let entry = entry(named: step.name) else {
                let names = allNames
                let hint = closestName(to: step.name, in: names).map { "did you mean '\($0)'? " } ?? ""
                throw PipelineError(text: source, column: step.column,
                                    message: "unknown pass '\(step.name)'; \(hint)known passes: \(names.joined(separator: ", "))")
            }
            var given: [String: PassOptions.Value] = [:]
            for (k, option) in step.options.enumerated() {
                let column = step.optionColumns.indices.contains(k) ? step.optionColumns[k] : step.column
                if entry.acceptsAnyOption { given[option.key] = .string(option.value); continue }
                guard let spec = entry.option(option.key) else {
                    let names = entry.options.map(\.name)
                    let hint = closestName(to: option.key, in: names).map { "did you mean '\($0)'? " } ?? ""
                    let known = names.isEmpty ? "it takes no options" : "its options: \(names.joined(separator: ", "))"
                    throw PipelineError(text: source, column: column, message: "pass '\(step.name)' has no option '\(option.key)'; \(hint)\(known)")
                }
                do {
                    given[option.key] = try spec.parse(option.value)
                } catch {
                    throw PipelineError(text: source, column: column, message: error.message)
                }
            }
            let options = PassOptions(defaults: entry.options, given: given)
            do {
                configured.append(ConfiguredPass(name: step.name, options: options, pass: try entry.make(options),
                                                 text: Pipeline(steps: [step]).description))
            } catch {
                throw PipelineError(text: source, column: step.column, message: error.message)
            }
        }
        return configured
    }
}

/// What to show while a pipeline runs, as in LLVM's and MLIR's pass managers.
public struct Instrumentation: Sendable {
    /// Verify the graph after every pass and name the pass that broke it.
    public var verifyEach = true
    /// Print the graph after these passes (by name).
    public var printAfter: Set<String> = []
    public var printAfterAll = false
    /// Print a unified diff of the text form after each pass that changed the graph.
    public var printChanged = false
    /// Report each pass's wall time at the end.
    public var timePasses = false
    /// Write `00-input.{json,txt,dot}`, `01-<pass>.{json,txt,dot}`, ... into this folder.
    public var dumpDirectory: String?

    public init() {}
}

/// What happened in one run of a pipeline.
public struct PipelineReport: Sendable {
    public struct PassRun: Sendable {
        public var name: String
        public var changed: Bool
        public var seconds: Double
        /// The pass's own summary (`PassContext.report`), if it wrote one.
        public var report: String = ""
    }

    public var passes: [PassRun] = []
    public var remarks: [Diagnostic] = []

    public var changed: Bool { passes.contains { $0.changed } }

    /// The `--time-passes` table.
    public var timingTable: String {
        let total = passes.reduce(0) { $0 + $1.seconds }
        var lines = ["===-------------------------------------------------------------------------===",
                     "                          Pass execution timing report",
                     "===-------------------------------------------------------------------------===",
                     String(format: "  Total Execution Time: %.4f seconds", total), "",
                     "   Wall Time    %    Name"]
        for run in passes {
            lines.append(String(format: "  %9.4fs  %5.1f%%  %@", run.seconds, total > 0 ? 100 * run.seconds / total : 0, run.name))
        }
        lines.append(String(format: "  %9.4fs  100.0%%  Total", total))
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A pipeline's result: the rewritten model and what each pass did.
public struct PipelineRun: Sendable {
    public var model: Model
    public var report: PipelineReport

    public var graph: Graph { model.graph }
}

/// Why a pipeline stopped. The input graph is never modified: the caller's copy stays as it was.
public enum PipelineFailure: Error, Sendable, CustomStringConvertible {
    case invalidInput(Diagnostics)
    case passFailed(PassError)
    /// The pass ran but left a graph that does not verify.
    case brokeTheGraph(pass: String, Diagnostics)
    case dumpFailed(Diagnostic)

    /// The failure as findings: a first line that says what happened, then the verifier's findings.
    public var diagnostics: Diagnostics {
        switch self {
        case .invalidInput(let d):
            return Diagnostics([Diagnostic(.invalidInput, "the input graph does not verify")] + d.items)
        case .passFailed(let e):
            return Diagnostics([Diagnostic(.passFailed, "pass '\(e.pass)': \(e.message)", at: SourceLocation(node: e.node))])
        case .brokeTheGraph(let pass, let d):
            return Diagnostics([Diagnostic(.passBrokeGraph, "pass '\(pass)' produced an invalid graph:")] + d.items)
        case .dumpFailed(let d):
            return Diagnostics([d])
        }
    }

    public var description: String {
        switch self {
        case .invalidInput(let d): return "the input graph does not verify:\n\(d)"
        case .passFailed(let e): return e.description
        case .brokeTheGraph(let pass, let d): return "pass '\(pass)' produced an invalid graph:\n\(d)"
        case .dumpFailed(let d): return d.description
        }
    }
}

/// Runs configured passes in order over a graph, with instrumentation.
public struct PassManager: Sendable {
    public var instrumentation: Instrumentation
    /// Where printed graphs, diffs and timings go (the CLI sends them to standard error).
    public var log: @Sendable (String) -> Void

    public init(instrumentation: Instrumentation = Instrumentation(), log: @escaping @Sendable (String) -> Void = { print($0, terminator: "") }) {
        self.instrumentation = instrumentation
        self.log = log
    }

    /// Runs the passes over a graph without weights (passes that compute weights refuse it).
    public func run(_ passes: [ConfiguredPass], on input: Graph) throws(PipelineFailure) -> PipelineRun {
        try run(passes, on: Model(graph: input))
    }

    /// Runs the passes over the model; the result carries the new weights when a pass computed them.
    public func run(_ passes: [ConfiguredPass], on input: Model) throws(PipelineFailure) -> PipelineRun {
        var graph = input.graph
        var weights = input.weights
        var weightsChanged = input.weightsChanged
        var report = PipelineReport()
        var types: [String: TensorType]
        do { types = try graph.verify().types } catch { throw .invalidInput(error) }
        try dump(graph, types: types, step: 0, name: "input")

        for (index, configured) in passes.enumerated() {
            let before = graph
            let beforeText = instrumentation.printChanged ? graph.text(types: types) : ""
            var context = PassContext(weights: weights)
            let start = DispatchTime.now().uptimeNanoseconds
            let changed: Bool
            do { changed = try configured.pass.run(on: &graph, context: &context) } catch {
                showFailure(graph, of: configured, step: index + 1)
                throw .passFailed(error)
            }
            graph.settleOrder()
            // Verification below checks declared shapes against the data the passes now hold.
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            report.passes.append(.init(name: configured.name, changed: changed, seconds: seconds, report: context.report))
            report.remarks += context.remarks
            if context.weightsChanged {
                weights = context.weights
                weightsChanged = true
            }

            if instrumentation.verifyEach || instrumentation.printChanged || instrumentation.dumpDirectory != nil
                || instrumentation.printAfterAll || instrumentation.printAfter.contains(configured.name) {
                do {
                    types = try graph.verify().types
                } catch {
                    if instrumentation.verifyEach {
                        showFailure(graph, of: configured, step: index + 1)
                        throw .brokeTheGraph(pass: configured.name, error)
                    }
                    types = [:]
                }
            }
            if instrumentation.printAfterAll || instrumentation.printAfter.contains(configured.name) {
                log("// -----// Graph after \(configured.text) //----- //\n" + graph.text(types: types)
                    + (context.report.isEmpty ? "" : "// \(configured.name) report:\n" + context.report))
            }
            if instrumentation.printChanged && (changed || graph != before) {
                let diff = unifiedDiff(from: beforeText, to: graph.text(types: types),
                                       oldName: "before \(configured.name)", newName: "after \(configured.name)")
                log("// -----// Changed by \(configured.text) //----- //\n" + diff)
            }
            try dump(graph, types: types, step: index + 1, name: configured.name)
        }
        if instrumentation.timePasses { log(report.timingTable) }
        var output = Model(graph: graph, weights: weights)
        output.weightsChanged = weightsChanged
        return PipelineRun(model: output, report: report)
    }

    /// MLIR's print-after-failure: the graph as the failing pass left it, where the user asked to see
    /// that pass's output, and in the dump folder as `NN-<pass>-failed`. A pass that throws may leave a
    /// half-edited graph: that is the point of showing it. (The caller's graph is never changed.)
    func showFailure(_ graph: Graph, of configured: ConfiguredPass, step: Int) {
        let types = (try? graph.verify().types) ?? [:]
        if instrumentation.printAfterAll || instrumentation.printAfter.contains(configured.name) {
            log("// -----// Graph after \(configured.text) failed //----- //\n" + graph.text(types: types))
        }
        try? dump(graph, types: types, step: step, name: configured.name + "-failed")
    }

    func dump(_ graph: Graph, types: [String: TensorType], step: Int, name: String) throws(PipelineFailure) {
        guard let directory = instrumentation.dumpDirectory else { return }
        do { try createFolder(directory, purpose: "dump folder") } catch { throw .dumpFailed(error) }
        let base = (directory as NSString).appendingPathComponent(String(format: "%02d-", step) + name)
        do {
            try writeAtomically(graph.jsonText(), to: base + ".json")
            try writeAtomically(graph.text(types: types), to: base + ".txt")
            try writeAtomically(graph.dot(types: types), to: base + ".dot")
        } catch {
            throw .dumpFailed(error)
        }
    }
}
