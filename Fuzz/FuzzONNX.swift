import Foundation

// libFuzzer target: the ONNX importer (protobuf decoding, constant folding, blur recognition), through a
// real file as users' models are read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = NSTemporaryDirectory() + "lowpass-fuzz-\(getpid()).onnx"
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    if let imported = try? ONNXImporter.importModel(contentsOf: path) {
        _ = try? ONNXExporter.export(imported.graph, weights: Weights(tensors: imported.weights))
    }
    return 0
}
