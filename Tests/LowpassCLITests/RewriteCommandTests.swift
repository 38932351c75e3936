import Foundation
import Testing
import LowpassIR
import LowpassTensor

/// `lowpass rewrite`, `passes` and `diff` as a user runs them, including out-of-process plugins.
@Suite("lowpass rewrite and plugins")
struct RewriteCommandTests {
    let example = "Graphs/examples/mnist-blurpool-small.json"

    /// A copy of the small-convnet fixture (graph + weights) in a fresh folder.
    func workspace() throws -> (folder: String, graph: String) {
        let folder = CLI.temporaryDirectory()
        for file in ["graph.json", "weights.safetensors", "input.npy"] {
            try FileManager.default.copyItem(atPath: CLI.fixture("small-convnet/" + file), toPath: folder + "/" + file)
        }
        return (folder, folder + "/graph.json")
    }

    func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test func rewritesAndKeepsTheWeightsReachable() throws {
        let (folder, graph) = try workspace()
        try FileManager.default.createDirectory(atPath: folder + "/out", withIntermediateDirectories: true)
        let before = contents(graph)
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/out/clean.json", "--passes", "remove-identity,canonicalize,dce"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("wrote \(folder)/out/clean.json: remove-identity (no change), canonicalize, dce (no change)"))
        #expect(contents(graph) == before, "the input is never modified")
        let rewritten = try Graph.load(contentsOf: folder + "/out/clean.json")
        #expect(rewritten.weightsFile == "../weights.safetensors")
        let run = try CLI.run(["run", folder + "/out/clean.json", "--input", folder + "/input.npy", "--output-dir", folder + "/y"])
        #expect(run.status == 0, "the rewritten graph finds its weights: \(run.stderr)")
    }

    @Test func refusesToOverwriteTheInputUnlessInPlace() throws {
        let (_, graph) = try workspace()
        let before = contents(graph)
        let refused = try CLI.run(["rewrite", graph, "-o", graph, "--passes", "canonicalize"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("the output is the input file; give --in-place to overwrite it [would-overwrite-input]"))
        #expect(contents(graph) == before)
        let noOutput = try CLI.run(["rewrite", graph, "--passes", "canonicalize"])
        #expect(noOutput.status != 0)
        #expect(noOutput.stderr.contains("give -o OUT.json, or --in-place"))
        let inPlace = try CLI.run(["rewrite", graph, "--in-place", "--passes", "canonicalize"])
        #expect(inPlace.status == 0, "\(inPlace.stderr)")
        #expect(contents(graph) != before)
        #expect(try Graph.load(contentsOf: graph).weightsFile == "weights.safetensors")
    }

    @Test func badPipelinesPointAtTheColumn() throws {
        let (folder, graph) = try workspace()
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/o.json", "--passes", "remove-identity,canonicalise"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("pipeline:17: unknown pass 'canonicalise'; did you mean 'canonicalize'?"))
        #expect(result.stderr.contains("  remove-identity,canonicalise\n                  ^"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/o.json"))
    }

    @Test func instrumentationFlagsReachStandardError() throws {
        let dump = CLI.temporaryDirectory() + "/dump"
        let result = try CLI.run(["rewrite", example, "-o", CLI.temporaryDirectory() + "/o.json", "--passes", "canonicalize,dce",
                                  "--print-after", "dce", "--print-changed", "--time-passes", "--dump-dir", dump, "--remarks"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("// -----// Graph after dce //----- //"))
        #expect(result.stderr.contains("// -----// Changed by canonicalize //----- //"))
        #expect(result.stderr.contains("-  %net.6: f32[N,64,12,12] = BlurPool(net.5) {filter_size=3, pad_mode=reflect}"))
        #expect(result.stderr.contains("Pass execution timing report"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dump).count == 9)
    }

    @Test func antialiasReportsItsTableAlsoAfterPrintAfter() throws {
        let result = try CLI.run(["rewrite", "Graphs/resnet18.json", "-o", CLI.temporaryDirectory() + "/aa.json",
                                  "--passes", "antialias{max-pool-kernel=2}", "--print-after", "antialias"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("// antialias report:"))
        #expect(result.stderr.contains("layer2.0.downsample.0  Conv 1x1 (linear) -> BlurPool + Conv(stride 1)"))
        #expect(result.stderr.contains("multiply-adds per sample: 1814073344 -> 2341724160 (x1.291)"))
    }

    @Test func passesListsEveryPassWithItsOptions() throws {
        let result = try CLI.run(["passes", "--plugin-path", "Plugins/Example"])
        for name in ["dce", "remove-identity", "canonicalize", "set-metadata"] { #expect(result.stdout.contains(name)) }
        #expect(result.stdout.contains("[Cleanup]"))
    }

    @Test func diffShowsNodesAndEdges() throws {
        let out = CLI.temporaryDirectory() + "/clean.json"
        _ = try CLI.run(["rewrite", CLI.fixture("ops-mix/graph.json"), "-o", out, "--passes", "remove-identity,canonicalize,dce"])
        let result = try CLI.run(["diff", CLI.fixture("ops-mix/graph.json"), out])
        #expect(result.status == 1, "different graphs, as diff(1)")
        #expect(result.stdout.contains("- node head.matmul: MatMul(r, head.weight)"))
        #expect(result.stdout.contains("~ node head.add: op Add -> Gemm; inputs (mm, head.bias) -> (r, head.weight, head.bias)"))
        #expect(result.stdout.contains("+ edge reshape -> head.add (r)"))
        #expect(result.stdout.contains("0 nodes added, 3 removed"))
        let same = try CLI.run(["diff", out, out])
        #expect(same.status == 0 && same.stdout.contains("no difference"))
    }

    // Out-of-process plugins.

    @Test func theExamplePluginRunsEndToEnd() throws {
        let (folder, graph) = try workspace()
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/stamped.json", "--plugin-path", "Plugins/Example",
                                  "--passes", #"set-metadata{license=CC-BY-4.0,note="a, b",epochs=3},dce"#])
        #expect(result.status == 0, "\(result.stderr)")
        let stamped = try Graph.load(contentsOf: folder + "/stamped.json")
        #expect(stamped.metadata == ["license": "CC-BY-4.0", "note": "a, b", "epochs": "3"])
        #expect(stamped.nodes == (try Graph.load(contentsOf: graph)).nodes)
    }

    @Test func thePluginPathMayComeFromTheEnvironment() throws {
        let (folder, graph) = try workspace()
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["rewrite", graph, "-o", folder + "/s.json", "--passes", "set-metadata{k=v}"]
        process.currentDirectoryURL = URL(fileURLWithPath: CLI.repository)
        process.environment = ProcessInfo.processInfo.environment.merging(["LOWPASS_PLUGIN_PATH": CLI.repository + "/Plugins/Example"]) { $1 }
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Writes an executable `lowpass-pass-<name>` shell script into a fresh folder.
    func plugin(_ name: String, _ body: String) throws -> String {
        let folder = CLI.temporaryDirectory()
        let path = folder + "/lowpass-pass-" + name
        try CLI.write("#!/bin/sh\n" + body + "\n", to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return folder
    }

    /// Runs a misbehaving plugin and checks the error names it, and that nothing was written or changed.
    func expectPluginFailure(_ name: String, _ body: String, timeout: String = "60", outputLimit: String = "256", _ expected: String,
                             sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let (folder, graph) = try workspace()
        let before = contents(graph)
        let plugins = try plugin(name, body)
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/out.json", "--plugin-path", plugins,
                                  "--plugin-timeout", timeout, "--plugin-output-limit", outputLimit, "--passes", "dce,\(name)"])
        #expect(result.exitedNormally, sourceLocation: sourceLocation)
        #expect(result.status == 1, sourceLocation: sourceLocation)
        #expect(result.stderr.contains("pass '\(name)': plugin \(plugins)/lowpass-pass-\(name) \(expected)"), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(contents(graph) == before, sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.json"), sourceLocation: sourceLocation)
    }

    @Test func aCrashingPluginIsNamed() throws {
        try expectPluginFailure("crash", "cat > /dev/null; echo 'segfaulting now' >&2; kill -SEGV $$", "crashed (signal 11); its standard error ends: segfaulting now")
    }

    @Test func aFailingPluginIsNamed() throws {
        try expectPluginFailure("fail", "echo 'no luck' >&2; exit 3", "exited with status 3; its standard error ends: no luck")
    }

    @Test func aHangingPluginIsStopped() throws {
        let start = Date()
        try expectPluginFailure("hang", "sleep 30", timeout: "1", "did not answer within 1.0 seconds and was stopped")
        #expect(Date().timeIntervalSince(start) < 20)
    }

    /// A plugin printing without end is stopped at the output limit, not at the timeout (`yes` grew
    /// Lowpass to 1.1 GB in 3 s), on either stream.
    @Test func aFloodingPluginIsStopped() throws {
        let start = Date()
        try expectPluginFailure("flood", "cat > /dev/null; yes", outputLimit: "1", "wrote more than 1048576 bytes on its standard output and was stopped")
        try expectPluginFailure("floodlog", "cat > /dev/null; yes >&2", outputLimit: "1", "wrote more than 1048576 bytes on its standard error and was stopped")
        #expect(Date().timeIntervalSince(start) < 30)
    }

    /// A plugin's terminal escapes are shown, not obeyed.
    @Test func aPluginsControlCharactersAreNotPrinted() throws {
        try expectPluginFailure("colour", #"printf '\033[31mred\033[0m\n' >&2; exit 3"#, "exited with status 3; its standard error ends: ?[31mred?[0m")
    }

    /// Only an executable regular file is a plugin: a folder named like one is not.
    @Test func aFolderIsNotAPlugin() throws {
        let (folder, graph) = try workspace()
        let plugins = CLI.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: plugins + "/lowpass-pass-folder", withIntermediateDirectories: true)
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/out.json", "--plugin-path", plugins, "--passes", "folder"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown pass 'folder'"), "\(result.stderr)")
        #expect(!(try CLI.run(["passes", "--plugin-path", plugins]).stdout.contains("lowpass-pass-folder")))
    }

    @Test func garbageIsRejected() throws {
        try expectPluginFailure("garbage", "cat > /dev/null; echo 'this is not json'", "answered something that is not JSON")
    }

    @Test func aNonGraphIsRejected() throws {
        try expectPluginFailure("nongraph", #"cat > /dev/null; echo '{"format": "lowpass-graph", "version": 1}'"#,
                                "answered JSON that is not a valid graph")
    }

    @Test func anErrorObjectIsReported() throws {
        try expectPluginFailure("refuse", #"cat > /dev/null; echo '{"error": "graph has no convs"}'"#, "reported an error: graph has no convs")
    }

    @Test func aPluginThatBreaksTheGraphIsCaughtByVerifyEach() throws {
        let (folder, graph) = try workspace()
        // Answers the graph with its first node's first input renamed to something undefined.
        let plugins = try plugin("dangle", """
            exec python3 -c 'import json, sys
            graph = json.load(sys.stdin)["graph"]
            graph["nodes"][0]["inputs"][0] = "dangling"
            print(json.dumps(graph))'
            """)
        let result = try CLI.run(["rewrite", graph, "-o", folder + "/out.json", "--plugin-path", plugins, "--passes", "dangle"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("pass 'dangle' produced an invalid graph:"), "\(result.stderr)")
        #expect(result.stderr.contains("'dangling'"))
    }
}

@Suite("lowpass rewrite with weight-changing passes")
struct WeightRewriteTests {
    @Test func foldBNWritesNewWeightsBesideTheOutput() throws {
        let folder = CLI.temporaryDirectory()
        for file in ["graph.json", "weights.safetensors", "input.npy", "expected.npy"] {
            try FileManager.default.copyItem(atPath: CLI.fixture("small-convnet/" + file), toPath: folder + "/" + file)
        }
        let before = FileManager.default.contents(atPath: folder + "/weights.safetensors")
        var result = try CLI.run(["rewrite", folder + "/graph.json", "-o", folder + "/folded.json", "--passes", "fold-bn,dce", "--remarks"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("folded 2 BatchNormalization node(s)"))
        let folded = try Graph.load(contentsOf: folder + "/folded.json")
        #expect(folded.weightsFile == "folded.safetensors")
        #expect(!folded.nodes.contains { $0.op == .batchNormalization })
        #expect(FileManager.default.contents(atPath: folder + "/weights.safetensors") == before, "the input's weights are untouched")
        result = try CLI.run(["run", folder + "/folded.json", "--input", folder + "/input.npy", "--output-dir", folder + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        let difference = try NPY.read(contentsOf: folder + "/out/y.npy").difference(to: try NPY.read(contentsOf: folder + "/expected.npy"))
        #expect(difference.relative < 1e-5)
        // Writing the new weights over the input's own file needs --in-place.
        result = try CLI.run(["rewrite", folder + "/graph.json", "-o", folder + "/weights.json", "--passes", "fold-bn"])
        #expect(result.status == 1 && result.stderr.contains("[would-overwrite-input]"))
    }
}
