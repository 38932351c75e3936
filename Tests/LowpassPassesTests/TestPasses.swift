import LowpassIR
import LowpassPasses

/// A pass with one option of every kind, for option-parsing tests. It changes nothing.
struct KitchenSinkPass: Pass {
    static let name = "kitchen-sink"
    static let summary = "test pass with options of every kind"
    static let options: [PassOption] = [
        PassOption("filter", .int(1...64), default: .int(4), help: "an int in range"),
        PassOption("scale", .float, default: .float(1), help: "a float"),
        PassOption("enabled", .bool, default: .bool(true), help: "a bool"),
        PassOption("pad", .choice(["reflect", "replicate", "zero"]), default: .string("reflect"), help: "a choice"),
        PassOption("exclude", .string, default: .string(""), help: "a string"),
    ]
    let options: PassOptions
    init(options: PassOptions) { self.options = options }
    func run(on graph: inout Graph, context: inout PassContext) -> Bool { false }
}

/// A pass that leaves a dangling reference: verify-each must name it.
struct BreakerPass: Pass {
    static let name = "breaker"
    static let summary = "test pass that breaks the graph"
    init(options: PassOptions) {}
    func run(on graph: inout Graph, context: inout PassContext) -> Bool {
        graph.nodes[0].inputs[0] = "no-such-value"
        return true
    }
}

/// A pass that renames the first node: a visible, harmless change.
struct RenamePass: Pass {
    static let name = "rename-first"
    static let summary = "test pass that renames the first node"
    init(options: PassOptions) {}
    func run(on graph: inout Graph, context: inout PassContext) -> Bool {
        graph.nodes[0].name += "_renamed"
        return true
    }
}

enum TestPlugin: PassPlugin {
    static let name = "Test"
    static func register(into registry: inout PassRegistry) {
        registry.register(KitchenSinkPass.self, plugin: name)
        registry.register(BreakerPass.self, plugin: name)
        registry.register(RenamePass.self, plugin: name)
    }
}
