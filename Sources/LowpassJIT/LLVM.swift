import Foundation
import CLLVM

/// A failure inside LLVM: module verification, code generation, or symbol lookup.
public struct JITError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Takes ownership of an LLVM message and returns it as a Swift string.
func consume(_ message: UnsafeMutablePointer<CChar>?) -> String {
    guard let message else { return "" }
    defer { LLVMDisposeMessage(message) }
    return String(cString: message)
}

func check(_ error: LLVMErrorRef?, _ what: String) throws(JITError) {
    guard let error else { return }
    throw JITError("\(what): \(consume(LLVMGetErrorMessage(error)))")
}

/// The vector instruction sets the kernels are written for: `--target` names them, and tests compile
/// for each one the CPU has, so an AVX-512 machine checks the 8-lane code as well as the 16-lane code.
public enum InstructionSet: String, CaseIterable, Sendable, CustomStringConvertible {
    case avx2, avx512

    /// The CPU features (LLVM's names) the generated code may use.
    var required: [String] { self == .avx2 ? ["avx2", "fma"] : ["avx512f", "fma"] }
    public var description: String { rawValue }
}

/// What the JIT generates code for: this machine's CPU, or that CPU restricted to a narrower
/// instruction set. LLVM 14 does not know every CPU by name (it answers `generic` for Zen 3 and 4),
/// so the code is targeted by a feature list, which LLVM reads from CPUID.
public struct Target: Sendable, CustomStringConvertible {
    public let triple: String
    public let cpu: String
    public let features: String
    /// The instruction set asked for, or nil for whatever the host has.
    public let instructionSet: InstructionSet?

    /// Floats per vector register: what the kernels' explicit vector types are sized to.
    public var lanes: Int {
        if has("avx512f") { return 16 }
        if has("avx2") || has("avx") { return 8 }
        return 4
    }

    /// Vector registers the register tiles may fill.
    public var vectorRegisters: Int { has("avx512f") ? 32 : 16 }

    public func has(_ feature: String) -> Bool { features.split(separator: ",").contains { $0 == "+\(feature)" } }

    /// `avx512 (host)`, `avx2 (host has avx512)`: what the code is for, for listings and reports.
    public var description: String {
        let widest = InstructionSet.allCases.last { Target.host.supports($0) }
        let name = lanes == 16 ? "avx512" : lanes == 8 ? "avx2" : "sse"
        return instructionSet == nil || instructionSet == widest ? "\(name) (host)" : "\(name) (host has \(widest?.rawValue ?? "sse"))"
    }

    /// This machine's CPU with every feature it has.
    public static let host: Target = {
        LLVMInitializeNativeTarget()
        LLVMInitializeNativeAsmPrinter()
        return Target(triple: consume(LLVMGetDefaultTargetTriple()), cpu: consume(LLVMGetHostCPUName()),
                      features: consume(LLVMGetHostCPUFeatures()), instructionSet: nil)
    }()

    /// Whether this target's CPU can run code for `set`.
    public func supports(_ set: InstructionSet) -> Bool { set.required.allSatisfy(has) }

    /// The host restricted to `set`: the same CPU, with the features past `set` switched off (for AVX2,
    /// every AVX-512 and AMX feature), so the kernels are the ones an AVX2-only CPU gets.
    public static func host(restrictedTo set: InstructionSet) throws(JITError) -> Target {
        guard host.supports(set) else {
            let missing = set.required.filter { !host.has($0) }.joined(separator: ", ")
            throw JITError("this CPU cannot run \(set) code: it lacks \(missing)")
        }
        let features = host.features.split(separator: ",").map { feature -> String in
            guard set == .avx2, feature.hasPrefix("+avx512") || feature.hasPrefix("+amx") else { return String(feature) }
            return "-" + feature.dropFirst()
        }
        return Target(triple: host.triple, cpu: host.cpu, features: features.joined(separator: ","), instructionSet: set)
    }

    /// This target with CPU feature `feature` (LLVM's name) switched off: code for a CPU that lacks it
    /// (`without("avx512bf16")` tests the bf16 code AVX-512 CPUs without AVX512_BF16 get).
    public func without(_ feature: String) -> Target {
        let features = self.features.split(separator: ",").map { $0 == "+\(feature)" ? "-\(feature)" : String($0) }
        return Target(triple: triple, cpu: cpu, features: features.joined(separator: ","), instructionSet: instructionSet)
    }

    /// `host`, `avx2` or `avx512`, as `--target` takes them.
    public static func named(_ name: String) throws(JITError) -> Target {
        if name == "host" { return host }
        guard let set = InstructionSet(rawValue: name) else {
            throw JITError("unknown target '\(name)': expected host, \(InstructionSet.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return try host(restrictedTo: set)
    }

    static let codeGenLevel = LLVMCodeGenLevelAggressive
    static let relocation = LLVMRelocPIC
    static let codeModel = LLVMCodeModelJITDefault
    /// The optimization pipeline every kernel module runs (`LOWPASS_LLVM_PIPELINE` replaces it, for
    /// experiments; it is part of the cache key like the rest of the recipe). Not `default<O3>`: the
    /// kernels come vectorized and register-tiled, with no functions of their own to inline, so O3's inliner, interprocedural
    /// passes and vectorizers find nothing to do, and its repeated rounds of instcombine were half of
    /// the compile time. What the kernels need: SROA for their locals, LICM and GVN for addresses,
    /// their constant-trip window loops (3x3 taps, blur rows) unrolled before GVN so the offsets fold,
    /// partial unrolling, and clean-up. Compile time -30 to -35% on the zoo, run time the same
    /// (docs/performance.md, "Cold start").
    static let pipeline = ProcessInfo.processInfo.environment["LOWPASS_LLVM_PIPELINE"]
        ?? "function(sroa,early-cse<memssa>,instcombine,simplifycfg,loop-mssa(licm),loop(indvars,loop-unroll-full),gvn,instcombine,loop-unroll<O3>,instcombine,dse,simplifycfg)"

    /// How Lowpass asks LLVM for code, in words: part of every compile-cache key, so a change here is a
    /// new key, never a stale entry.
    static var recipe: String {
        "\(pipeline); codegen level \(codeGenLevel.rawValue); relocation \(relocation.rawValue); code model \(codeModel.rawValue)"
    }

    /// A fresh target machine for this target at -O3 (LLJIT takes ownership of the one it is given).
    /// Code is position-independent, so the same object loads into the JIT and links into a shared library.
    func makeTargetMachine() throws(JITError) -> LLVMTargetMachineRef {
        var target: LLVMTargetRef?
        var message: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(triple, &target, &message) == 0, let target else {
            throw JITError("no LLVM target for \(triple): \(consume(message))")
        }
        guard let machine = LLVMCreateTargetMachine(target, triple, cpu, features, Self.codeGenLevel, Self.relocation, Self.codeModel) else {
            throw JITError("LLVM could not create a target machine for \(triple)")
        }
        return machine
    }
}

/// A module being built, its own context (so modules can be built on several threads at once) and the
/// machine it is built for.
final class LLVMModule {
    let context: LLVMContextRef
    let module: LLVMModuleRef
    let target: Target
    /// Lays out, optimizes and prints the module (the JIT gets a machine of its own: it takes ownership).
    private let machine: LLVMTargetMachineRef

    init(name: String, target: Target) throws(JITError) {
        self.target = target
        machine = try target.makeTargetMachine()
        context = LLVMContextCreate()
        module = LLVMModuleCreateWithNameInContext(name, context)
        LLVMSetTarget(module, target.triple)
        let layout = LLVMCreateTargetDataLayout(machine)
        LLVMSetModuleDataLayout(module, layout)
        LLVMDisposeTargetData(layout)
    }

    deinit {
        LLVMDisposeModule(module)
        LLVMContextDispose(context)
        LLVMDisposeTargetMachine(machine)
    }

    func verify() throws(JITError) {
        var message: UnsafeMutablePointer<CChar>?
        if LLVMVerifyModule(module, LLVMReturnStatusAction, &message) != 0 {
            throw JITError("generated LLVM IR is invalid (a compiler bug): \(consume(message))")
        }
        _ = consume(message)
    }

    /// `Target.pipeline`, as `opt -passes=...` runs it.
    func optimize() throws(JITError) {
        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        try check(LLVMRunPasses(module, Target.pipeline, machine, options), "LLVM optimization")
    }

    var textualIR: String { consume(LLVMPrintModuleToString(module)) }

    /// The module as LLVM bitcode: what the compile cache's keys hash (quicker to make than the text).
    var bitcode: [UInt8] {
        guard let buffer = LLVMWriteBitcodeToMemoryBuffer(module) else { return Array(textualIR.utf8) }
        defer { LLVMDisposeMemoryBuffer(buffer) }
        let size = LLVMGetBufferSize(buffer)
        guard let start = LLVMGetBufferStart(buffer) else { return [] }
        return start.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
    }

    func assembly() throws(JITError) -> String {
        String(decoding: try emit(LLVMAssemblyFile, "assembly"), as: UTF8.self)
    }

    /// The module's machine code as a relocatable ELF object.
    func object() throws(JITError) -> [UInt8] { try emit(LLVMObjectFile, "machine code") }

    private func emit(_ kind: LLVMCodeGenFileType, _ what: String) throws(JITError) -> [UInt8] {
        var message: UnsafeMutablePointer<CChar>?
        var buffer: LLVMMemoryBufferRef?
        guard LLVMTargetMachineEmitToMemoryBuffer(machine, module, kind, &message, &buffer) == 0, let buffer else {
            throw JITError("LLVM could not emit \(what): \(consume(message))")
        }
        defer { LLVMDisposeMemoryBuffer(buffer) }
        let size = LLVMGetBufferSize(buffer)
        guard let start = LLVMGetBufferStart(buffer) else { return [] }
        return start.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
    }
}

/// An ORC LLJIT instance that owns the compiled kernels; they live as long as it does.
final class JITSession: @unchecked Sendable {
    let jit: LLVMOrcLLJITRef

    init(target: Target) throws(JITError) {
        let machine = try target.makeTargetMachine()
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(machine))
        var created: LLVMOrcLLJITRef?
        try check(LLVMOrcCreateLLJIT(&created, builder), "creating the LLVM JIT")
        guard let created else { throw JITError("LLVM returned no JIT") }
        jit = created
        // Vector math the backend lowers to libm calls (expf) resolves against this process.
        var generator: LLVMOrcDefinitionGeneratorRef?
        try check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&generator, LLVMOrcLLJITGetGlobalPrefix(jit), nil, nil),
                  "linking the JIT to this process")
        if let generator { LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), generator) }
    }

    deinit { _ = LLVMOrcDisposeLLJIT(jit) }

    /// Links a relocatable object (`LLVMModule.object()`) into the JIT.
    func add(object: [UInt8], name: String) throws(JITError) {
        let buffer = object.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { LLVMCreateMemoryBufferWithMemoryRangeCopy($0.baseAddress, $0.count, name) }
        }
        try check(LLVMOrcLLJITAddObjectFile(jit, LLVMOrcLLJITGetMainJITDylib(jit), buffer), "adding kernel \(name) to the JIT")
    }

    /// Returns the address of function `name`.
    func address(of name: String) throws(JITError) -> UInt64 {
        var address: LLVMOrcExecutorAddress = 0
        try check(LLVMOrcLLJITLookup(jit, &address, name), "looking up kernel \(name)")
        return address
    }
}
