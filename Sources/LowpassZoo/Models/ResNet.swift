/// torchvision's ResNet family: ResNet, ResNeXt and Wide ResNet share one builder.
struct ResNetSpec {
    enum Block { case basic, bottleneck }
    var block: Block
    var layers: [Int]
    var groups = 1
    var widthPerGroup = 64

    var expansion: Int { block == .basic ? 1 : 4 }
}

extension GraphBuilder {
    /// torchvision.models.resnet.ResNet: 7x7 stem, max pool, four stages, global pool, fc.
    mutating func resnet(_ spec: ResNetSpec, classes: Int = 1000) {
        var x = conv("conv1", "input", 64, kernel: 7, stride: 2, padding: 3)
        x = batchNorm("bn1", x)
        x = relu("relu", x)
        x = maxPool("maxpool", x, kernel: 3, stride: 2, padding: 1)
        var inplanes = 64
        for (stage, blocks) in spec.layers.enumerated() {
            let planes = 64 << stage
            for index in 0..<blocks {
                let stride = stage > 0 && index == 0 ? 2 : 1
                let name = "layer\(stage + 1).\(index)"
                let needsProjection = stride != 1 || inplanes != planes * spec.expansion
                x = spec.block == .basic
                    ? basicBlock(name, x, planes: planes, stride: stride, projection: needsProjection)
                    : bottleneck(name, x, planes: planes, stride: stride, projection: needsProjection, spec: spec)
                inplanes = planes * spec.expansion
            }
        }
        x = globalAveragePool("avgpool", x)
        x = flatten("flatten", x)
        output(linear("fc", x, classes))
    }

    /// The shortcut of a block: the input itself, or `downsample.0` (1x1 conv, carrying the stride) and `downsample.1` (BN).
    mutating func shortcut(_ name: String, _ x: String, _ out: Int, stride: Int, projection: Bool) -> String {
        guard projection else { return x }
        return batchNorm("\(name).downsample.1", conv("\(name).downsample.0", x, out, kernel: 1, stride: stride))
    }

    mutating func basicBlock(_ name: String, _ x: String, planes: Int, stride: Int, projection: Bool) -> String {
        var y = conv("\(name).conv1", x, planes, kernel: 3, stride: stride, padding: 1)
        y = relu("\(name).relu", batchNorm("\(name).bn1", y))
        y = batchNorm("\(name).bn2", conv("\(name).conv2", y, planes, kernel: 3, padding: 1))
        let identity = shortcut(name, x, planes, stride: stride, projection: projection)
        return relu("\(name).relu", sum("\(name).add", y, identity))
    }

    mutating func bottleneck(_ name: String, _ x: String, planes: Int, stride: Int, projection: Bool, spec: ResNetSpec) -> String {
        let width = planes * spec.widthPerGroup / 64 * spec.groups
        var y = relu("\(name).relu", batchNorm("\(name).bn1", conv("\(name).conv1", x, width, kernel: 1)))
        y = conv("\(name).conv2", y, width, kernel: 3, stride: stride, padding: 1, groups: spec.groups)
        y = relu("\(name).relu", batchNorm("\(name).bn2", y))
        y = batchNorm("\(name).bn3", conv("\(name).conv3", y, planes * 4, kernel: 1))
        let identity = shortcut(name, x, planes * 4, stride: stride, projection: projection)
        return relu("\(name).relu", sum("\(name).add", y, identity))
    }
}
