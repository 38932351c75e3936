import CImageCodecs
import Foundation
import LowpassIR

/// A folder of PNG and JPEG images as one tensor, the way an ImageNet evaluation reads its validation
/// set (torchvision's `ImageFolder`, `Resize(side)`, `CenterCrop(side)`): files sorted by path, in
/// class subfolders (the label is the subfolder's index in sorted order) or directly in the folder (no
/// labels); each decoded to RGB (libpng, libjpeg-turbo), its shorter side resized to `side` with PIL's
/// antialiased bilinear filter (kept in float, where PIL rounds to 8 bits after each pass), the centre
/// square cropped, values in [0, 1]. One channel: ITU-R 601 luminance, as PIL's `convert("L")`.
public struct ImageFolder {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]
    /// Pixels of one image at most (a 16k x 16k photo), checked before decoding allocates anything.
    public static let maximumPixels = 1 << 28

    public var images: Tensor
    /// Per image, its class subfolder's index; nil when the images lie directly in the folder.
    public var labels: [Int]?
    public var files: [String]

    /// The images are held at once: at most `maximumBytes` of floats (8 GiB: 10,000 images at 3 x 256 x 256).
    public init(contentsOf folder: String, side: Int, channels: Int, maximumBytes: Int = 8 << 30) throws(Diagnostic) {
        guard (1...8192).contains(side), channels == 1 || channels == 3 else {
            throw Diagnostic(.inputShape, "images are read as 1 or 3 channels at a size of 1 to 8192; asked for \(channels) channels of \(side)")
        }
        let (files, labels) = try Self.list(folder, limit: max(1, maximumBytes / (4 * channels * side * side)))
        self.files = files
        self.labels = labels
        let plane = side * side
        var images = Tensor(zeros: [files.count, channels, side, side])
        for (n, file) in files.enumerated() {
            let rgb = try Self.decode(file)
            let square = Self.resizedSquare(rgb, side: side)
            images.withUnsafeMutableBufferPointer { out in
                for i in 0..<plane {
                    let (r, g, b) = (square[3 * i], square[3 * i + 1], square[3 * i + 2])
                    if channels == 1 {
                        out[n * plane + i] = Float((0.299 * r + 0.587 * g + 0.114 * b) / 255)
                    } else {
                        for (c, v) in [r, g, b].enumerated() { out[(n * 3 + c) * plane + i] = Float(v / 255) }
                    }
                }
            }
        }
        self.images = images
    }

    /// Image files directly in `folder`, or in its subfolders (one per class), sorted.
    static func list(_ folder: String, limit: Int) throws(Diagnostic) -> (files: [String], labels: [Int]?) {
        let manager = FileManager.default
        func entries(_ path: String) throws(Diagnostic) -> [String] {
            do { return try manager.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted() } catch {
                throw Diagnostic(.unreadableFile, "cannot list the folder: \(error.localizedDescription)", at: SourceLocation(file: path))
            }
        }
        func isImage(_ name: String) -> Bool { extensions.contains((name as NSString).pathExtension.lowercased()) }
        func isFolder(_ path: String) -> Bool {
            var directory: ObjCBool = false
            return manager.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
        }
        let top = try entries(folder)
        let direct = top.filter(isImage).map { folder + "/" + $0 }
        let classes = top.filter { isFolder(folder + "/" + $0) }
        var files = direct, labels: [Int]? = nil
        if direct.isEmpty && !classes.isEmpty {
            files = []
            labels = []
            for (label, name) in classes.enumerated() {
                let inClass = try entries(folder + "/" + name).filter(isImage).map { folder + "/" + name + "/" + $0 }
                files += inClass
                labels? += Array(repeating: label, count: inClass.count)
            }
        }
        guard !files.isEmpty else {
            throw Diagnostic(.inputShape, "no .png, .jpg or .jpeg files in it or in its subfolders", at: SourceLocation(file: folder))
        }
        guard files.count <= limit else {
            throw Diagnostic(.inputShape, "\(files.count) images is more than the \(limit) that fit in memory at once at this size; measure a subset (e.g. some images per class)",
                             at: SourceLocation(file: folder))
        }
        return (files, labels)
    }

    /// RGB bytes, width and height of one PNG or JPEG file.
    static func decode(_ path: String) throws(Diagnostic) -> (pixels: [UInt8], width: Int, height: Int) {
        let bytes = try readFileBytes(path, limit: 1 << 30)
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { data in
            lowpass_decode_image(data.baseAddress, data.count, maximumPixels, &pixels, &width, &height, &message, message.count)
        }
        guard status == 0, let pixels else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Diagnostic(.badImage, "cannot decode the image: \(text)", at: SourceLocation(file: path))
        }
        defer { lowpass_free_pixels(pixels) }
        guard width > 0, height > 0 else { throw Diagnostic(.badImage, "the image is empty (\(width)x\(height))", at: SourceLocation(file: path)) }
        return (Array(UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height) * 3)), Int(width), Int(height))
    }

    /// The image's shorter side resized to `side` (the longer one in proportion, rounded down), then the
    /// centre `side` x `side` square: RGB doubles in [0, 255], row-major.
    static func resizedSquare(_ image: (pixels: [UInt8], width: Int, height: Int), side: Int) -> [Double] {
        let (w, h) = (image.width, image.height)
        let scale = Double(side) / Double(min(w, h))
        let (outW, outH) = (w <= h ? side : max(side, Int(Double(w) * scale)), h <= w ? side : max(side, Int(Double(h) * scale)))
        let (left, top) = ((outW - side) / 2, (outH - side) / 2)
        // Only the kept square's: a 2^28 x 1 image would otherwise ask for 2^41 columns' weights.
        let columns = Self.weights(input: w, output: outW, kept: left..<(left + side)), rows = Self.weights(input: h, output: outH, kept: top..<(top + side))
        // Horizontal pass over the source rows the kept rows read, into the kept columns only; then vertical.
        let firstRow = rows.map(\.first).min() ?? 0, endRow = rows.map { $0.first + $0.taps.count }.max() ?? 0
        var across = [Double](repeating: 0, count: (endRow - firstRow) * side * 3)
        for y in firstRow..<endRow {
            for x in 0..<side {
                let (first, taps) = columns[x]
                for c in 0..<3 {
                    var sum = 0.0
                    for (k, weight) in taps.enumerated() { sum += weight * Double(image.pixels[(y * w + first + k) * 3 + c]) }
                    across[((y - firstRow) * side + x) * 3 + c] = sum
                }
            }
        }
        var out = [Double](repeating: 0, count: side * side * 3)
        for y in 0..<side {
            let (first, taps) = rows[y]
            for i in 0..<(side * 3) {
                var sum = 0.0
                for (k, weight) in taps.enumerated() { sum += weight * across[(first - firstRow + k) * side * 3 + i] }
                out[y * side * 3 + i] = min(max(sum, 0), 255)
            }
        }
        return out
    }

    /// PIL's bilinear resampling weights for each kept output index: the triangle filter, widened by the
    /// reduction factor when shrinking (so every input pixel counts: no aliasing), normalized.
    static func weights(input: Int, output: Int, kept: Range<Int>) -> [(first: Int, taps: [Double])] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        return kept.map { o in
            let centre = (Double(o) + 0.5) * scale
            let first = max(Int(centre - support + 0.5), 0)
            let last = min(Int(centre + support + 0.5), input)
            var taps = (first..<max(last, first + 1)).map { x in max(0, 1 - abs((Double(x) - centre + 0.5) / filterScale)) }
            let total = taps.reduce(0, +)
            if total > 0 { taps = taps.map { $0 / total } } else { taps = [1] + Array(repeating: 0, count: taps.count - 1) }
            return (min(first, input - 1), taps)
        }
    }
}
