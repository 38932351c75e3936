import CLLVM
import LowpassIR

/// Addressing of a sliding window (Conv, MaxPool, AveragePool) for vectors of consecutive output
/// pixels of one NCHW plane, numbered row-major over the whole output map. Numbering pixels across
/// rows keeps every lane busy on small maps (a 7x7 map is 49 pixels, not 7 rows of 7).
///
/// A tap reads the input pixel under window cell (ky, kx) for every lane; lanes whose pixel lies in
/// the padding are masked. Where the output grid is the input grid (stride 1, "same" size) those
/// pixels are consecutive and a tap is one masked vector load. Where the stride is 2 and the output rows
/// are at least a vector wide, an interior tap is two loads and a shuffle of the even lanes (LLVM 14
/// turns a gather into one load per lane on AVX2, and AVX-512's gathers are slow on AMD); a vector that
/// crosses into the next output row (a 56-wide map in 16 lanes) takes its next-row lanes from a second
/// such span. Otherwise, and at the input's borders, a gather.
struct WindowAddressing: Hashable {
    let height: Int, width: Int, outHeight: Int, outWidth: Int
    let geometry: WindowGeometry

    var pixels: Int { outHeight * outWidth }
    var contiguous: Bool { geometry.strides == [1, 1] && outWidth == width }

    /// Whether an interior tap at input stride 2 is read as spans: one per output row a vector touches.
    func evenLanes(lanes: Int) -> Bool { !contiguous && geometry.strides[1] == 2 && outWidth >= lanes }
    /// Whether some vector crosses an output row, so its tap needs a second span.
    func crossesRows(lanes: Int) -> Bool { outWidth % lanes != 0 }

    struct PixelVector {
        /// Lanes that are real output pixels (the last vector of a map may be partial).
        let valid: Value
        /// Input row and column of window cell (0, 0), per lane.
        let row: Value, column: Value
        /// Flat index of lane 0's output pixel.
        let first: Value
        /// Input row and column of window cell (0, 0) for lane 0.
        let firstRow: Value, firstColumn: Value
    }

    /// The `count` vectors of output pixels that start at flat pixel `first`.
    func pixelVectors(_ e: Emitter, first: Value, count: Int) -> [PixelVector] {
        (0..<count).map { j in
            let start = e.add(first, j * e.lanes)
            let p = e.add(e.splatInt32(e.toInt32(start)), e.laneIndices)
            let row = e.vadd(e.vmul(e.vdiv(p, outWidth), geometry.strides[0]), -geometry.pads[0])
            let column = e.vadd(e.vmul(e.vrem(p, outWidth), geometry.strides[1]), -geometry.pads[1])
            let firstRow = e.add(e.mul(e.div(start, outWidth), geometry.strides[0]), -geometry.pads[0])
            let firstColumn = e.add(e.mul(e.rem(start, outWidth), geometry.strides[1]), -geometry.pads[1])
            return PixelVector(valid: e.vcompare(LLVMIntSLT, p, e.intVectorConstant(pixels)), row: row, column: column, first: start,
                               firstRow: firstRow, firstColumn: firstColumn)
        }
    }

    struct Tap {
        var masks: [Value]
        /// Per vector: a scalar start index (contiguous) or a vector of indices (gather).
        var indices: [Value]
        /// Per vector, where `evenLanes`: the input index under lane 0.
        var starts: [Value] = []
        /// Per vector, where `evenLanes` and `crossesRows`: the lanes in lane 0's output row, and the
        /// index under lane 0 of the span that holds the next row's lanes (lane `a`, the next row's
        /// first, reads `nextStarts + 2a`).
        var sameRow: [Value] = []
        var nextStarts: [Value] = []
        /// Where `evenLanes`: whether every span's loads (two vectors from its start) lie in the input.
        var spansInside: Value?
    }

    func tap(_ e: Emitter, _ vectors: [PixelVector], ky: Value, kx: Value) -> Tap {
        let dy = e.mul(ky, geometry.dilations[0]), dx = e.mul(kx, geometry.dilations[1])
        var tap = Tap(masks: [], indices: [])
        for v in vectors {
            let row = e.add(v.row, e.splatInt32(e.toInt32(dy))), column = e.add(v.column, e.splatInt32(e.toInt32(dx)))
            tap.masks.append(e.and(v.valid, e.and(e.vinside(row, 0, height), e.vinside(column, 0, width))))
            if contiguous {
                let shift = e.add(e.mul(e.add(dy, -geometry.pads[0]), width), e.add(dx, -geometry.pads[1]))
                tap.indices.append(e.add(v.first, shift))
            } else {
                tap.indices.append(e.add(e.vmul(row, width), column))
                if evenLanes(lanes: e.lanes) {
                    let firstRow = e.add(v.firstRow, dy), firstColumn = e.add(v.firstColumn, dx)
                    let start = e.add(e.mul(firstRow, width), firstColumn)
                    tap.starts.append(start)
                    // The loads may pass the row's end (into the next rows of the plane, lanes the shuffle or
                    // the next span replace), never the plane's.
                    var inside = e.compare(LLVMIntSLE, e.add(start, 2 * e.lanes), e.int(height * width))
                    if crossesRows(lanes: e.lanes) {
                        let lanesInRow = e.sub(e.int(outWidth), e.rem(v.first, outWidth))
                        tap.sameRow.append(e.firstLanes(lanesInRow))
                        let nextRowStart = e.add(e.mul(e.add(firstRow, geometry.strides[0]), width), e.add(dx, -geometry.pads[1]))
                        let next = e.sub(nextRowStart, e.mul(lanesInRow, 2))
                        tap.nextStarts.append(next)
                        inside = e.and(inside, e.and(e.compare(LLVMIntSGE, next, e.int(0)),
                                                     e.compare(LLVMIntSLE, e.add(next, 2 * e.lanes), e.int(height * width))))
                    }
                    tap.spansInside = tap.spansInside.map { e.and($0, inside) } ?? inside
                }
            }
        }
        return tap
    }

    /// Whether every lane of every vector of `tap` reads inside the input (then loads need no mask).
    func isInterior(_ e: Emitter, _ tap: Tap) -> Value {
        e.allTrue(tap.masks.dropFirst().reduce(tap.masks[0]) { e.and($0, $1) })
    }

    /// Vector `j` of `tap` from `plane`; masked lanes give `padding`.
    func load(_ e: Emitter, _ plane: Value, _ tap: Tap, _ j: Int, masked: Bool, padding: Double) -> Value {
        if contiguous {
            return e.loadVector(plane, tap.indices[j], mask: masked ? tap.masks[j] : nil, passthrough: padding)
        }
        if !masked && !tap.starts.isEmpty {
            func span(_ start: Value) -> Value {
                e.strided(e.loadVector(plane, start), e.loadVector(plane, e.add(start, e.lanes)), start: 0, step: 2)
            }
            let thisRow = span(tap.starts[j])
            return tap.nextStarts.isEmpty ? thisRow : e.select(tap.sameRow[j], thisRow, span(tap.nextStarts[j]))
        }
        return e.gather(plane, tap.indices[j], mask: tap.masks[j], passthrough: padding)
    }

    /// Runs `body(masked)` for a tap: unmasked loads when the whole tile is inside the input.
    func withTap(_ e: Emitter, _ tap: Tap, _ body: (_ masked: Bool) -> Void) {
        guard contiguous || !tap.starts.isEmpty else { body(true); return }
        let interior = tap.spansInside.map { e.and(isInterior(e, tap), $0) } ?? isInterior(e, tap)
        e.branch(interior, then: { body(false) }, otherwise: { body(true) })
    }
}

/// What an index outside `0..<extent` reads: the mirror image without repeating the edge (reflect), the
/// edge (replicate), the opposite side (circular), or nothing, the caller supplying a constant (zero). BlurPool and Pad share it.
extension BlurPadMode {
    /// The index to read, always inside (so the load is safe even for maps smaller than their
    /// padding), and whether `index` itself was inside.
    func resolve(_ e: Emitter, _ index: Value, extent: Int) -> (index: Value, inside: Value) {
        let inside = e.and(e.compare(LLVMIntSGE, index, e.int(0)), e.compare(LLVMIntSLT, index, e.int(extent)))
        switch self {
        case .replicate, .zero:
            return (e.clamp(index, 0, extent - 1), inside)
        case .reflect:
            let mirrored = e.select(e.compare(LLVMIntSLT, index, e.int(0)), e.sub(e.int(0), index), e.sub(e.int(2 * (extent - 1)), index))
            return (e.clamp(e.select(inside, index, mirrored), 0, extent - 1), inside)
        case .circular:
            let remainder = e.rem(index, extent)
            return (e.select(e.compare(LLVMIntSLT, remainder, e.int(0)), e.add(remainder, extent), remainder), inside)
        }
    }
}
