import LowpassIR

/// Writes a graph as a self-contained PyTorch module (`lowpass export MODEL -o model.py`), the way
/// back to training: one `nn.Module` class whose `state_dict()` keys are the graph's parameter names,
/// so the graph's weights load with `load_state_dict`, and a `forward` of one line per node.
///
/// Parameters named like a PyTorch layer's (`P.weight`, `P.bias`, `P.running_mean`, ...) become that
/// layer (`nn.Conv2d`, `nn.BatchNorm2d`, `nn.Linear`, ...) at path `P`, so BatchNorm keeps its running
/// statistics in training and `state_dict` keys equal torchvision's; any other parameter is registered
/// under its own name and used through `torch.nn.functional`. Dotted names nest: `layer1.0.conv1` is
/// `self.layer1[0].conv1`. BlurPool is a small module whose filter is a non-persistent buffer, so the
/// rewritten model has exactly the original's keys.
public enum PyTorchExporter {
    /// The Python source of the module. `className` defaults to the graph's name in CamelCase;
    /// `weightsFile` is the name the module's docstring loads the weights from.
    public static func export(_ graph: Graph, className: String? = nil, weightsFile: String? = nil) throws(Diagnostics) -> String {
        let verified = try graph.verify()
        var writer = ModuleWriter(graph: graph, types: verified.types)
        var findings: [Diagnostic] = []
        for index in verified.order {
            let node = graph.nodes[index]
            do throws(NodeError) {
                try writer.translate(node)
            } catch {
                findings.append(Diagnostic(error.id, error.message, at: .node(node.name)))
            }
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        do throws(NodeError) {
            return try writer.source(className: className ?? PythonName.className(graph.name), graphName: graph.name,
                                     weightsFile: weightsFile ?? "WEIGHTS.safetensors")
        } catch {
            throw Diagnostics([Diagnostic(error.id, error.message)])
        }
    }
}

extension PyTorchExporter {
    /// Whether `name` can name the module's class: a Python identifier that is not a keyword.
    public static func isValidClassName(_ name: String) -> Bool { PythonName.isIdentifier(name) }
}

/// Python spellings: identifiers for values and classes, literals for numbers and lists.
enum PythonName {
    static let keywords: Set<String> = ["False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
                                        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
                                        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
                                        "return", "try", "while", "with", "yield", "match", "case", "type"]

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
            && !keywords.contains(s)
    }

    static func identifier(_ name: String) -> String {
        var s = String(String.UnicodeScalarView(name.unicodeScalars.map { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) ? scalar : "_"
        }))
        if s.first?.isNumber ?? true { s = "v_" + s }
        return keywords.contains(s) ? s + "_" : s
    }

    static func className(_ graphName: String) -> String {
        let words = identifier(graphName).split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }
        let name = words.joined()
        return name.first?.isNumber ?? true ? "Model" + name : name
    }

    static func string(_ s: String) -> String { JSONValue.quote(s) }

    /// A float as Python reads it back exactly.
    static func float(_ x: Double) -> String {
        if x.isNaN { return "float(\"nan\")" }
        if x.isInfinite { return x > 0 ? "float(\"inf\")" : "float(\"-inf\")" }
        return x == x.rounded() && abs(x) < 1e15 ? "\(Int(x)).0" : "\(x)"
    }

    static func ints(_ v: [Int]) -> String { "[" + v.map(String.init).joined(separator: ", ") + "]" }
    static func tuple(_ v: [Int]) -> String { v.count == 1 ? "(\(v[0]),)" : "(" + v.map(String.init).joined(separator: ", ") + ")" }
}

/// Nested names of modules, parameters and buffers, and the `__init__` that builds them.
struct ModuleTree {
    enum Entry {
        /// A torch layer built by `constructor`, e.g. `nn.Conv2d(64, 64, (3, 3), ...)`.
        case layer(constructor: String)
        /// A tensor registered under its own name.
        case tensor(shape: [Int], inline: [Float]?, buffer: Bool)
    }

    /// Entries in the order they were added, by dotted path.
    private(set) var entries: [(path: String, entry: Entry)] = []
    private var paths: Set<String> = []

    static let moduleAttributes: Set<String> = [
        "training", "forward", "add_module", "apply", "bfloat16", "buffers", "children", "compile", "cpu", "cuda", "double",
        "dump_patches", "eval", "extra_repr", "float", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half",
        "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters",
        "parameters", "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
        "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
        "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict",
        "to", "to_empty", "train", "type", "xpu", "zero_grad", "call_super_init", "T_destination",
    ]

    /// Whether `path` can hold an entry: its parts are non-empty names PyTorch accepts for a child.
    static func isValid(_ path: String) -> Bool {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { !$0.isEmpty && !moduleAttributes.contains(String($0)) }
    }

    func contains(_ path: String) -> Bool { paths.contains(path) }

    mutating func add(_ path: String, _ entry: Entry) throws(NodeError) {
        guard Self.isValid(path) else {
            throw NodeError(.unsupportedExport, "'\(path)' cannot be a name in a PyTorch module (an empty part, or a name every nn.Module already has)")
        }
        guard paths.insert(path).inserted else { throw NodeError(.unsupportedExport, "'\(path)' is used twice") }
        entries.append((path, entry))
    }

    /// The Python expression for the module or tensor at `path`: `self.layer1[0].conv1`.
    static func access(_ path: String) -> String {
        var expression = "self"
        for part in path.split(separator: ".").map(String.init) {
            if PythonName.isIdentifier(part) {
                expression += "." + part
            } else if let index = Int(part), String(index) == part {
                expression += "[\(index)]"
            } else {
                expression += "[\(PythonName.string(part))]"
            }
        }
        return expression
    }

    /// The `__init__` body: containers first as they are needed, then each entry.
    func initializer() throws(NodeError) -> [String] {
        let layers = Set(entries.compactMap { if case .layer = $0.entry { $0.path } else { nil } })
        let tensors = Set(entries.compactMap { if case .tensor = $0.entry { $0.path } else { nil } })
        var containers: Set<String> = []
        var lines: [String] = []
        for (path, entry) in entries {
            let parts = path.split(separator: ".").map(String.init)
            for depth in 1..<max(parts.count, 1) {
                let prefix = parts[..<depth].joined(separator: ".")
                if layers.contains(prefix) || tensors.contains(prefix) {
                    throw NodeError(.unsupportedExport, "'\(path)' would be inside '\(prefix)', which is a \(tensors.contains(prefix) ? "tensor" : "layer")")
                }
                if containers.insert(prefix).inserted { lines.append(Self.assignment(prefix, "Container()")) }
            }
            switch entry {
            case .layer(let constructor):
                lines.append(Self.assignment(path, constructor))
            case .tensor(let shape, let inline, let buffer):
                let parent = parts.count > 1 ? Self.access(parts.dropLast().joined(separator: ".")) : "self"
                var data = "torch.zeros(\(PythonName.tuple(shape)))"
                if let inline {
                    data = "torch.tensor([\(inline.map { PythonName.float(Double($0)) }.joined(separator: ", "))]).reshape(\(PythonName.tuple(shape)))"
                }
                let name = PythonName.string(parts[parts.count - 1])
                lines.append(buffer ? "\(parent).register_buffer(\(name), \(data))" : "\(parent).register_parameter(\(name), nn.Parameter(\(data)))")
            }
        }
        return lines
    }

    private static func assignment(_ path: String, _ value: String) -> String {
        let parts = path.split(separator: ".").map(String.init)
        let parent = parts.count > 1 ? access(parts.dropLast().joined(separator: ".")) : "self"
        let name = parts[parts.count - 1]
        return PythonName.isIdentifier(name) ? "\(parent).\(name) = \(value)" : "\(parent).add_module(\(PythonName.string(name)), \(value))"
    }
}
