import ArgumentParser
import LowpassPasses

struct PassesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passes",
        abstract: "List every pass with its options, defaults and help.")

    @Option(name: .customLong("plugin-path"), help: ArgumentHelp("Also list lowpass-pass-<name> executables in this folder (repeatable).", valueName: "DIR"))
    var pluginPaths: [String] = []

    func run() {
        let registry = makeRegistry(pluginPaths: pluginPaths)
        for name in registry.allNames {
            guard let entry = registry.entry(named: name) else { continue }
            print("\(entry.name)  [\(entry.origin)]")
            print("    \(entry.summary)")
            for option in entry.options {
                print("    \(option.name)=<\(option.typeDescription)>  default \(option.defaultValue)  \(option.help)")
            }
        }
    }
}
