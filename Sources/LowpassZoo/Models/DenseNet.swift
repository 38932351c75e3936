/// torchvision's DenseNet: every layer of a dense block reads the concatenation of all earlier outputs.
struct DenseNetSpec {
    var growthRate: Int
    var blocks: [Int]
    var initialFeatures: Int
    var bottleneckSize = 4
}

extension GraphBuilder {
    mutating func densenet(_ spec: DenseNetSpec, classes: Int = 1000) {
        var x = conv("features.conv0", "input", spec.initialFeatures, kernel: 7, stride: 2, padding: 3)
        x = relu("features.relu0", batchNorm("features.norm0", x))
        x = maxPool("features.pool0", x, kernel: 3, stride: 2, padding: 1)
        for (blockIndex, layerCount) in spec.blocks.enumerated() {
            let block = "features.denseblock\(blockIndex + 1)"
            var features = [x]
            for layer in 1...layerCount {
                let name = "\(block).denselayer\(layer)"
                let input = features.count == 1 ? features[0] : concat("\(name).concat", features)
                var y = relu("\(name).relu1", batchNorm("\(name).norm1", input))
                y = conv("\(name).conv1", y, spec.bottleneckSize * spec.growthRate, kernel: 1)
                y = relu("\(name).relu2", batchNorm("\(name).norm2", y))
                features.append(conv("\(name).conv2", y, spec.growthRate, kernel: 3, padding: 1))
            }
            x = concat("\(block).concat", features)
            if blockIndex + 1 < spec.blocks.count {
                let transition = "features.transition\(blockIndex + 1)"
                let y = relu("\(transition).relu", batchNorm("\(transition).norm", x))
                x = avgPool("\(transition).pool", conv("\(transition).conv", y, channelCount(x) / 2, kernel: 1), kernel: 2, stride: 2)
            }
        }
        x = relu("relu", batchNorm("features.norm5", x))
        x = flatten("flatten", globalAveragePool("avgpool", x))
        output(linear("classifier", x, classes))
    }
}
