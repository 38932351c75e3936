/// ResNet-RS (Bello et al., 2021) with timm's module and parameter names (`timm.create_model("resnetrs50")`):
/// a deep 3x3 stem whose max pool is replaced by a strided conv, bottlenecks with squeeze-and-excitation,
/// ResNet-D shortcuts (2x2 average pool, then a 1x1 conv), dropout 0.25 before the classifier.
extension GraphBuilder {
    static let resnetRSLayers: [Int: [Int]] = [
        50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3], 200: [3, 24, 36, 3],
        270: [4, 29, 53, 4], 350: [4, 36, 72, 4], 420: [4, 44, 87, 4],
    ]

    mutating func resnetRS(depth: Int, classes: Int = 1000) {
        var x = relu("conv1.2", batchNorm("conv1.1", conv("conv1.0", "input", 32, kernel: 3, stride: 2, padding: 1)))
        x = relu("conv1.5", batchNorm("conv1.4", conv("conv1.3", x, 32, kernel: 3, padding: 1)))
        x = conv("conv1.6", x, 64, kernel: 3, padding: 1)
        x = relu("act1", batchNorm("bn1", x))
        x = relu("maxpool.2", batchNorm("maxpool.1", conv("maxpool.0", x, 64, kernel: 3, stride: 2, padding: 1)))
        for (stage, blocks) in (Self.resnetRSLayers[depth] ?? []).enumerated() {
            let planes = 64 << stage
            for index in 0..<blocks {
                x = resnetRSBlock("layer\(stage + 1).\(index)", x, planes: planes, stride: stage > 0 && index == 0 ? 2 : 1, first: index == 0)
            }
        }
        x = flatten("global_pool.flatten", globalAveragePool("global_pool.pool", x))
        output(linear("fc", dropout("head_drop", x, ratio: 0.25), classes))
    }

    mutating func resnetRSBlock(_ name: String, _ x: String, planes: Int, stride: Int, first: Bool) -> String {
        var y = relu("\(name).act1", batchNorm("\(name).bn1", conv("\(name).conv1", x, planes, kernel: 1)))
        y = relu("\(name).act2", batchNorm("\(name).bn2", conv("\(name).conv2", y, planes, kernel: 3, stride: stride, padding: 1)))
        y = batchNorm("\(name).bn3", conv("\(name).conv3", y, planes * 4, kernel: 1))
        // Squeeze-and-excitation: timm's SEModule, both 1x1 convs with bias, reduction 4.
        var gate = globalAveragePool("\(name).se.pool", y)
        gate = relu("\(name).se.act", conv("\(name).se.fc1", gate, planes, kernel: 1, bias: true))
        gate = sigmoid("\(name).se.gate", conv("\(name).se.fc2", gate, planes * 4, kernel: 1, bias: true))
        y = product("\(name).se.scale", y, gate)
        var shortcut = x
        if first {
            if stride != 1 {
                shortcut = avgPool("\(name).downsample.0", shortcut, kernel: 2, stride: stride, ceilMode: true, countIncludePad: false)
            }
            shortcut = batchNorm("\(name).downsample.2", conv("\(name).downsample.1", shortcut, planes * 4, kernel: 1))
        }
        return relu("\(name).act3", sum("\(name).add", y, shortcut))
    }
}
