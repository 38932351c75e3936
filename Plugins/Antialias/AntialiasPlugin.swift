import LowpassIR
import LowpassPasses

/// Antialiased downsampling (Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019).
public enum AntialiasPlugin: PassPlugin {
    public static let name = "Antialias"

    public static func register(into registry: inout PassRegistry) {
        registry.register(Antialias.self, plugin: name)
        registry.register(AdaptivePolyphaseSampling.self, plugin: name)
    }
}

/// Blurs before every strided subsampling, so that a shift of the input no longer aliases:
/// strided MaxPool, Conv and AveragePool become their antialiased forms with a `BlurPool` doing the
/// subsampling. Parameters are never touched: the result carries the original weights, and (as the
/// reference warns) should be fine-tuned before its accuracy is trusted.
///
///     Before: %m = MaxPool(x) {kernel_shape=[3,3], pads=[1,1,1,1], strides=[2,2]}
///     After:  %m = MaxPool(x) {kernel_shape=[3,3], pads=[1,1,1,1]}; %m.blur = BlurPool(m) {filter_size=4}
///
///     Before: %c = Conv(x, w) {strides=[2,2]}; %b = BatchNormalization(c, ...); %r = Relu(b)
///     After:  %c = Conv(x, w); %b = BatchNormalization(c, ...); %r = Relu(b); %c.blur = BlurPool(r)
///
///     Before: %s = Conv(x, w1x1) {strides=[2,2]}; %n = BatchNormalization(s, ...)       (no activation)
///     After:  %s.blur = BlurPool(x); %s = Conv(s.blur, w1x1); %n = BatchNormalization(s, ...)
///
///     Before: %p = AveragePool(x) {kernel_shape=[2,2], strides=[2,2]}
///     After:  %p = BlurPool(x) {filter_size=4}
///
/// Reproducing antialiased_cnns 0.3 (filter_size=4): the defaults give its ResNet-family, VGG, DenseNet
/// and MobileNetV2 models, except that ResNet's stem max pool needs `max-pool-kernel=2`, and AlexNet
/// (pool_only=False there) needs `stem=include,large-stride=split`.
public struct Antialias: Pass {
    public static let name = "antialias"
    public static let summary = "blur before every strided MaxPool, Conv and AveragePool (Zhang 2019); weights are unchanged: fine-tune before trusting accuracy"
    public static let options: [PassOption] = [
        PassOption("filter", .int(1...64), default: .int(4), help: "binomial filter size M (1 = plain subsampling, 2 = box, 3 = [1,2,1], 4 = [1,3,3,1], ...)"),
        PassOption("pad", .choice(BlurPadMode.allCases.map(\.rawValue)), default: .string("reflect"), help: "how the blur pads the border (zero suits runtimes without reflect padding)"),
        PassOption("pad-off", .int(0...16), default: .int(0), help: "extra blur padding on every side (changes feature-map sizes)"),
        PassOption("stem", .choice(["keep", "include"]), default: .string("keep"),
                   help: "strided convs reading a map of the graph input's size: keep them (antialiased_cnns' pool_only=True) or antialias them too; pools are always antialiased"),
        PassOption("placement", .choice(["after", "before"]), default: .string("after"),
                   help: "after: blur after the conv's BN and activation, the conv at stride 1 (the reference); before: blur at stride 1 before the strided conv (MosaicML Composer; cheaper)"),
        PassOption("large-stride", .choice(["blur", "split"]), default: .string("blur"),
                   help: "a stride s > 2: blur with stride s after a stride-1 conv, or split it into a stride s/2 conv and a stride-2 blur (the reference's AlexNet)"),
        PassOption("max-pool-kernel", .int(0...32), default: .int(0),
                   help: "kernel of rewritten max pools, with padding 0; 0 keeps theirs (2 reproduces antialiased_cnns' ResNet stem)"),
        PassOption("small-maps", .choice(SmallMaps.allCases.map(\.rawValue)), default: .string("error"),
                   help: "when a map is too small for reflect padding: fail naming the node, pad by replication there, or leave that layer as it is"),
        PassOption("upsample", .choice(["keep", "blur"]), default: .string("keep"),
                   help: "upsampling Resize nodes: keep them, or blur their output at stride 1 (smooths nearest-neighbour copies; the reference's issues ask it for segmentation)"),
    ] + NodeSelection.options

    let settings: AntialiasSettings

    public init(options: PassOptions) {
        settings = AntialiasSettings(options)
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        var rewriter: DownsamplerRewriter
        do {
            rewriter = try DownsamplerRewriter(graph: graph, settings: settings)
        } catch {
            throw PassError(pass: Self.name, "the input graph does not verify: \(error.items.first?.description ?? "")")
        }
        let candidates = graph.nodes.filter { $0.isStridedDownsampler || settings.blurUpsampling && rewriter.isUpsampling($0) }.map(\.name)
        guard !candidates.isEmpty else {
            context.remark("nothing to antialias: no strided MaxPool, AveragePool or Conv; the graph is unchanged")
            return false
        }
        for name in candidates where settings.selection.selects(name) {
            try rewriter.rewrite(nodeNamed: name)
        }
        rewriter.graph.settleOrder()
        let rewritten = rewriter.graph
        let after = try verifyOutputsKept(rewritten, outputs: graph.outputs, types: rewriter.types, pass: Self.name)
        context.report = rewriter.reportTable(macsBefore: rewriter.before.totalMultiplyAdds, macsAfter: after.totalMultiplyAdds)
        context.remarks += rewriter.remarks
        let changed = rewritten != graph
        if changed {
            context.remark("the antialiased graph carries the original weights unchanged; fine-tune it before trusting its accuracy", id: .fineTune)
        }
        graph = rewritten
        return changed
    }
}

/// What to do where a map is too small to reflect-pad.
enum SmallMaps: String, Sendable, CaseIterable {
    case error, replicate, skip
}

/// The pass's options, typed.
struct AntialiasSettings: Sendable {
    var filter: Int
    var padMode: BlurPadMode
    var padOff: Int
    var includeStem: Bool
    var blurBeforeConv: Bool
    var splitLargeStrides: Bool
    var maxPoolKernel: Int
    var smallMaps: SmallMaps
    var selection: NodeSelection
    var blurUpsampling: Bool

    init(_ options: PassOptions) {
        filter = options.int("filter")
        padMode = options.choice("pad", as: BlurPadMode.self) ?? .reflect
        padOff = options.int("pad-off")
        includeStem = options.string("stem") == "include"
        blurBeforeConv = options.string("placement") == "before"
        splitLargeStrides = options.string("large-stride") == "split"
        maxPoolKernel = options.int("max-pool-kernel")
        smallMaps = options.choice("small-maps", as: SmallMaps.self) ?? .error
        selection = NodeSelection(options)
        blurUpsampling = options.string("upsample") == "blur"
    }

    var blurPads: [Int] { BlurPoolSpec.defaultPads(filterSize: filter, padOff: padOff) }
}
