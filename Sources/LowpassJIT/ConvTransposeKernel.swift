import CLLVM
import LowpassIR

/// ConvTranspose in gather form: a work item is one output row of one output channel; each vector of
/// output pixels sums, over the group's input channels and the taps, the input pixels that reach it.
/// A tap row contributes only where the output row minus the tap's offset is a multiple of the stride
/// (one branch per row); along the row, the lanes whose column is not are masked out of the gather.
/// Arguments: output, input, W as the graph has it ([C, M/group, kH, kW]), bias (a constant of M).
struct ConvTransposeKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, height: Int, width: Int
    var geometry: TransposedConvGeometry
    var lanes: Int

    var kind: String { "convtranspose\(geometry.window.kernel[0])x\(geometry.window.kernel[1])/s\(geometry.window.strides[0])" }
    var workItems: Int { batch * geometry.filters * geometry.outHeight }
    var flops: Double {
        let taps: Int = geometry.window.kernel[0] * geometry.window.kernel[1]
        let inputs: Int = batch * channels * height * width
        return 2 * Double(inputs) * Double(geometry.filters / geometry.groups) * Double(taps)
    }
    var bytes: Double {
        let outputs: Int = geometry.filters * geometry.outHeight * geometry.outWidth
        return 4 * Double(batch) * Double(channels * height * width + outputs)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let g = geometry, w = g.window
        let (kh, kw) = (w.kernel[0], w.kernel[1])
        let perGroup = g.filters / g.groups, cPerGroup = channels / g.groups
        let c = split(e, item, [batch, g.filters, g.outHeight])
        let (n, m, oy) = (c[0], c[1], c[2])
        let group = e.div(m, perGroup), j = e.rem(m, perGroup)
        let out = e.address(e.outputArgument, e.mul(item, g.outWidth))
        let (input, weights, bias) = (e.operandArgument(0), e.operandArgument(1), e.operandArgument(2))
        let body = { (ox: Value, valid: Value) in
            let accumulator = e.local(e.splat(e.load(bias, m)))
            let columns = e.add(e.laneIndices, e.splatInt32(e.toInt32(ox)))
            e.loop(cPerGroup) { ci in
                let channel = e.add(e.mul(group, cPerGroup), ci)
                e.loop(kh) { ky in
                    let rowNumerator = e.sub(e.add(oy, e.int(w.pads[0])), e.mul(ky, w.dilations[0]))
                    let iy = e.div(rowNumerator, w.strides[0])
                    let reaches = e.and(e.and(e.compare(LLVMIntSGE, rowNumerator, e.int(0)), e.compare(LLVMIntEQ, e.rem(rowNumerator, w.strides[0]), e.int(0))),
                                        e.compare(LLVMIntSLT, iy, e.int(height)))
                    e.when(reaches) {
                        let row = e.address(input, e.mul(e.add(e.mul(e.add(e.mul(n, channels), channel), height), iy), width))
                        let tapBase = e.mul(e.add(e.mul(e.add(e.mul(channel, perGroup), j), kh), ky), kw)
                        for kx in 0..<kw {
                            let numerator = e.vadd(columns, w.pads[1] - kx * w.dilations[1])
                            let ix = e.vdiv(numerator, w.strides[1])
                            let mask = e.and(e.and(valid, e.vinside(numerator, 0, width * w.strides[1])),
                                             e.vcompare(LLVMIntEQ, e.vrem(numerator, w.strides[1]), e.intVectorConstant(0)))
                            let tap = e.splat(e.load(weights, e.add(tapBase, e.int(kx))))
                            e.set(accumulator, e.fma(tap, e.gather(row, ix, mask: mask), e.get(accumulator)))
                        }
                    }
                }
            }
            e.storeVector(e.get(accumulator), out, ox, mask: valid)
        }
        let allLanes = e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(lanes))
        e.forEachVector(g.outWidth) { ox, mask in body(ox, mask ?? allLanes) }
    }
}
