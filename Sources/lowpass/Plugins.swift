import Antialias
import Cleanup
import Reparam
import Foundation
import LowpassPasses

/// The in-process plugins this build links. Adding a plugin is adding it here and to Package.swift.
var linkedPlugins: [any PassPlugin.Type] { [AntialiasPlugin.self, CleanupPlugin.self, ReparamPlugin.self] }

/// The registry: linked plugins, plus out-of-process passes on `--plugin-path` and `LOWPASS_PLUGIN_PATH`.
func makeRegistry(pluginPaths: [String], timeout: Double? = nil, outputLimit: Int? = nil) -> PassRegistry {
    var registry = PassRegistry(plugins: linkedPlugins)
    let environment = ProcessInfo.processInfo.environment["LOWPASS_PLUGIN_PATH"]?.split(separator: ":").map(String.init) ?? []
    registry.pluginSearchPath = pluginPaths + environment
    if let timeout { registry.externalTimeout = timeout }
    if let outputLimit { registry.externalOutputLimit = outputLimit }
    return registry
}
