import ArgumentParser

/// The model a command reads: the graph file and, optionally, a weight file other than the one the
/// graph names. Shared by `run`, `bench`, `verify` and `export`.
struct ModelFile: ParsableArguments {
    @Argument(help: "The graph file (.json).")
    var model: String

    @Option(help: "The .safetensors weight file (default: the file the graph names).")
    var weights: String?
}
