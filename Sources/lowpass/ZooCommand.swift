import ArgumentParser
import Foundation
import LowpassIR
import LowpassZoo

struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "The built-in model zoo: torchvision and timm architectures and the seed networks.",
        subcommands: [List.self, Build.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every model with its input size, parameters and multiply-adds.")

        func run() throws {
            print("name".padding(toLength: 20, withPad: " ", startingAt: 0) + "source       input        parameters   multiply-adds")
            for model in Zoo.models {
                let verified: VerifiedGraph
                do { verified = try model.graph().verify() } catch { throw fail(error) }
                let columns = [
                    model.name.padding(toLength: 20, withPad: " ", startingAt: 0),
                    model.source.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0),
                    model.inputSize.map(String.init).joined(separator: "x").padding(toLength: 13, withPad: " ", startingAt: 0),
                    grouped(verified.parameterCount).padding(toLength: 13, withPad: " ", startingAt: 0),
                    scaled(verified.totalMultiplyAdds),
                ]
                print(columns.joined())
            }
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a zoo model's graph file (structure only; parameters take the reference's state_dict names).")

        @Argument(help: "Model names (see 'lowpass zoo list').")
        var names: [String] = []

        @Flag(help: "Build every model.")
        var all = false

        @Option(name: .shortAndLong, help: "The output file (one model only).")
        var output: String?

        @Option(help: "The folder for <name>.json files.")
        var outputDir: String?

        func validate() throws {
            if names.isEmpty && !all { throw ValidationError("name a model, or give --all") }
            if output != nil && (all || names.count != 1) { throw ValidationError("-o takes one model; use --output-dir for several") }
            if output == nil && outputDir == nil { throw ValidationError("give -o FILE or --output-dir DIR") }
        }

        func run() throws {
            let models: [ZooModel]
            if all {
                models = Zoo.models
            } else {
                models = try names.map { name throws(ExitCode) in
                    guard let model = Zoo.model(named: name) else {
                        let hint = closestName(to: name, in: Zoo.models.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                        throw fail(Diagnostic(.unknownModel, "no zoo model '\(name)'\(hint); 'lowpass zoo list' shows them all"))
                    }
                    return model
                }
            }
            for model in models {
                let path = output ?? ((outputDir ?? ".") as NSString).appendingPathComponent(model.name + ".json")
                do { try writeAtomically(model.graph().jsonText(), to: path) } catch { throw fail(error) }
                print("wrote \(path)")
            }
        }
    }
}
