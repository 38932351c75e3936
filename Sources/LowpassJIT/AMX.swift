import CLLVM

/// AMX (Intel's tile matrix unit, Sapphire Rapids on): eight tile registers of 16 rows x 64 bytes
/// and `tdpbf16ps`, which adds the product of a 16 x 32 bfloat16 tile and a 32 x 16 one (stored as
/// 16 rows of 16 bfloat16 pairs, the layout of `BFloat16.swift`'s pair vectors) to a 16 x 16 fp32
/// tile: 8192 multiply-adds an instruction, where `vdpbf16ps` does 32.
///
/// The kernels configure every tile as a full 16 x 64 bytes and name tiles by number, 0-7.
extension Emitter {
    /// Loads the tile configuration: palette 1, all eight tiles 16 rows x 64 bytes.
    func configureTiles() {
        var bytes = [Int](repeating: 0, count: 64)
        bytes[0] = 1
        for tile in 0..<8 {
            bytes[16 + 2 * tile] = 64  // bytes per row, a little-endian u16
            bytes[48 + tile] = 16      // rows
        }
        let i8 = LLVMInt8TypeInContext(module.context)!
        var constants: [Value?] = bytes.map { LLVMConstInt(i8, UInt64($0), 0) }
        let array = constants.withUnsafeMutableBufferPointer { LLVMConstArray(i8, $0.baseAddress, 64) }
        let global = LLVMAddGlobal(module.module, LLVMArrayType(i8, 64), "tileconfig")!
        LLVMSetInitializer(global, array)
        LLVMSetGlobalConstant(global, 1)
        LLVMSetLinkage(global, LLVMPrivateLinkage)
        LLVMSetAlignment(global, 64)
        _ = intrinsic("llvm.x86.ldtilecfg", [], [bitcast(global, to: LLVMPointerType(i8, 0))])
    }

    /// Gives the tile registers back (their state no longer saved on context switches).
    func releaseTiles() { _ = intrinsic("llvm.x86.tilerelease", [], []) }

    func zeroTile(_ tile: Int) { _ = intrinsic("llvm.x86.tilezero", [], [tileNumber(tile)]) }

    /// Tile `tile` from 16 rows of 64 bytes, the first at float `index` past `base`, each `rowBytes` after the last.
    func loadTile(_ tile: Int, _ base: Value, _ index: Value, rowBytes: Int) {
        _ = intrinsic("llvm.x86.tileloadd64", [], [tileNumber(tile), bytePointer(base, index), int(rowBytes)])
    }

    func storeTile(_ tile: Int, _ base: Value, _ index: Value, rowBytes: Int) {
        _ = intrinsic("llvm.x86.tilestored64", [], [tileNumber(tile), bytePointer(base, index), int(rowBytes)])
    }

    /// Tile `sums` += tile `a` (16 rows of 32 bfloat16) x tile `b` (16 rows of 16 bfloat16 pairs).
    func multiplyTiles(adding sums: Int, _ a: Int, _ b: Int) {
        _ = intrinsic("llvm.x86.tdpbf16ps", [], [tileNumber(sums), tileNumber(a), tileNumber(b)])
    }

    /// Sum tiles 0-3 += the products of A tiles 4-5 and B tiles 6-7 (sum tile 2a + b = A a x B b), each
    /// operand tile filled by `loadA(tile, a)` or `loadB(tile, b)` just before its first multiplication:
    /// tiles are not renamed, so a load waits for the multiplications still reading its tile (Intel's order).
    func multiplyTwoByTwo(loadA: (_ tile: Int, _ a: Int) -> Void, loadB: (_ tile: Int, _ b: Int) -> Void) {
        loadA(4, 0)
        loadB(6, 0)
        multiplyTiles(adding: 0, 4, 6)
        loadB(7, 1)
        multiplyTiles(adding: 1, 4, 7)
        loadA(5, 1)
        multiplyTiles(adding: 2, 5, 6)
        multiplyTiles(adding: 3, 5, 7)
    }

    private func tileNumber(_ tile: Int) -> Value { LLVMConstInt(LLVMInt8TypeInContext(module.context), UInt64(tile), 0) }

    private func bytePointer(_ base: Value, _ index: Value) -> Value {
        bitcast(address(base, index), to: LLVMPointerType(LLVMInt8TypeInContext(module.context), 0))
    }
}

public extension Target {
    /// Whether code for this target multiplies bfloat16 tiles with AMX: 16-lane code for a CPU with
    /// AMX-BF16 whose kernel lent this process the tile registers.
    var hasAMX: Bool { lanes == 16 && has("amx-tile") && has("amx-bf16") && AMXTiles.granted }
}

/// Asks Linux once for the tile registers (`lowpass_request_amx_tiles`).
enum AMXTiles {
    static let granted: Bool = lowpass_request_amx_tiles() == 0
}
