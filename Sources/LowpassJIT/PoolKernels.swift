import CLLVM
import LowpassIR

/// MaxPool and AveragePool over vectors of output pixels (see `WindowAddressing`). Padding never wins
/// a max; an average divides by the window's cells inside the input, or with `countIncludePad` by its
/// cells inside the padded input, as ONNX and PyTorch do. In bf16 (`roundsInput`) an average rounds
/// each input it reads, a max only its result (rounding commutes with a max).
///
/// Arguments: output, input.
struct PoolKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    /// Maps, image by image (`images` of them, each with planes / images channels).
    var images: Int, planes: Int
    var window: WindowAddressing
    var isMax: Bool
    var countIncludePad: Bool
    var roundsInput: Bool
    var lanes: Int

    var vectorsPerItem: Int { 2 }
    var kind: String {
        (isMax ? "maxpool" : "avgpool") + "\(window.geometry.kernel[0])x\(window.geometry.kernel[1])/s\(window.geometry.strides[0])" + (roundsInput ? " bf16" : "")
    }
    /// An input as the pool reads it: rounded where bf16 averages it.
    private func roundedInput(_ e: Emitter, _ v: Value) -> Value { e.asStored(v, bf16: roundsInput && !isMax) }
    /// A result as the pool stores it: a max of bf16 inputs is their rounded max.
    private func roundedResult(_ e: Emitter, _ v: Value) -> Value { e.asStored(v, bf16: roundsInput && isMax) }
    var tiles: Int { ceilDiv(window.pixels, vectorsPerItem * lanes) }
    var workItems: Int { direct ? planes * window.outHeight : planes * tiles }

    /// A window much larger than the input (more cells than 4 inputs' worth, or strides past 64) runs
    /// output by output over the window's part inside the input (`emitDirectItem`): looping over the
    /// whole window, a 2^20 x 2^20 max pool on an 8x8 map never finished.
    var direct: Bool {
        let g = window.geometry
        return g.dilations == [1, 1] && (g.kernel[0] * g.kernel[1] > 4 * window.height * window.width || g.strides.contains { $0 > 64 })
    }
    var flops: Double { Double(planes * window.pixels * window.geometry.kernel.reduce(1, *)) }
    var bytes: Double { 4 * Double(planes * (window.height * window.width + window.pixels)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        guard !direct else { return emitDirectItem(e, item) }
        let c = split(e, item, [planes, tiles])
        let (plane, tile) = (c[0], c[1])
        let input = e.address(e.operandArgument(0), e.mul(plane, window.height * window.width))
        let out = e.address(e.outputArgument, e.mul(plane, window.pixels))
        let vectors = window.pixelVectors(e, first: e.mul(tile, vectorsPerItem * lanes), count: vectorsPerItem)
        let padding = isMax ? -Double.infinity : 0
        let results = vectors.map { _ in e.local(e.vector(padding)) }
        let counts = vectors.map { _ in e.local(e.vector(0)) }
        let g = window.geometry
        e.loop(g.kernel[0]) { ky in
            e.loop(g.kernel[1]) { kx in
                let tap = window.tap(e, vectors, ky: ky, kx: kx)
                window.withTap(e, tap) { masked in
                    for j in vectors.indices {
                        let v = roundedInput(e, window.load(e, input, tap, j, masked: masked, padding: padding))
                        e.set(results[j], isMax ? e.fmax(e.get(results[j]), v) : e.fadd(e.get(results[j]), v))
                        if !isMax && !countIncludePad {
                            e.set(counts[j], e.fadd(e.get(counts[j]), e.select(tap.masks[j], e.vector(1), e.vector(0))))
                        }
                    }
                }
            }
        }
        for (j, v) in vectors.enumerated() {
            var result = roundedResult(e, e.get(results[j]))
            if !isMax {
                let divisor: Value
                if countIncludePad {
                    // Cells of the window inside the padded input: it may hang past it in ceil mode.
                    let rowEnd = e.minimum(e.vadd(v.row, g.kernel[0]), e.intVectorConstant(window.height + g.pads[2]))
                    let columnEnd = e.minimum(e.vadd(v.column, g.kernel[1]), e.intVectorConstant(window.width + g.pads[3]))
                    let cells = e.mul(e.sub(rowEnd, v.row), e.sub(columnEnd, v.column))
                    divisor = e.vtoFloat(e.maximum(cells, e.intVectorConstant(1)))
                } else {
                    divisor = e.fmax(e.get(counts[j]), e.vector(1))
                }
                result = e.fdiv(result, divisor)
            }
            e.storeVector(result, out, v.first, mask: v.valid)
        }
    }
}

extension PoolKernel {
    /// One output row of one plane, output by output, each window clipped to the input.
    func emitDirectItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [planes, window.outHeight])
        let (plane, oy) = (c[0], c[1])
        let g = window.geometry
        let (height, width) = (window.height, window.width)
        let input = e.address(e.operandArgument(0), e.mul(plane, height * width))
        let outRow = e.address(e.outputArgument, e.add(e.mul(plane, window.pixels), e.mul(oy, window.outWidth)))
        let top = e.add(e.mul(oy, g.strides[0]), -g.pads[0])
        let (rowStart, rowEnd) = (e.clamp(top, 0, height), e.clamp(e.add(top, g.kernel[0]), 0, height))
        e.loop(e.int(0), e.int(window.outWidth)) { ox in
            let left = e.add(e.mul(ox, g.strides[1]), -g.pads[1])
            let (columnStart, columnEnd) = (e.clamp(left, 0, width), e.clamp(e.add(left, g.kernel[1]), 0, width))
            let result = e.local(e.float(isMax ? -.infinity : 0))
            e.loop(rowStart, rowEnd) { y in
                e.loop(columnStart, columnEnd) { x in
                    let v = roundedInput(e, e.load(input, e.add(e.mul(y, width), x)))
                    e.set(result, isMax ? e.fmax(e.get(result), v) : e.fadd(e.get(result), v))
                }
            }
            var value = roundedResult(e, e.get(result))
            if !isMax {
                // Cells inside the input, or with `countIncludePad` inside the padded input.
                let cells = countIncludePad
                    ? e.mul(e.sub(e.minimum(e.add(top, g.kernel[0]), e.int(height + g.pads[2])), top),
                            e.sub(e.minimum(e.add(left, g.kernel[1]), e.int(width + g.pads[3])), left))
                    : e.mul(e.sub(rowEnd, rowStart), e.sub(columnEnd, columnStart))
                value = e.fdiv(value, e.toFloat(e.maximum(cells, e.int(1))))
            }
            e.store(value, outRow, ox)
        }
    }
}

/// GlobalAveragePool: one plane per work item, summed in vectors, in bf16 (`roundsInput`) of its
/// rounded inputs. Arguments: output, input.
struct GlobalAveragePoolKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var planes: Int, area: Int
    var roundsInput: Bool
    var lanes: Int

    var kind: String { "globalavgpool" + (roundsInput ? " bf16" : "") }
    var workItems: Int { planes }
    var flops: Double { Double(planes * area) }
    var bytes: Double { 4 * Double(planes * (area + 1)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let input = e.address(e.operandArgument(0), e.mul(item, area))
        let sum = e.local(e.vector(0))
        let whole = area / lanes * lanes
        e.loop(e.int(0), e.int(whole), step: lanes) { i in e.set(sum, e.fadd(e.get(sum), e.asStored(e.loadVector(input, i), bf16: roundsInput))) }
        if whole < area {
            let tail = e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(area - whole))
            e.set(sum, e.fadd(e.get(sum), e.asStored(e.loadVector(input, e.int(whole), mask: tail), bf16: roundsInput)))
        }
        e.store(e.fdiv(e.horizontalSum(e.get(sum)), e.float(Double(area))), e.outputArgument, item)
    }
}

/// AdaptiveAveragePool (PyTorch's bins: start floor(i*H/out), end ceil((i+1)*H/out)). The bins are
/// constants, so each output cell is a loop with fixed bounds. In bf16 (`roundsInput`) of rounded
/// inputs. Arguments: output, input.
struct AdaptiveAveragePoolKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    var roundsInput: Bool

    var kind: String { "adaptiveavgpool \(outHeight)x\(outWidth)" + (roundsInput ? " bf16" : "") }
    var workItems: Int { planes }
    var flops: Double { Double(planes * height * width) }
    var bytes: Double { 4 * Double(planes * (height * width + outHeight * outWidth)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let input = e.address(e.operandArgument(0), e.mul(item, height * width))
        let out = e.address(e.outputArgument, e.mul(item, outHeight * outWidth))
        for oy in 0..<outHeight {
            let (y0, y1) = (oy * height / outHeight, ((oy + 1) * height + outHeight - 1) / outHeight)
            for ox in 0..<outWidth {
                let (x0, x1) = (ox * width / outWidth, ((ox + 1) * width + outWidth - 1) / outWidth)
                let sum = e.local(e.float(0))
                e.loop(e.int(y0), e.int(y1)) { y in
                    e.loop(e.int(x0), e.int(x1)) { x in
                        e.set(sum, e.fadd(e.get(sum), e.asStored(e.load(input, e.add(e.mul(y, width), x)), bf16: roundsInput)))
                    }
                }
                e.store(e.fdiv(e.get(sum), e.float(Double((y1 - y0) * (x1 - x0)))), out, e.int(oy * outWidth + ox))
            }
        }
    }
}
