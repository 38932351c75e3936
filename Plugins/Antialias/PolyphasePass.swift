import LowpassIR
import LowpassPasses

/// Truly shift-invariant downsampling (Chaman & Dokmanic, CVPR 2021): every strided MaxPool, Conv,
/// AveragePool and BlurPool runs at stride 1 and adaptive polyphase sampling subsamples, keeping per sample the
/// polyphase component with the largest norm; a residual block's shortcut keeps the component its main
/// path chose. With `pad=circular` (the default) every padded conv and pool pads circularly, and the
/// network's output is then exactly invariant to circular shifts of its input wherever each subsampled
/// map is a whole number of strides.
///
///     Before: %c = Conv(x, w) {strides=[2,2], pads=[1,1,1,1]}; %b = BatchNormalization(c, ...); %r = Relu(b)
///     After:  %c.pad = Pad(x) {mode="wrap", pads=[0,0,1,1,0,0,1,1]}; %c = Conv(c.pad, w); %b = ...; %r.unsampled = Relu(b)
///             %c.aps = PolyphaseIndex(r.unsampled); %r = PolyphaseSelect(r.unsampled, c.aps)
///
///     Before: %s = Conv(x, w1x1) {strides=[2,2]}; %n = BatchNormalization(s, ...); %o = Add(n, main)
///     After:  %s.select = PolyphaseSelect(x, c.aps); %s = Conv(s.select, w1x1); ...    (c.aps: the main path's choice)
public struct AdaptivePolyphaseSampling: Pass {
    public static let name = "aps"
    public static let summary = "adaptive polyphase sampling at every strided MaxPool, Conv, AveragePool and BlurPool, circular padding: exactly invariant to circular shifts (Chaman & Dokmanic 2021); weights unchanged, fine-tune"
    public static let options: [PassOption] = [
        PassOption("norm", .choice(PolyphaseNorm.allCases.map(\.rawValue)), default: .string("l2"),
                   help: "the component kept is the one with the largest l2 (or l1) norm over all channels"),
        PassOption("filter", .int(1...64), default: .int(1), help: "binomial blur of size M before choosing (1 = none; APS + LPF in the paper with 3 or more)"),
        PassOption("pad", .choice(["circular", "keep"]), default: .string("circular"),
                   help: "circular: every padded conv and pool pads circularly (needed for exact invariance); keep: their padding stays"),
        PassOption("stem", .choice(["include", "keep"]), default: .string("include"),
                   help: "strided convs reading a map of the graph input's size: rewrite them too (needed for exact invariance) or keep them strided"),
    ] + NodeSelection.options

    let settings: PolyphaseSettings

    public init(options: PassOptions) {
        settings = PolyphaseSettings(options)
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        var rewriter: PolyphaseRewriter
        do {
            rewriter = try PolyphaseRewriter(graph: graph, settings: settings)
        } catch {
            throw PassError(pass: Self.name, "the input graph does not verify: \(error.items.first?.description ?? "")")
        }
        if settings.norm == .l1 && settings.filter > 1 {
            // Even and odd taps of a binomial filter sum alike, so on a non-negative map (after ReLU)
            // every component of the blurred map has the same l1 norm.
            context.remarks.append(Diagnostic(.apsTies, "norm=l1 after a blur ties on non-negative maps (every polyphase component has the same sum), so rounding decides; use norm=l2",
                                              severity: .warning))
        }
        try rewriter.rewriteDownsamplers()
        if settings.circular { try rewriter.padCircularly() }
        rewriter.graph.settleOrder()
        let rewritten = rewriter.graph
        let after = try verifyOutputsKept(rewritten, outputs: graph.outputs, types: rewriter.types, pass: Self.name)
        guard rewritten != graph else {
            context.remark("nothing to rewrite: no strided MaxPool, AveragePool or Conv (and no padding to make circular); the graph is unchanged")
            return false
        }
        context.report = renderRewriteReport(rewriter.rows, macsBefore: rewriter.before.totalMultiplyAdds, macsAfter: after.totalMultiplyAdds)
        context.remarks += rewriter.remarks
        context.remark("the rewritten graph carries the original weights unchanged; fine-tune it before trusting its accuracy", id: .fineTune)
        graph = rewritten
        return true
    }
}

/// The pass's options, typed.
struct PolyphaseSettings: Sendable {
    var norm: PolyphaseNorm
    var filter: Int
    var circular: Bool
    var includeStem: Bool
    var selection: NodeSelection

    init(_ options: PassOptions) {
        norm = options.choice("norm", as: PolyphaseNorm.self) ?? .l2
        filter = options.int("filter")
        circular = options.string("pad") == "circular"
        includeStem = options.string("stem") == "include"
        selection = NodeSelection(options)
    }
}
