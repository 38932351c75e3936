import Foundation
import LowpassIR

/// The parameter data of one graph, by parameter name.
public struct Weights: Sendable {
    public var tensors: [String: Tensor]
    /// Things the user should know, such as "the weights are random".
    public var warnings: [String] = []

    public init(tensors: [String: Tensor] = [:]) { self.tensors = tensors }

    public subscript(name: String) -> Tensor? { tensors[name] }

    /// Loads the parameters of `graph`: from `weightsPath` if given, else from the graph's own weight
    /// file (relative to `graphPath`), else a deterministic random initialisation with a warning.
    /// Inline constants always come from the graph. Shapes are checked against the declarations.
    public static func load(for graph: Graph, graphPath: String?, weightsPath: String? = nil) throws(Diagnostics) -> Weights {
        var weights = Weights()
        var path = weightsPath
        if path == nil, let relative = graph.weightsFile {
            let directory = graphPath.map { ($0 as NSString).deletingLastPathComponent } ?? ""
            path = relative.hasPrefix("/") || directory.isEmpty ? relative : directory + "/" + relative
        }
        if let path {
            let file: SafeTensorsFile
            do { file = try SafeTensorsFile.read(contentsOf: path) } catch { throw Diagnostics([error]) }
            weights.tensors = file.tensors
            var findings: [Diagnostic] = []
            for parameter in graph.parameters where parameter.inlineData == nil {
                let location = SourceLocation(file: path, path: parameter.name)
                if let dtype = file.unsupported[parameter.name] {
                    findings.append(Diagnostic(.unsupportedDtype, "parameter '\(parameter.name)' has dtype \(dtype); Lowpass reads F32, F64, F16 and BF16", at: location))
                    continue
                }
                if let index = file.tensors.index(forKey: parameter.name), !NameSpelling.sameBytes(file.tensors[index].key, parameter.name) {
                    findings.append(Diagnostic(.ambiguousName, "the graph's parameter and the weight file's tensor: " +
                        NameSpelling.describeConflict(parameter.name, file.tensors[index].key), at: location))
                    continue
                }
                guard let tensor = file.tensors[parameter.name] else {
                    let hint = closestName(to: parameter.name, in: Array(file.tensors.keys)).map { " (closest name in the file: '\($0)')" } ?? ""
                    findings.append(Diagnostic(.missingParameter, "parameter '\(parameter.name)' is not in the weight file\(hint)", at: location))
                    continue
                }
                if let declared = parameter.type.fixedShape, declared != tensor.shape {
                    findings.append(Diagnostic(.parameterShape,
                        "parameter '\(parameter.name)' is declared \(declared) in the graph but has shape \(tensor.shape) in the weight file", at: location))
                }
            }
            guard findings.isEmpty else { throw Diagnostics(findings) }
        } else if graph.parameters.contains(where: { $0.inlineData == nil }) {
            weights.tensors = try WeightInitializer.initialize(graph)
            weights.warnings.append("graph '\(graph.name)' names no weight file: parameters are random (seeded He-normal initialisation)")
        }
        weights.addInlineData(of: graph)
        return weights
    }

    /// Adds the graph's inline constants (those whose data fits their declared shape; the verifier
    /// reports the others), so every engine finds all parameters here.
    public mutating func addInlineData(of graph: Graph) {
        for parameter in graph.parameters {
            guard let data = parameter.inlineData, let shape = parameter.type.fixedShape, data.count == shape.reduce(1, *) else { continue }
            tensors[parameter.name] = Tensor(shape: shape, values: data)
        }
    }
}

/// Deterministic initial weights, as torchvision initialises its CNNs: convolution kernels He-normal
/// (fan-out), BN scale 1 and shift 0, running mean 0 and variance 1, linear layers uniform in
/// +-1/sqrt(fan-in), biases 0. Each parameter is seeded from its own name, so adding a parameter
/// does not change the others.
public enum WeightInitializer {
    public static func initialize(_ graph: Graph) throws(Diagnostics) -> [String: Tensor] {
        // Each value's first use: the op, the input position and the node.
        var role: [String: (op: OpKind, input: Int, node: Node)] = [:]
        for node in graph.nodes {
            for (i, input) in node.inputs.enumerated() where role[input] == nil { role[input] = (node.op, i, node) }
        }
        var tensors: [String: Tensor] = [:]
        // All together within the machine's memory, checked before the first is made: a 1 KB graph
        // declaring a few tensors under the per-tensor limit asked for tens of gigabytes.
        var sizes: [(name: String, shape: [Int], elements: Int)] = []
        for parameter in graph.parameters where parameter.inlineData == nil {
            guard let shape = parameter.type.fixedShape else {
                throw Diagnostics([Diagnostic(.symbolicParameter, "parameter '\(parameter.name)' has a symbolic shape")])
            }
            do { sizes.append((parameter.name, shape, try Tensor.elementCount(of: shape))) } catch { throw Diagnostics([error]) }
        }
        let total = sizes.reduce(0) { $0 &+ $1.elements }
        if total > Limits.memoryBudget / 4 {
            let largest = sizes.sorted { $0.elements > $1.elements }.prefix(3).map { "'\($0.name)' (\($0.elements) elements)" }
            throw Diagnostics([Diagnostic(.memoryBudget, "the parameters to seed hold \(total) floats (\(String(format: "%.1f", Double(total) / 262_144)) MiB), more than this machine's memory (\(Limits.memoryBudget >> 20) MiB, LOWPASS_MEMORY_BUDGET_MB); the largest: \(largest.joined(separator: ", "))")])
        }
        for (name, shape, _) in sizes {
            var random = SplitMix64(seed: SeededRecipe.fnv1a(name))
            let fill: () -> Float
            switch role[name] {
            case (.conv, 1, _)?:
                let fanOut = shape.count == 4 ? shape[0] * shape[2] * shape[3] : max(shape.first ?? 1, 1)
                let std = (2.0 / Double(max(fanOut, 1))).squareRoot()
                fill = { Float(random.nextGaussian() * std) }
            case (.batchNormalization, 1, _)?, (.batchNormalization, 4, _)?:
                fill = { 1 }
            case (.gemm, 1, let node)?, (.matMul, 1, let node)?:
                let fanIn = shape.count == 2 ? ((try? node.int("transB")) == 1 ? shape[1] : shape[0]) : max(shape.last ?? 1, 1)
                let bound = 1 / Double(max(fanIn, 1)).squareRoot()
                fill = { Float((random.nextUniform() * 2 - 1) * bound) }
            default:
                fill = { 0 }
            }
            tensors[name] = Tensor(shape: shape) { _ in fill() }
        }
        return tensors
    }
}

/// A small, fast, seedable generator (Steele et al.'s SplitMix64), so initial weights are the same on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal, by Box-Muller.
    public mutating func nextGaussian() -> Double {
        let u = max(nextUniform(), .leastNonzeroMagnitude)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * nextUniform())
    }
}
