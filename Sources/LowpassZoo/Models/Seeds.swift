/// The small MNIST networks of the seed documents (../shared/seeds), with the module names of their code.
extension GraphBuilder {
    /// `AntialiasNet` (shift-invariant-notes): two conv pairs, each followed by a `Downsample`
    /// (BlurPool, filter 3, reflect), then AdaptiveAvgPool2d(7) and a 3-layer classifier.
    mutating func seedAntialiasNet() {
        var x = "input"
        for (index, width) in [(0, 32), (3, 64), (7, 128), (10, 256)] {
            x = relu("net.\(index + 2)", batchNorm("net.\(index + 1)", conv("net.\(index)", x, width, kernel: 3, bias: true)))
            if index == 3 || index == 10 { x = blurPool("net.\(index + 3)", x, filterSize: 3) }
        }
        x = add(.adaptiveAveragePool, "avg_pool", [x], ["output_size": .ints([7, 7])])
        x = flatten("flatten", x)
        x = dropout("classifier.2", relu("classifier.1", linear("classifier.0", x, 4096)))
        x = dropout("classifier.5", relu("classifier.4", linear("classifier.3", x, 4096)))
        output(linear("classifier.6", x, 10))
    }

    /// The ACNet notes' plain `Net` (asymmetric: false) or its `ACNet` (true), where every 3x3 conv is
    /// an `ACConv2d`: 3x3, 1x3 and 3x1 convs on the same input, summed and divided by 3.
    mutating func seedMNISTNet(asymmetric: Bool) {
        var x = "input"
        let third = asymmetric ? constant("one_third", [1.0 / 3.0]) : ""
        for (index, width) in [(0, 32), (3, 32), (7, 64), (10, 64)] {
            let name = "features.\(index)"
            if asymmetric {
                let square = conv("\(name).conv", x, width, kernel: 3, padding: 1, bias: true)
                let row = conv("\(name).ac1", x, width, kernel: (1, 3), padding: (0, 1), bias: true)
                let column = conv("\(name).ac2", x, width, kernel: (3, 1), padding: (1, 0), bias: true)
                x = product("\(name).scale", sum("\(name).sum", sum("\(name).sum", row, column), square), third)
            } else {
                x = conv(name, x, width, kernel: 3, padding: 1, bias: true)
            }
            x = relu("features.\(index + 2)", batchNorm("features.\(index + 1)", x))
            if index == 3 || index == 10 { x = maxPool("features.\(index + 3)", x, kernel: 2, stride: 2) }
        }
        x = flatten("flatten", x)
        for (index, width) in [(0, 512), (4, 512)] {
            x = linear("classifier.\(index + 1)", dropout("classifier.\(index)", x), width)
            x = relu("classifier.\(index + 3)", batchNorm("classifier.\(index + 2)", x))
        }
        output(linear("classifier.9", dropout("classifier.8", x), 10))
    }
}
