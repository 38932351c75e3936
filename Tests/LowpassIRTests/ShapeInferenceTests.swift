import Testing
@testable import LowpassIR

/// Shape rules for every op, through the verifier (so attribute defaults apply as in real graphs).
@Suite("Shape inference")
struct ShapeInferenceTests {
    /// Infers the output type of one node applied to inputs of the given types.
    func infer(_ op: OpKind, _ inputs: [TensorType], _ attributes: Attributes = [:], parameters: Set<Int> = []) throws -> TensorType? {
        let names = inputs.indices.map { "in\($0)" }
        let graph = Graph(
            name: "one",
            inputs: inputs.indices.filter { !parameters.contains($0) }.map { ValueInfo(name: names[$0], type: inputs[$0]) },
            outputs: ["out"],
            parameters: parameters.sorted().map { Parameter(name: names[$0], type: inputs[$0]) },
            nodes: [Node(name: "node", op: op, inputs: names, outputs: ["out"], attributes: attributes)])
        return try graph.verify().types["out"]
    }

    let n: Dim = .symbol("N")
    func t(_ dims: Dim...) -> TensorType { TensorType(.f32, dims) }
    func f(_ dims: Int...) -> TensorType { TensorType(fixed: dims) }

    /// A zero anywhere empties a tensor, whatever precedes it (huge dimensions first overflowed).
    @Test func elementCountWithAZeroDimension() {
        #expect(Limits.elementCount([1 << 40, 1 << 40, 0]) == 0)
        #expect(Limits.elementCount([0, 1 << 40, 1 << 40]) == 0)
        #expect(Limits.elementCount([1 << 40, 1 << 40]) == nil)
        #expect(Limits.elementCount([2, -1, 0]) == nil)
    }

    @Test func conv() throws {
        #expect(try infer(.conv, [t(n, 3, 224, 224), f(64, 3, 7, 7)], ["strides": .ints([2, 2]), "pads": .ints([3, 3, 3, 3])], parameters: [1])
                == t(n, 64, 112, 112))
        // grouped, dilated, asymmetric kernel and pads
        #expect(try infer(.conv, [t(n, 4, 13, 11), f(8, 2, 3, 1), f(8)],
                          ["group": .int(2), "dilations": .ints([2, 2]), "pads": .ints([1, 0, 2, 1])], parameters: [1, 2])
                == t(n, 8, 12, 12))
        #expect(throws: Diagnostics.self) { try infer(.conv, [t(n, 4, 8, 8), f(8, 3, 3, 3)], parameters: [1]) }
    }

    @Test func pools() throws {
        #expect(try infer(.maxPool, [t(n, 64, 112, 112)], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
                == t(n, 64, 56, 56))
        #expect(try infer(.averagePool, [t(n, 8, 8, 8)], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "ceil_mode": .int(1)])
                == t(n, 8, 5, 5))
        // ceil mode drops a last window that would start in the trailing padding
        #expect(try infer(.maxPool, [t(n, 8, 9, 9)], ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "ceil_mode": .int(1)])
                == t(n, 8, 5, 5))
        #expect(try infer(.globalAveragePool, [t(n, 2048, 7, 7)]) == t(n, 2048, 1, 1))
    }

    /// BlurPool's output size against the closed form for M = 1...7, odd and even inputs, strides 1-3.
    @Test(arguments: 1...7)
    func blurPool(filterSize m: Int) throws {
        for size in [4, 7, 8, 56, 111, 112] {
            for stride in 1...3 {
                let padBefore = (m - 1) / 2, padAfter = m / 2
                let expected = (size + padBefore + padAfter - m) / stride + 1
                let got = try infer(.blurPool, [t(n, 3, .fixed(size), .fixed(size + 1))],
                                    ["filter_size": .int(m), "strides": .ints([stride, stride]), "pad_mode": .string("zero")])
                let expectedW = (size + 1 + padBefore + padAfter - m) / stride + 1
                #expect(got == t(n, 3, .fixed(expected), .fixed(expectedW)), "M=\(m) size=\(size) stride=\(stride)")
            }
        }
    }

    @Test func blurPoolReferenceExamples() throws {
        for (size, out) in [(112, 56), (111, 56), (56, 28), (7, 4)] {
            #expect(try infer(.blurPool, [t(n, 64, .fixed(size), .fixed(size))]) == t(n, 64, .fixed(out), .fixed(out)))
        }
        #expect(BlurPoolSpec.defaultPads(filterSize: 4, padOff: 0) == [1, 1, 2, 2])
        #expect(BlurPoolSpec.defaultPads(filterSize: 3, padOff: 1) == [2, 2, 2, 2])
        let four: [Double] = [0.125, 0.375, 0.375, 0.125]
        let seven: [Double] = [1, 6, 15, 20, 15, 6, 1]
        #expect(BlurPoolSpec.binomialTaps(4) == four)
        #expect(BlurPoolSpec.binomialTaps(7).map { $0 * 64 } == seven)
        #expect(BlurPoolSpec.binomialTaps(1) == [1.0])
    }

    @Test func elementwise() throws {
        for op in [OpKind.relu, .sigmoid, .hardSwish, .hardSigmoid, .clip, .identity, .dropout, .softmax] {
            #expect(try infer(op, [t(n, 5, 3)]) == t(n, 5, 3), "\(op)")
        }
        #expect(try infer(.batchNormalization, [t(n, 4, 6, 6), f(4), f(4), f(4), f(4)], parameters: [1, 2, 3, 4]) == t(n, 4, 6, 6))
    }

    @Test func broadcasting() throws {
        #expect(try infer(.mul, [t(n, 64, 7, 7), t(n, 64, 1, 1)]) == t(n, 64, 7, 7))
        #expect(try infer(.add, [t(n, 5), f(5)]) == t(n, 5))
        #expect(try infer(.add, [f(1, 3), f(4, 1)]) == f(4, 3))
        #expect(throws: Diagnostics.self) { try infer(.add, [f(2, 3), f(3, 2)]) }
    }

    @Test func matrixProducts() throws {
        #expect(try infer(.gemm, [t(n, 512), f(1000, 512), f(1000)], ["transB": .int(1)], parameters: [1, 2]) == t(n, 1000))
        #expect(try infer(.gemm, [f(7, 3), f(7, 5)], ["transA": .int(1)]) == f(3, 5))
        #expect(try infer(.matMul, [t(n, 400), f(400, 5)]) == t(n, 5))
        #expect(try infer(.matMul, [f(2, 1, 3, 4), f(5, 4, 6)]) == f(2, 5, 3, 6))
        #expect(throws: Diagnostics.self) { try infer(.matMul, [f(3, 4), f(5, 6)]) }
    }

    @Test func reshaping() throws {
        #expect(try infer(.flatten, [t(n, 512, 1, 1)]) == t(n, 512))
        #expect(try infer(.flatten, [f(2, 3, 4)], ["axis": .int(0)]) == f(1, 24))
        #expect(try infer(.flatten, [f(2, 3, 4)], ["axis": .int(-1)]) == f(6, 4))
        #expect(try infer(.flatten, [f(2, 3, 4)], ["axis": .int(3)]) == f(24, 1))
        #expect(try infer(.reshape, [t(n, 16, 5, 5)], ["shape": .ints([0, -1])]) == t(n, 400))
        #expect(try infer(.reshape, [t(n, 16, 5, 5)], ["shape": .ints([-1, 400])]) == t(n, 400))
        #expect(try infer(.reshape, [f(6, 4)], ["shape": .ints([2, 3, -1])]) == f(2, 3, 4))
        #expect(throws: Diagnostics.self) { try infer(.reshape, [f(6, 4)], ["shape": .ints([5, -1])]) }
        #expect(try infer(.concat, [t(n, 8, 5, 5), t(n, 8, 5, 5)], ["axis": .int(1)]) == t(n, 16, 5, 5))
        #expect(try infer(.concat, [f(2, 3), f(2, 4)], ["axis": .int(-1)]) == f(2, 7))
        #expect(throws: Diagnostics.self) { try infer(.concat, [f(2, 3), f(3, 4)], ["axis": .int(1)]) }
    }

    @Test func padding() throws {
        #expect(try infer(.pad, [t(n, 8, 6, 6)], ["pads": .ints([0, 0, 1, 2, 0, 0, 2, 1]), "mode": .string("edge")]) == t(n, 8, 9, 9))
        #expect(throws: Diagnostics.self) {
            try infer(.pad, [t(n, 8, 2, 2)], ["pads": .ints([0, 0, 2, 0, 0, 0, 0, 0]), "mode": .string("reflect")])
        }
    }
}
