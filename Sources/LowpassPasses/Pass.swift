import LowpassIR
import LowpassTensor

/// Something that rewrites a graph in place and says whether it changed anything.
public protocol GraphRewrite: Sendable {
    func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool
}

/// A graph-to-graph rewrite with a stable kebab-case name, a one-line summary and typed options:
/// what a plugin registers.
///
/// A pass is built from its options (so a bad option fails before anything runs) and then applied;
/// it reports whether it changed the graph. "Nothing to do" is not an error.
public protocol Pass: GraphRewrite {
    /// The name pipelines use, e.g. `fold-bn`.
    static var name: String { get }
    static var summary: String { get }
    static var options: [PassOption] { get }

    init(options: PassOptions) throws(PassError)
}

extension Pass {
    public static var options: [PassOption] { [] }
}

/// What a pass may read or report besides the graph.
public struct PassContext: Sendable {
    /// Remarks for the user: what was rewritten, what was skipped and why.
    public var remarks: [Diagnostic] = []
    /// A summary for people, such as a table of rewritten nodes: printed by `lowpass rewrite` and
    /// with the pass's `--print-after` output.
    public var report: String = ""
    /// The parameters' data, for passes that compute new weights (BN folding, branch fusion); nil
    /// when the graph came without a weight file. A pass that changes it sets `weightsChanged`.
    public var weights: [String: Tensor]?
    public var weightsChanged = false

    public init(weights: [String: Tensor]? = nil) { self.weights = weights }

    public mutating func remark(_ message: String, node: String? = nil, id: DiagnosticID = .remark) {
        remarks.append(Diagnostic(id, message, at: SourceLocation(node: node), severity: .note))
    }
}

/// A pass that could not do its job. It names the pass; the graph it was given is left as it was.
public struct PassError: Error, Sendable, CustomStringConvertible {
    public var pass: String
    public var message: String
    public var node: String?

    public init(pass: String, _ message: String, node: String? = nil) {
        self.pass = pass
        self.message = message
        self.node = node
    }

    public var description: String { "pass '\(pass)'" + (node.map { ": node '\($0)'" } ?? "") + ": \(message)" }
}

extension Graph {
    /// The pass contract: every pass refuses a graph that does not verify, naming itself and the first
    /// finding (the pass manager verifies before the first pass; a pass run on its own checks here).
    public func verified(for pass: String) throws(PassError) -> VerifiedGraph {
        do { return try verify() } catch {
            throw PassError(pass: pass, "the input graph does not verify: \(error.items.first?.description ?? "")")
        }
    }
}
