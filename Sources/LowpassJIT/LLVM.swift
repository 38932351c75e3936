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

/// The machine the code runs on. LLVM 14 does not know newer CPUs by name (it answers `generic` for
/// this Zen 3), so the code is targeted by the host's feature list, which LLVM reads from CPUID.
public struct HostTarget: Sendable {
    public let triple: String
    public let cpu: String
    public let features: String

    /// Floats per vector register: what the kernels' explicit vector types are sized to.
    public var lanes: Int {
        if has("avx512f") { return 16 }
        if has("avx2") || has("avx") { return 8 }
        return 4
    }

    /// Vector registers the register tiles may fill.
    public var vectorRegisters: Int { has("avx512f") ? 32 : 16 }

    public func has(_ feature: String) -> Bool { features.split(separator: ",").contains { $0 == "+\(feature)" } }

    public static let current: HostTarget = {
        LLVMInitializeNativeTarget()
        LLVMInitializeNativeAsmPrinter()
        return HostTarget(triple: consume(LLVMGetDefaultTargetTriple()),
                          cpu: consume(LLVMGetHostCPUName()),
                          features: consume(LLVMGetHostCPUFeatures()))
    }()

    /// A fresh target machine for this host at -O3 (LLJIT takes ownership of the one it is given).
    func makeTargetMachine() throws(JITError) -> LLVMTargetMachineRef {
        var target: LLVMTargetRef?
        var message: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(triple, &target, &message) == 0, let target else {
            throw JITError("no LLVM target for \(triple): \(consume(message))")
        }
        guard let machine = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive,
                                                    LLVMRelocDefault, LLVMCodeModelJITDefault) else {
            throw JITError("LLVM could not create a target machine for \(triple)")
        }
        return machine
    }
}

/// A module being built, its context and the machine it is built for.
final class LLVMModule {
    let context: LLVMContextRef
    let module: LLVMModuleRef
    let threadSafeContext: LLVMOrcThreadSafeContextRef
    let host: HostTarget
    /// Lays out, optimizes and prints the module (the JIT gets a machine of its own: it takes ownership).
    private let machine: LLVMTargetMachineRef
    private var handedToJIT = false

    init(name: String, host: HostTarget) throws(JITError) {
        self.host = host
        machine = try host.makeTargetMachine()
        threadSafeContext = LLVMOrcCreateNewThreadSafeContext()
        context = LLVMOrcThreadSafeContextGetContext(threadSafeContext)
        module = LLVMModuleCreateWithNameInContext(name, context)
        LLVMSetTarget(module, host.triple)
        let layout = LLVMCreateTargetDataLayout(machine)
        LLVMSetModuleDataLayout(module, layout)
        LLVMDisposeTargetData(layout)
    }

    deinit {
        if !handedToJIT { LLVMDisposeModule(module) }
        LLVMOrcDisposeThreadSafeContext(threadSafeContext)
        LLVMDisposeTargetMachine(machine)
    }

    func verify() throws(JITError) {
        var message: UnsafeMutablePointer<CChar>?
        if LLVMVerifyModule(module, LLVMReturnStatusAction, &message) != 0 {
            throw JITError("generated LLVM IR is invalid (a compiler bug): \(consume(message))")
        }
        _ = consume(message)
    }

    /// The new pass manager's O3 pipeline, as `opt -O3` runs it.
    func optimize() throws(JITError) {
        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        try check(LLVMRunPasses(module, "default<O3>", machine, options), "LLVM optimization")
    }

    var textualIR: String { consume(LLVMPrintModuleToString(module)) }

    func assembly() throws(JITError) -> String {
        var message: UnsafeMutablePointer<CChar>?
        var buffer: LLVMMemoryBufferRef?
        guard LLVMTargetMachineEmitToMemoryBuffer(machine, module, LLVMAssemblyFile, &message, &buffer) == 0, let buffer else {
            throw JITError("LLVM could not emit assembly: \(consume(message))")
        }
        defer { LLVMDisposeMemoryBuffer(buffer) }
        let size = LLVMGetBufferSize(buffer)
        guard let start = LLVMGetBufferStart(buffer) else { return "" }
        return start.withMemoryRebound(to: UInt8.self, capacity: size) { String(decoding: UnsafeBufferPointer(start: $0, count: size), as: UTF8.self) }
    }

    /// Gives the module to an ORC LLJIT; afterwards only `session` may use it.
    func compile() throws(JITError) -> JITSession {
        let session = try JITSession(host: host)
        let owned = LLVMOrcCreateNewThreadSafeModule(module, threadSafeContext)
        handedToJIT = true
        try check(LLVMOrcLLJITAddLLVMIRModule(session.jit, LLVMOrcLLJITGetMainJITDylib(session.jit), owned), "adding the module to the JIT")
        return session
    }
}

/// An ORC LLJIT instance that owns the compiled kernels; they live as long as it does.
final class JITSession: @unchecked Sendable {
    let jit: LLVMOrcLLJITRef

    init(host: HostTarget) throws(JITError) {
        let machine = try host.makeTargetMachine()
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

    /// Compiles (on first lookup) and returns the address of function `name`.
    func address(of name: String) throws(JITError) -> UInt64 {
        var address: LLVMOrcExecutorAddress = 0
        try check(LLVMOrcLLJITLookup(jit, &address, name), "looking up kernel \(name)")
        return address
    }
}
