import Foundation

// libFuzzer target: the .safetensors reader (through a real file, as users' files are read: memory-mapped).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = NSTemporaryDirectory() + "lowpass-fuzz-\(getpid()).safetensors"
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    if let file = try? SafeTensorsFile.read(contentsOf: path) {
        for tensor in file.tensors.values { _ = tensor.values.reduce(0, +) }
    }
    return 0
}
