import Foundation

/// Writes `data` to a temporary file beside `path` and renames it into place.
public func writeAtomically(_ data: Data, to path: String) throws(Diagnostic) {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw Diagnostic("write-failed", "cannot write the file: the folder \(folder) does not exist", at: SourceLocation(file: path))
    }
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw Diagnostic("write-failed", "cannot write the file: \(error.localizedDescription)", at: SourceLocation(file: path))
    }
}

public func writeAtomically(_ text: String, to path: String) throws(Diagnostic) {
    try writeAtomically(Data(text.utf8), to: path)
}
