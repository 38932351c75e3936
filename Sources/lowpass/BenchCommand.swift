import ArgumentParser
import Dispatch
import Foundation
import LowpassIR
import LowpassJIT
import LowpassTensor

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Compile a graph with the JIT and time it.",
        discussion: """
            Prints the compile time, then the median and spread of the run time over repeated runs on
            seeded random inputs, the arithmetic rate (GFLOP/s, a multiply-add counting two) and the
            memory rate (GB/s of tensors read and written once). --profile adds the median time of every
            kernel and the share of each kernel family. --json prints the same as one JSON object.
            Without a weight file the parameters are random (seeded), with a warning.
            """)

    @OptionGroup var file: ModelFile
    var model: String { file.model }
    var weights: String? { file.weights }

    @Option(help: "Batch size: the first dimension of every input (default: the graph's, or 1 where it is symbolic).")
    var batch: Int?

    @Option(help: "Spatial size of 4-D inputs (H = W), if not the graph's.")
    var size: Int?

    @Option(help: "Timed runs.")
    var runs: Int = 20

    @Option(help: "Untimed runs first.")
    var warmup: Int = 3

    @Flag(help: "Time every kernel too.")
    var profile = false

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @OptionGroup var jit: JITOptions

    func validate() throws {
        if let batch, !(1...1_000_000).contains(batch) { throw ValidationError("--batch must be at least 1") }
        guard (1...100_000).contains(runs), (0...100_000).contains(warmup) else { throw ValidationError("--runs must be >= 1 and --warmup >= 0") }
        if let size, !(1...65_536).contains(size) { throw ValidationError("--size must be between 1 and 65536") }
    }

    func run() throws {
        let source = try readModel(model)
        do { _ = try source.graph.verify() } catch { throw fail(error.inFile(model)) }
        let graph = source.graph
        let loaded: Weights
        do { loaded = try source.weights(graphPath: model, weightsPath: weights) } catch { throw fail(error) }
        if !json { loaded.warnings.forEach(warn) }
        // A fixed batch or size in the file is the declared one; bench overrides it on purpose.
        var specialized = graph
        for i in specialized.inputs.indices {
            var shape = specialized.inputs[i].type.shape.map { $0.value ?? 1 }
            if let batch, !shape.isEmpty { shape[0] = batch }
            if let size, shape.count == 4 { shape[2] = size; shape[3] = size }
            specialized.inputs[i].type.shape = shape.map(Dim.fixed)
        }
        let shapes = Dictionary(uniqueKeysWithValues: specialized.inputs.map { ($0.name, $0.type.shape.map { $0.value ?? 1 }) })

        // Compiling verifies the shapes (sizes within the limits) before any input is allocated.
        let compiled: CompiledModel
        do {
            compiled = try CompiledModel(graph: specialized, weights: loaded, inputShapes: shapes, options: jit.compileOptions)
        } catch {
            throw fail(error.inFile(model))
        }
        if jit.printKernels && !json { printKernels(compiled) }
        var inputs: [String: Tensor] = [:]
        for (index, input) in specialized.inputs.enumerated() {
            var random = SplitMix64(seed: UInt64(index + 1))
            inputs[input.name] = Tensor(shape: shapes[input.name] ?? []) { _ in Float(random.nextUniform() * 2 - 1) }
        }

        var times: [Double] = []
        var kernelTimes = [[Double]](repeating: [], count: compiled.kernels.count)
        do {
            for _ in 0..<warmup { _ = try compiled.run(inputs) }
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try compiled.run(inputs)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            if profile {
                for _ in 0..<runs { _ = try compiled.run(inputs) { kernelTimes[$0].append($1) } }
            }
        } catch {
            throw fail(error.inFile(model))
        }
        let report = BenchReport(model: model, batch: specialized.inputs.first.flatMap { shapes[$0.name]?.first } ?? 1, compiled: compiled, times: times, kernelTimes: profile ? kernelTimes : nil)
        print(json ? report.json : report.text)
    }
}

/// The statistics of a bench run and their two renderings.
struct BenchReport {
    var model: String
    var batch: Int
    var compiled: CompiledModel
    var times: [Double]
    var kernelTimes: [[Double]]?

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    var median: Double { Self.median(times) }
    var flops: Double { compiled.kernels.reduce(0) { $0 + $1.flops } }
    var bytes: Double { compiled.kernels.reduce(0) { $0 + $1.bytes } }

    /// Per kernel: median seconds; and per family (the kind up to its stride or fusions): summed medians.
    var kernelMedians: [Double] { kernelTimes?.map(Self.median) ?? [] }

    var families: [(name: String, seconds: Double)] {
        var sums: [String: Double] = [:]
        for (kernel, seconds) in zip(compiled.kernels, kernelMedians) {
            sums[String(kernel.kind.prefix { !" +/[".contains($0) }), default: 0] += seconds
        }
        return sums.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    }

    var text: String {
        func ms(_ s: Double) -> String { String(format: "%.3f", s * 1000) }
        var lines = [
            "\(model): batch \(batch), \(compiled.threads) threads, \(compiled.kernels.count) kernels, \(compiled.target.lanes)-lane vectors (\(compiled.target)), \(compiled.precision)",
            "compile   \(String(format: "%.2f", compiled.compileSeconds)) s (\(compiled.functionCount) kernel functions, \(compiled.cachedFunctionCount) from the compile cache)",
            "run       median \(ms(median)) ms  (min \(ms(times.min() ?? 0)), p10 \(ms(Self.percentile(times, 0.1))), " +
                "p90 \(ms(Self.percentile(times, 0.9))), max \(ms(times.max() ?? 0)) ms over \(times.count) runs)",
            "rate      \(String(format: "%.1f", flops / median / 1e9)) GFLOP/s, \(String(format: "%.1f", bytes / median / 1e9)) GB/s " +
                "(\(String(format: "%.2f", flops / 1e9)) GFLOP, \(String(format: "%.1f", bytes / 1e6)) MB per run)",
        ]
        guard kernelTimes != nil else { return lines.joined(separator: "\n") }
        let medians = kernelMedians, total = medians.reduce(0, +)
        lines.append("")
        lines.append("profile (median per kernel; kernels sum to \(ms(total)) ms)")
        let kindWidth = kindColumnWidth(compiled.kernels)
        lines.append("  " + "kernel".padding(toLength: 34, withPad: " ", startingAt: 0) + " " + "kind".padding(toLength: kindWidth, withPad: " ", startingAt: 0)
                     + "      ms      %  GFLOP/s   GB/s")
        for (kernel, seconds) in zip(compiled.kernels, medians) {
            lines.append("  " + kernel.name.padding(toLength: 34, withPad: " ", startingAt: 0) + " " + kernel.kind.padding(toLength: kindWidth, withPad: " ", startingAt: 0)
                         + String(format: " %8.3f %6.2f %8.1f %6.1f", seconds * 1000, 100 * seconds / max(total, 1e-12),
                                  kernel.flops / max(seconds, 1e-12) / 1e9, kernel.bytes / max(seconds, 1e-12) / 1e9))
        }
        lines.append("")
        lines.append("by family")
        for family in families {
            lines.append("  " + family.name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: " %8.3f ms %6.2f %%", family.seconds * 1000, 100 * family.seconds / max(total, 1e-12)))
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        var members: [(key: String, value: JSONValue)] = [
            ("model", .string(model)), ("batch", .int(batch)), ("threads", .int(compiled.threads)), ("lanes", .int(compiled.target.lanes)), ("target", .string(compiled.target.description)), ("precision", .string(compiled.precision.rawValue)),
            ("compile_s", .double(compiled.compileSeconds)), ("kernel_functions", .int(compiled.functionCount)),
            ("cached_functions", .int(compiled.cachedFunctionCount)), ("runs", .int(times.count)),
            ("median_ms", .double(median * 1000)), ("min_ms", .double((times.min() ?? 0) * 1000)), ("max_ms", .double((times.max() ?? 0) * 1000)),
            ("p10_ms", .double(Self.percentile(times, 0.1) * 1000)), ("p90_ms", .double(Self.percentile(times, 0.9) * 1000)),
            ("gflop", .double(flops / 1e9)), ("gflops", .double(flops / median / 1e9)), ("gbs", .double(bytes / median / 1e9)),
        ]
        if kernelTimes != nil {
            members.append(("kernels", .array(zip(compiled.kernels, kernelMedians).map { kernel, seconds in
                .object([("name", .string(kernel.name)), ("kind", .string(kernel.kind)), ("nodes", .array(kernel.nodes.map(JSONValue.string))),
                         ("median_ms", .double(seconds * 1000)), ("gflop", .double(kernel.flops / 1e9)), ("mb", .double(kernel.bytes / 1e6))])
            })))
            members.append(("families", .array(families.map { .object([("family", .string($0.name)), ("median_ms", .double($0.seconds * 1000))]) })))
        }
        return JSONValue.object(members).compactText()
    }
}
