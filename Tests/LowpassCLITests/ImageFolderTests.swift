import Foundation
import LowpassIR
import LowpassTensor
import Testing

/// `consistency --images DIR`: PNG and JPEG files decoded by libpng and libjpeg-turbo and resized as
/// torchvision's `Resize` + `CenterCrop` on PIL images do (Tests/Fixtures/images/make_images.py writes
/// the images and what PIL makes of them; needs Pillow, which torchvision brings).
@Suite("Image folders")
struct ImageFolderTests {
    func makeImages(side: Int) throws -> String {
        let folder = CLI.temporaryDirectory()
        let made = try CLI.run(["python3", CLI.fixture("images/make_images.py"), folder, "\(side)"], program: URL(fileURLWithPath: "/usr/bin/env"))
        try #require(made.status == 0, "make_images.py failed (is Pillow installed? torchvision brings it): \(made.stderr)")
        return folder
    }

    /// RGB and grayscale, PNG and JPEG, portrait and landscape, up- and downscaled: within PIL's own
    /// 8-bit rounding of each pass (one level in 255), labels from the class subfolders in sorted order.
    @Test(arguments: [24, 40])
    func imagesMatchPIL(side: Int) throws {
        let folder = try makeImages(side: side)
        let loaded = try ImageFolder(contentsOf: folder + "/classes", side: side, channels: 3)
        let expected = try NPY.read(contentsOf: folder + "/expected.npy")
        #expect(loaded.images.shape == expected.shape)
        var worst: Float = 0
        for (a, b) in zip(loaded.images.values, expected.values) { worst = max(worst, abs(a - b)) }
        #expect(worst <= 1.5 / 255, "largest difference from PIL: \(worst * 255) levels")
        #expect(loaded.labels == [0, 0, 0, 1, 1, 1])
        #expect(loaded.files.map { ($0 as NSString).lastPathComponent } == ["a.png", "b.jpg", "c.png", "d.jpeg", "e.png", "f.jpg"])
        // 2000 x 1 pixels: only the kept square's weights and rows are computed.
        let thin = try ImageFolder(contentsOf: folder + "/tall", side: side, channels: 3)
        let thinExpected = try NPY.read(contentsOf: folder + "/expected_tall.npy")
        #expect(thin.labels == nil && zip(thin.images.values, thinExpected.values).allSatisfy { abs($0 - $1) <= 1.5 / 255 })
        let gray = try ImageFolder(contentsOf: folder + "/classes", side: side, channels: 1)
        #expect(gray.images.shape == [6, 1, side, side])
        let plane = side * side
        let luminance = (0..<plane).map { 0.299 * expected[$0] + 0.587 * expected[plane + $0] + 0.114 * expected[2 * plane + $0] }
        #expect(zip(gray.images.values.prefix(plane), luminance).allSatisfy { abs($0 - $1) <= 1.5 / 255 })
    }

    /// Damaged and foreign files are errors naming the file, never a crash; an empty folder says what it wanted.
    @Test func brokenFilesAreErrorsNamingTheFile() throws {
        let folder = try makeImages(side: 8)
        for name in ["text.png", "half.jpg", "cut.png"] {
            let single = CLI.temporaryDirectory()
            try FileManager.default.copyItem(atPath: folder + "/broken/" + name, toPath: single + "/" + name)
            do {
                _ = try ImageFolder(contentsOf: single, side: 8, channels: 3)
                Issue.record("\(name) was read")
            } catch {
                #expect(error.id == .badImage && error.description.contains(name), "\(error)")
            }
        }
        let empty = CLI.temporaryDirectory()
        #expect(throws: Diagnostic.self) { try ImageFolder(contentsOf: empty, side: 8, channels: 3) }
        let result = try CLI.run(["consistency", CLI.repository + "/Graphs/examples/demo/digits.json", "--images", folder + "/broken", "--no-normalize"])
        #expect(result.status == 1 && result.exitedNormally && result.stderr.contains("[bad-image]"), "\(result.stderr)")
    }

    /// The demo classifier measured on a folder: it takes 1 channel of 32, so the images are read as
    /// luminance at 32 + R; the subfolders give the labels, so accuracy is reported.
    @Test func consistencyReadsAFolder() throws {
        let folder = try makeImages(side: 8)
        let result = try CLI.run(["consistency", CLI.repository + "/Graphs/examples/demo/digits.json", "--images", folder + "/classes",
                                  "--shift-range", "4", "--epochs", "1", "--no-normalize", "--json", folder + "/report.json", "--quiet"])
        try #require(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json"))) as? [String: Any]
        let model = try #require((report?["models"] as? [[String: Any]])?.first)
        #expect(model["accuracy"] is Double, "labels from the class subfolders")
        #expect(result.stdout.contains("6 images"), "\(result.stdout)")
    }
}
