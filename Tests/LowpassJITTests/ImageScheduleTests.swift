import LowpassIR
import LowpassJIT
import LowpassTensor
import Testing

/// Early kernels run image by image, their inner buffers holding one image at a time: the results
/// must be the whole batch's, whatever ends the image-by-image prefix.
@Suite("JIT image-by-image schedule")
struct ImageScheduleTests {
    /// conv+relu -> maxpool+blur -> conv+add+relu (its residual the blur's output, also a graph output),
    /// then `tail`; the parameters go with it.
    func graph(batch: Int, tail: [Node], tailParameters: [(String, Tensor)]) -> (Graph, Weights, [String: Tensor]) {
        let parameters = [("wa", randomTensor([16, 8, 3, 3], seed: 70)), ("ba", randomTensor([16], seed: 71)),
                          ("wb", randomTensor([16, 16, 3, 3], seed: 72)), ("bb", randomTensor([16], seed: 73))] + tailParameters
        let pads: Attributes = ["pads": .ints([1, 1, 1, 1])]
        let nodes = [
            Node(name: "conv_a", op: .conv, inputs: ["x", "wa", "ba"], outputs: ["a"], attributes: pads),
            Node(name: "relu_a", op: .relu, inputs: ["a"], outputs: ["ra"]),
            Node(name: "pool", op: .maxPool, inputs: ["ra"], outputs: ["p"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])]),
            Node(name: "blur", op: .blurPool, inputs: ["p"], outputs: ["mid"], attributes: ["filter_size": .int(3), "strides": .ints([2, 2])]),
            Node(name: "conv_b", op: .conv, inputs: ["mid", "wb", "bb"], outputs: ["b"], attributes: pads),
            Node(name: "add", op: .add, inputs: ["b", "mid"], outputs: ["s"]),
            Node(name: "relu_b", op: .relu, inputs: ["s"], outputs: ["rb"]),
        ] + tail
        let graph = Graph(name: "schedule", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [batch, 8, 13, 12]))], outputs: ["mid", "y"],
                          parameters: parameters.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1.shape)) }, nodes: nodes)
        return (graph, Weights(tensors: Dictionary(uniqueKeysWithValues: parameters)), ["x": randomTensor([batch, 8, 13, 12], seed: 74)])
    }

    @Test(arguments: [1, 3])
    func endsAtAKernelThatMixesImages(batch: Int) throws {
        let (graph, weights, inputs) = graph(batch: batch, tail: [Node(name: "gap", op: .globalAveragePool, inputs: ["rb"], outputs: ["y"])], tailParameters: [])
        for model in try expectMatchesReference(graph, weights, inputs: inputs) {
            // Families and fusions; the register tile in brackets depends on the vector width.
            #expect(model.kernels.map { $0.kind.split(separator: " [").first.map(String.init) } == ["conv3x3+relu", "maxblurpool M=3 s=2 reflect",
                                                                                                  "conv3x3+add+relu", "globalavgpool"])
            #expect(model.imageByImage.kernels == (batch > 1 ? 0..<3 : 0..<0))
            #expect(model.imageByImage.images == batch)
        }
    }

    /// A conv whose weights (2.1 MB) are better read once for the whole batch ends the prefix.
    @Test func endsAtLargeWeights() throws {
        let big = randomTensor([3700, 16, 3, 3], seed: 75)
        let tail = [Node(name: "conv_c", op: .conv, inputs: ["rb", "wc"], outputs: ["y"], attributes: ["pads": .ints([1, 1, 1, 1])])]
        let (graph, weights, inputs) = graph(batch: 2, tail: tail, tailParameters: [("wc", big)])
        for model in try expectMatchesReference(graph, weights, inputs: inputs) {
            #expect(model.kernels.count == 4)
            #expect(model.imageByImage.kernels == 0..<3, "\(model.target)")
        }
    }
}
