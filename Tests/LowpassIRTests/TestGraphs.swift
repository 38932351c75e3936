import LowpassIR

/// Small graphs built in code for IR tests.
enum TestGraphs {
    /// conv -> BN -> relu -> BlurPool -> global pool -> flatten -> gemm, batch symbolic.
    static func classifier(height: Int = 12, width: Int = 12) -> Graph {
        Graph(
            name: "classifier",
            metadata: ["source": "test"],
            inputs: [ValueInfo(name: "x", type: TensorType(.f32, [.symbol("N"), .fixed(3), .fixed(height), .fixed(width)]))],
            outputs: ["logits"],
            parameters: [
                Parameter(name: "conv.weight", type: TensorType(fixed: [8, 3, 3, 3])),
                Parameter(name: "bn.weight", type: TensorType(fixed: [8])),
                Parameter(name: "bn.bias", type: TensorType(fixed: [8])),
                Parameter(name: "bn.running_mean", type: TensorType(fixed: [8])),
                Parameter(name: "bn.running_var", type: TensorType(fixed: [8])),
                Parameter(name: "fc.weight", type: TensorType(fixed: [10, 8])),
                Parameter(name: "fc.bias", type: TensorType(fixed: [10])),
            ],
            nodes: [
                Node(name: "conv", op: .conv, inputs: ["x", "conv.weight"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                Node(name: "bn", op: .batchNormalization,
                     inputs: ["c", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], outputs: ["b"],
                     attributes: ["epsilon": .float(1e-3)]),
                Node(name: "relu", op: .relu, inputs: ["b"], outputs: ["r"]),
                Node(name: "blur", op: .blurPool, inputs: ["r"], outputs: ["d"], attributes: ["filter_size": .int(4)]),
                Node(name: "pool", op: .globalAveragePool, inputs: ["d"], outputs: ["p"]),
                Node(name: "flatten", op: .flatten, inputs: ["p"], outputs: ["f"]),
                Node(name: "fc", op: .gemm, inputs: ["f", "fc.weight", "fc.bias"], outputs: ["logits"], attributes: ["transB": .int(1)]),
            ])
    }
}
