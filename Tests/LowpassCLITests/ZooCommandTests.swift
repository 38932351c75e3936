import Foundation
import Testing

@Suite("lowpass zoo")
struct ZooCommandTests {
    @Test func listShowsInputSizeParametersAndMultiplyAdds() throws {
        let result = try CLI.run(["zoo", "list"])
        #expect(result.status == 0)
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("resnet50 ") })
        #expect(line.contains("torchvision") && line.contains("3x224x224") && line.contains("25,557,032") && line.contains("4.09 G"))
        #expect(result.stdout.contains("resnetrs50") && result.stdout.contains("3x160x160"))
        #expect(result.stdout.split(separator: "\n").count == 34, "a header and 33 models")
    }

    @Test func buildWritesTheCommittedGraph() throws {
        let out = CLI.temporaryDirectory() + "/r18.json"
        let result = try CLI.run(["zoo", "build", "resnet18", "-o", out])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.contents(atPath: out) == FileManager.default.contents(atPath: CLI.repository + "/Graphs/resnet18.json"))
    }

    @Test func unknownModelsAreNamedWithASuggestion() throws {
        let result = try CLI.run(["zoo", "build", "resnt50", "-o", CLI.temporaryDirectory() + "/x.json"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no zoo model 'resnt50' (did you mean 'resnet50'?)"))
    }

    @Test func everyZooGraphVerifies() throws {
        let graphs = try FileManager.default.contentsOfDirectory(atPath: CLI.repository + "/Graphs").filter { $0.hasSuffix(".json") }
        #expect(graphs.count == 33)
        for graph in ["resnet50.json", "resnetrs420.json", "densenet201.json", "seed-acnet.json"] {
            let result = try CLI.run(["verify", "Graphs/" + graph])
            #expect(result.status == 0 && result.stdout.hasPrefix("ok:"), "\(graph): \(result.stderr)")
        }
    }
}
