import ArgumentParser
import Foundation
import LowpassIR
import LowpassJIT
import LowpassTensor

struct ConsistencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency",
        abstract: "Measure how often classifiers keep their top-1 class when the input shifts (docs/consistency.md).",
        discussion: """
            Protocols (--protocols, any of):
              shift     Zhang's `main.py -es`: per batch two random crops of size S at offsets in [0, R),
                        consistency = % of images whose top-1 classes agree, over --epochs passes;
              diagonal  `main.py -ed`: crops at (d, d) for d = 0..R: the probability of the true class
                        (with --labels) or of the shift-0 prediction, per shift, and the share of images
                        whose class never changes;
              circular  the centre crop rolled (torch.roll) by two random offsets per batch: a truly
                        shift-invariant network agrees on every image (100.00%).
            A dense model (output [N, K, H', W'], segmentation) is measured per pixel: the share of pixels whose
            class agrees where the two views see the same place (shift: the crops' overlap; circular: all,
            rolled back), offsets rounded down to multiples of its output stride; no diagonal protocol.
            Images: a folder of PNG and JPEG files (in one subfolder per class, as ImageNet's validation set
            is laid out, for labels; decoded by libpng and libjpeg-turbo, resized with PIL's antialiased
            bilinear filter) or an .npy of [N, C, H, W] floats in [0, 1]. The shorter side is resized to
            S + R, the centre square cropped, then normalized (ImageNet's mean and std unless --mean/--std
            or --no-normalize).
            Several models print side by side; --json writes every per-image agreement and offset, --plot
            draws the diagonal curves (the paper's Figure 1) as SVG.
            """)

    enum Measurement: String, CaseIterable { case shift, diagonal, circular }

    @Argument(help: "The models (graph files or ONNX), each compiled by the JIT.")
    var models: [String]

    @Option(help: "The images: a folder of .png/.jpg files (optionally in one subfolder per class), or an .npy of [N, C, H, W] floats in [0, 1].")
    var images: String

    @Option(help: "True classes: an .npy of N class indices, or a text file of one integer per line (default for a folder of class subfolders: the subfolder's index).")
    var labels: String?

    @Option(help: "Crop size S (default: the model's input size).")
    var size: Int?

    @Option(help: "Shifts are in [0, R). (default: 32)")
    var shiftRange: Int = 32

    @Option(help: "Passes of the shift and circular protocols over the images. (default: 5)")
    var epochs: Int = 5

    @Option(help: "Seed of the random offsets (SplitMix64). (default: 0)")
    var seed: UInt64 = 0

    @Option(help: "Images per run. (default: 32)")
    var batch: Int = 32

    @Option(help: "Comma-separated protocols: shift, diagonal, circular. (default: shift,diagonal,circular)")
    var protocols: String = "shift,diagonal,circular"

    @Option(help: "Per-channel mean, comma-separated. (default: ImageNet's 0.485,0.456,0.406)")
    var mean: String = "0.485,0.456,0.406"

    @Option(help: "Per-channel standard deviation, comma-separated. (default: ImageNet's 0.229,0.224,0.225)")
    var std: String = "0.229,0.224,0.225"

    @Flag(help: "Use the images as they are (already normalized).")
    var noNormalize = false

    @Option(help: "Write every measurement, per image and per shift, as JSON.")
    var json: String?

    @Option(help: "Draw the diagonal protocol's curves of every model as SVG.")
    var plot: String?

    @OptionGroup var jit: JITOptions

    func validate() throws {
        guard shiftRange >= 1, epochs >= 1, batch >= 1 else { throw ValidationError("--shift-range, --epochs and --batch must be at least 1") }
        if let size, size < 1 || size > 8192 { throw ValidationError("--size must be between 1 and 8192, got \(size)") }
        guard shiftRange <= 1024, epochs <= 1000, batch <= 4096 else {
            throw ValidationError("--shift-range is at most 1024, --epochs 1000 and --batch 4096")
        }
        for name in protocols.split(separator: ",") where Measurement(rawValue: String(name)) == nil {
            throw ValidationError("unknown protocol '\(name)'; expected shift, diagonal or circular")
        }
        if plot != nil && !chosen.contains(.diagonal) { throw ValidationError("--plot draws the diagonal protocol: add it to --protocols") }
    }

    var chosen: [Measurement] { protocols.split(separator: ",").compactMap { Measurement(rawValue: String($0)) } }

    struct Measured {
        var name: String
        var accuracy: Double?
        var shift: ShiftConsistency.Agreements?
        var circular: ShiftConsistency.Agreements?
        var diagonal: ShiftConsistency.Diagonal?
        /// A class per pixel: agreements are shares of pixels.
        var dense = false
    }

    func run() throws {
        let (raw, folderLabels) = try readImages()
        guard raw.rank == 4, raw.shape.allSatisfy({ $0 >= 1 }) else {
            throw fail(Diagnostic(.inputShape, "\(images): expected images [N, C, H, W] with every size at least 1, found \(raw.shape)"))
        }
        let classes = try readLabels(count: raw.shape[0]) ?? folderLabels
        var results: [Measured] = []
        for path in models {
            let source = try readModel(path)
            let graph = source.graph
            guard graph.inputs.count == 1, graph.outputs.count == 1, graph.inputs[0].type.rank == 4 else {
                throw fail(Diagnostic(.inputShape, "\(path): consistency needs a classifier of one [N, C, H, W] input and one output"))
            }
            let declared = graph.inputs[0].type.shape
            let side = size ?? declared[2].value ?? 224
            let channels = declared[1].value ?? raw.shape[1]
            guard channels == raw.shape[1] else {
                throw fail(Diagnostic(.inputShape, "\(path) takes \(channels) channels; the images have \(raw.shape[1])"))
            }
            let loaded: Weights
            do { loaded = try source.weights(graphPath: path, weightsPath: nil) } catch { throw fail(error) }
            loaded.warnings.forEach(warn)
            let compiled: CompiledModel
            do {
                compiled = try CompiledModel(graph: graph, weights: loaded, inputShapes: [graph.inputs[0].name: [batch, channels, side, side]],
                                             options: jit.compileOptions)
            } catch { throw fail(error.inFile(path)) }
            let output = try outputKind(graph, path: path, input: [batch, channels, side, side])
            if output != .classes && labels != nil {
                throw fail(Diagnostic(.badOption, "\(path) has a dense output (a class per pixel); --labels gives one class per image"))
            }
            let protocolRun = ShiftConsistency(size: side, range: shiftRange, batch: batch, seed: seed, output: output)
            let prepared = protocolRun.prepared(raw, mean: noNormalize ? [] : try numbers(mean, "--mean"), std: noNormalize ? [] : try numbers(std, "--std"))
            let progress = Progress(label: (path as NSString).lastPathComponent, quiet: jit.quiet)
            let classify: ShiftConsistency.Classifier = { crops in
                try progress.step()
                return try Self.classify(crops, with: compiled, input: graph.inputs[0].name, output: graph.outputs[0], batch: batch)
            }
            var measured = Measured(name: path, dense: output != .classes)
            do {
                if let classes, output == .classes { measured.accuracy = try protocolRun.accuracy(prepared, labels: classes, run: classify) }
                if chosen.contains(.shift) { measured.shift = try protocolRun.randomShifts(prepared, passes: epochs, run: classify) }
                if chosen.contains(.circular) { measured.circular = try protocolRun.circularShifts(prepared, passes: epochs, run: classify) }
                if chosen.contains(.diagonal) && output == .classes { measured.diagonal = try protocolRun.diagonal(prepared, labels: classes, run: classify) }
                if chosen.contains(.diagonal) && output != .classes { warn("\(path): the diagonal protocol measures a classifier's probabilities; skipped for this dense output") }
            } catch let error as Diagnostics {
                throw fail(error.inFile(path))
            }
            progress.finish()
            results.append(measured)
        }
        printTable(results, images: raw.shape[0])
        do {
            if let json { try writeAtomically(report(results), to: json) }
            if let plot { try writeAtomically(ConsistencyPlot.svg(results.compactMap { r in r.diagonal.map { (r.name, $0.meanProbability) } },
                                                                   labelled: classes != nil), to: plot) }
        } catch { throw fail(error) }
    }

    /// Runs the compiled model on `crops`, padded to its batch; the logits of the real images.
    static func classify(_ crops: Tensor, with model: CompiledModel, input: String, output: String, batch: Int) throws -> Tensor {
        let count = crops.shape[0]
        var padded = crops
        if count < batch {
            padded = Tensor(zeros: [batch] + crops.shape.dropFirst())
            padded.withUnsafeMutableBufferPointer { p in crops.withUnsafeBufferPointer { c in for i in 0..<c.count { p[i] = c[i] } } }
        }
        guard let logits = try model.run([input: padded])[output] else { throw Diagnostics([Diagnostic(.jitInternal, "no output '\(output)'")]) }
        let perImage = logits.count / batch
        guard perImage >= 1 else { throw Diagnostics([Diagnostic(.inputShape, "output '\(output)' has no classes (shape \(logits.shape))")]) }
        let shape = logits.rank == 4 ? Array(logits.shape.dropFirst()) : [perImage]
        return Tensor(shape: [count] + shape) { logits[$0] }
    }

    /// A classifier's `[N, K]` logits, or a dense `[N, K, H', W']` output whose map divides the crop
    /// evenly (the stride of its pixels in the input).
    private func outputKind(_ graph: Graph, path: String, input: [Int]) throws -> ShiftConsistency.Output {
        let shape: [Int]
        do {
            let verified = try graph.verify(binding: try graph.bindInputs(shapes: [graph.inputs[0].name: input]))
            shape = verified.types[graph.outputs[0]]?.fixedShape ?? []
        } catch { throw fail(error.inFile(path)) }
        if shape.count == 2 { return .classes }
        guard shape.count == 4, shape[2] >= 1, shape[3] >= 1, input[2] % shape[2] == 0, input[3] % shape[3] == 0,
              input[2] / shape[2] == input[3] / shape[3] else {
            throw fail(Diagnostic(.inputShape, "\(path): the output \(shape) is neither [N, K] logits nor a [N, K, H', W'] map that divides the \(input[2])x\(input[3]) crop evenly"))
        }
        return .pixels(stride: input[2] / shape[2])
    }

    /// The .npy as it is, or the folder's images at the first model's size (or --size) plus the shift
    /// range, with the labels their subfolders give.
    private func readImages() throws -> (Tensor, [Int]?) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: images, isDirectory: &isFolder), isFolder.boolValue else {
            do { return (try NPY.read(contentsOf: images), nil) } catch { throw fail(error) }
        }
        let first = try readModel(models[0]).graph.inputs.first?.type.shape ?? []
        let side = size ?? (first.count == 4 ? first[2].value : nil) ?? 224
        let channels = first.count == 4 ? first[1].value ?? 3 : 3
        do {
            let folder = try ImageFolder(contentsOf: images, side: side + shiftRange, channels: channels)
            return (folder.images, folder.labels)
        } catch { throw fail(error) }
    }

    private func readLabels(count: Int) throws -> [Int]? {
        guard let labels else { return nil }
        var values: [Double] = []
        if labels.lowercased().hasSuffix(".npy") {
            do { values = try NPY.read(contentsOf: labels).values.map(Double.init) } catch { throw fail(error) }
        } else {
            let text: String
            do { text = String(decoding: try readFileBytes(labels, limit: 1 << 26), as: UTF8.self) } catch { throw fail(error) }
            for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let value = Int(line.trimmingCharacters(in: .whitespaces)) else {
                    throw fail(Diagnostic(.badOption, "\(labels): line \(i + 1): expected a class index, found '\(line)'"))
                }
                values.append(Double(value))
            }
        }
        guard values.count == count, values.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 1e9 }) else {
            throw fail(Diagnostic(.badOption, "\(labels): expected \(count) non-negative class indices, found \(values.count) values"))
        }
        return values.map { Int($0) }
    }

    private func numbers(_ text: String, _ option: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("\(option) must be comma-separated numbers, got '\(text)'") }
        return values.map { $0! }
    }

    private func printTable(_ results: [Measured], images: Int) {
        func percent(_ x: Double?) -> String { x.map { String(format: "%6.2f%%", 100 * $0) } ?? "      -" }
        func withInterval(_ a: ShiftConsistency.Agreements?) -> String {
            a.map { String(format: "%6.2f%% ± %.2f", 100 * $0.rate, 100 * $0.interval) } ?? "        -       "
        }
        let width = max(12, results.map { ($0.name as NSString).lastPathComponent.count }.max() ?? 0)
        print("\(images) images, crops of \(size.map(String.init) ?? "the model's size"), shifts in [0, \(shiftRange)), \(epochs) passes, seed \(seed); ± is the 95% interval")
        print("model".padding(toLength: width, withPad: " ", startingAt: 0) + "  accuracy   consistency        circular           diagonal: stable  mean p")
        for r in results {
            let name = (r.name as NSString).lastPathComponent.padding(toLength: width, withPad: " ", startingAt: 0)
            let meanP = r.diagonal.map { d in String(format: "%.4f", d.meanProbability.reduce(0, +) / Double(d.meanProbability.count)) } ?? "-"
            print("\(name)  \(percent(r.accuracy))    \(withInterval(r.shift))   \(withInterval(r.circular))   \(percent(r.diagonal?.stable))          \(meanP)")
        }
    }

    private func report(_ results: [Measured]) -> String {
        // A classifier's agreements are yes or no; a dense output's, the share of its pixels that agree.
        func agreements(_ a: ShiftConsistency.Agreements?, dense: Bool) -> JSONValue {
            guard let a else { return .null }
            return .object([("rate", .double(a.rate)), ("interval95", .double(a.interval)),
                            ("agree", .array(a.agree.map { .array($0.map { dense ? .double($0) : .bool($0 == 1) }) })),
                            ("offsets", .array(a.offsets.map { pass in .array(pass.map { pair in
                                .array([.array([.int(pair.0.0), .int(pair.0.1)]), .array([.int(pair.1.0), .int(pair.1.1)])]) }) }))])
        }
        let models: [JSONValue] = results.map { r in
            var members: [(String, JSONValue)] = [("model", .string(r.name)), ("accuracy", r.accuracy.map { .double($0) } ?? .null),
                                                  ("output", .string(r.dense ? "pixels" : "classes")),
                                                  ("shift", agreements(r.shift, dense: r.dense)), ("circular", agreements(r.circular, dense: r.dense))]
            if let d = r.diagonal {
                members.append(("diagonal", .object([("stable", .double(d.stable)),
                                                     ("mean_probability", .array(d.meanProbability.map { .double($0) })),
                                                     ("accuracy", d.accuracy.map { .array($0.map { .double($0) }) } ?? .null),
                                                     ("predicted", .array(d.predicted.map { .array($0.map { .int($0) }) }))])))
            } else {
                members.append(("diagonal", .null))
            }
            return .object(members)
        }
        return JSONValue.object([("size", .int(size ?? 0)), ("shift_range", .int(shiftRange)), ("epochs", .int(epochs)),
                                 ("seed", .int(Int(truncatingIfNeeded: seed))), ("batch", .int(batch)), ("models", .array(models))]).formatted()
    }

    /// "model.json: 12/85 runs" on standard error when it is a terminal and the run takes over a second.
    final class Progress {
        let label: String, quiet: Bool
        private var runs = 0
        private let start = Date()
        init(label: String, quiet: Bool) { (self.label, self.quiet) = (label, quiet) }
        func step() throws {
            runs += 1
            guard !quiet, isatty(STDERR_FILENO) != 0, Date().timeIntervalSince(start) > 1 else { return }
            FileHandle.standardError.write(Data("\r\(label): \(runs) batches run".utf8))
        }
        func finish() {
            guard !quiet, isatty(STDERR_FILENO) != 0, Date().timeIntervalSince(start) > 1 else { return }
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        }
    }
}
