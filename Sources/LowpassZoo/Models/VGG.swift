/// torchvision's VGG (with and without BN) and AlexNet. Their adaptive average pools (7x7 and 6x6)
/// are identities at the native 224x224 input and are left out.
extension GraphBuilder {
    /// A VGG configuration: channel counts, with 0 for a 2x2 max pool.
    static let vggConfigurations: [Int: [Int]] = [
        11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    ]

    mutating func vgg(depth: Int, batchNorm useBN: Bool, classes: Int = 1000) {
        var x = "input"
        var index = 0  // the position in torchvision's `features` Sequential
        for width in Self.vggConfigurations[depth] ?? [] {
            if width == 0 {
                x = maxPool("features.\(index)", x, kernel: 2, stride: 2)
                index += 1
                continue
            }
            x = conv("features.\(index)", x, width, kernel: 3, padding: 1, bias: true)
            if useBN {
                x = batchNorm("features.\(index + 1)", x)
                index += 1
            }
            x = relu("features.\(index + 1)", x)
            index += 2
        }
        x = flatten("flatten", x)
        x = dropout("classifier.2", relu("classifier.1", linear("classifier.0", x, 4096)))
        x = dropout("classifier.5", relu("classifier.4", linear("classifier.3", x, 4096)))
        output(linear("classifier.6", x, classes))
    }

    mutating func alexnet(classes: Int = 1000) {
        var x = relu("features.1", conv("features.0", "input", 64, kernel: 11, stride: 4, padding: 2, bias: true))
        x = maxPool("features.2", x, kernel: 3, stride: 2)
        x = relu("features.4", conv("features.3", x, 192, kernel: 5, padding: 2, bias: true))
        x = maxPool("features.5", x, kernel: 3, stride: 2)
        x = relu("features.7", conv("features.6", x, 384, kernel: 3, padding: 1, bias: true))
        x = relu("features.9", conv("features.8", x, 256, kernel: 3, padding: 1, bias: true))
        x = relu("features.11", conv("features.10", x, 256, kernel: 3, padding: 1, bias: true))
        x = maxPool("features.12", x, kernel: 3, stride: 2)
        x = flatten("flatten", x)
        x = relu("classifier.2", linear("classifier.1", dropout("classifier.0", x), 4096))
        x = relu("classifier.5", linear("classifier.4", dropout("classifier.3", x), 4096))
        output(linear("classifier.6", x, classes))
    }
}
