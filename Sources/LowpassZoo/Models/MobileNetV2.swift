/// torchvision's MobileNetV2 (width 1.0): inverted residual blocks with ReLU6, linear bottlenecks.
extension GraphBuilder {
    /// Conv -> BN -> ReLU6 as `name.0`, `name.1`, `name.2` (torchvision's Conv2dNormActivation).
    mutating func convBNReLU6(_ name: String, _ x: String, _ out: Int, kernel: Int, stride: Int = 1, groups: Int = 1) -> String {
        let y = conv("\(name).0", x, out, kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups)
        return relu6("\(name).2", batchNorm("\(name).1", y))
    }

    mutating func mobilenetV2(classes: Int = 1000) {
        let settings: [(expand: Int, channels: Int, count: Int, stride: Int)] = [
            (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
        ]
        var x = convBNReLU6("features.0", "input", 32, kernel: 3, stride: 2)
        var index = 1
        for setting in settings {
            for i in 0..<setting.count {
                let name = "features.\(index).conv"
                let stride = i == 0 ? setting.stride : 1
                let inputChannels = channelCount(x)
                let hidden = inputChannels * setting.expand
                var y = x
                var layer = 0  // position in the block's `conv` Sequential
                if setting.expand != 1 {
                    y = convBNReLU6("\(name).\(layer)", y, hidden, kernel: 1)
                    layer += 1
                }
                y = convBNReLU6("\(name).\(layer)", y, hidden, kernel: 3, stride: stride, groups: hidden)
                y = conv("\(name).\(layer + 1)", y, setting.channels, kernel: 1)
                y = batchNorm("\(name).\(layer + 2)", y)
                x = stride == 1 && inputChannels == setting.channels ? sum("features.\(index).add", x, y) : y
                index += 1
            }
        }
        x = convBNReLU6("features.18", x, 1280, kernel: 1)
        x = flatten("flatten", globalAveragePool("avgpool", x))
        output(linear("classifier.1", dropout("classifier.0", x, ratio: 0.2), classes))
    }
}
