import LowpassIR

/// One model of the zoo: where its architecture comes from, its native input, and how to build it.
public struct ZooModel: Sendable {
    public enum Source: String, Sendable { case torchvision, timm, seed }

    public var name: String
    public var source: Source
    /// The Python expression that builds the reference model.
    public var reference: String
    /// [channels, height, width].
    public var inputSize: [Int]
    let build: @Sendable (inout GraphBuilder) -> Void

    /// The graph, structure only: parameters are declared, with the reference's `state_dict()` names.
    /// `height` and `width` override the native input size (fully convolutional models only: VGG and
    /// AlexNet need theirs for the classifier).
    public func graph(height: Int? = nil, width: Int? = nil) -> Graph {
        let size = [inputSize[0], height ?? inputSize[1], width ?? inputSize[2]]
        var builder = GraphBuilder(name: name, channels: size[0], height: size[1], width: size[2], metadata: [
            "source": source.rawValue, "reference": reference,
            "input_size": size.map(String.init).joined(separator: "x"),
        ])
        build(&builder)
        return builder.graph
    }
}

/// Every model Lowpass ships in Graphs/, built by code so that the files can be regenerated and checked.
public enum Zoo {
    static func torchvision(_ name: String, _ build: @escaping @Sendable (inout GraphBuilder) -> Void) -> ZooModel {
        ZooModel(name: name, source: .torchvision, reference: "torchvision.models.\(name)()", inputSize: [3, 224, 224], build: build)
    }

    static func resnet(_ name: String, _ spec: ResNetSpec) -> ZooModel { torchvision(name) { $0.resnet(spec) } }

    static func resnetRS(_ depth: Int, size: Int) -> ZooModel {
        ZooModel(name: "resnetrs\(depth)", source: .timm, reference: "timm.create_model(\"resnetrs\(depth)\")",
                 inputSize: [3, size, size]) { $0.resnetRS(depth: depth) }
    }

    static func seed(_ name: String, _ reference: String, _ build: @escaping @Sendable (inout GraphBuilder) -> Void) -> ZooModel {
        ZooModel(name: name, source: .seed, reference: reference, inputSize: [1, 28, 28], build: build)
    }

    public static let models: [ZooModel] = [
        torchvision("alexnet") { $0.alexnet() },
    ] + [11, 13, 16, 19].flatMap { depth in
        [torchvision("vgg\(depth)") { $0.vgg(depth: depth, batchNorm: false) },
         torchvision("vgg\(depth)_bn") { $0.vgg(depth: depth, batchNorm: true) }]
    } + [
        resnet("resnet18", ResNetSpec(block: .basic, layers: [2, 2, 2, 2])),
        resnet("resnet34", ResNetSpec(block: .basic, layers: [3, 4, 6, 3])),
        resnet("resnet50", ResNetSpec(block: .bottleneck, layers: [3, 4, 6, 3])),
        resnet("resnet101", ResNetSpec(block: .bottleneck, layers: [3, 4, 23, 3])),
        resnet("resnet152", ResNetSpec(block: .bottleneck, layers: [3, 8, 36, 3])),
        resnet("resnext50_32x4d", ResNetSpec(block: .bottleneck, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4)),
        resnet("resnext101_32x8d", ResNetSpec(block: .bottleneck, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8)),
        resnet("wide_resnet50_2", ResNetSpec(block: .bottleneck, layers: [3, 4, 6, 3], widthPerGroup: 128)),
        resnet("wide_resnet101_2", ResNetSpec(block: .bottleneck, layers: [3, 4, 23, 3], widthPerGroup: 128)),
        torchvision("densenet121") { $0.densenet(DenseNetSpec(growthRate: 32, blocks: [6, 12, 24, 16], initialFeatures: 64)) },
        torchvision("densenet161") { $0.densenet(DenseNetSpec(growthRate: 48, blocks: [6, 12, 36, 24], initialFeatures: 96)) },
        torchvision("densenet169") { $0.densenet(DenseNetSpec(growthRate: 32, blocks: [6, 12, 32, 32], initialFeatures: 64)) },
        torchvision("densenet201") { $0.densenet(DenseNetSpec(growthRate: 32, blocks: [6, 12, 48, 32], initialFeatures: 64)) },
        torchvision("mobilenet_v2") { $0.mobilenetV2() },
        resnetRS(50, size: 160), resnetRS(101, size: 192), resnetRS(152, size: 256), resnetRS(200, size: 256),
        resnetRS(270, size: 256), resnetRS(350, size: 288), resnetRS(420, size: 320),
        seed("seed-antialias-net", "AntialiasNet() in seeds/shift-invariant-notes.zh.txt") { $0.seedAntialiasNet() },
        seed("seed-mnist-net", "Net() in seeds/acnet-notes.zh.txt") { $0.seedMNISTNet(asymmetric: false) },
        seed("seed-acnet", "ACNet() in seeds/acnet-notes.zh.txt") { $0.seedMNISTNet(asymmetric: true) },
    ]

    public static func model(named name: String) -> ZooModel? { models.first { $0.name == name } }
}
