import LowpassIR

/// A module of passes. Each plugin registers its passes in one place; the core knows none by name.
public protocol PassPlugin {
    static var name: String { get }
    static func register(into registry: inout PassRegistry)
}

/// Every pass Lowpass can run, by name: in-process passes that plugins registered, and
/// out-of-process `lowpass-pass-<name>` executables found on the plugin search path.
public struct PassRegistry: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var summary: String
        public var options: [PassOption]
        /// The plugin module, or the executable's path for an out-of-process pass.
        public var origin: String
        /// Out-of-process passes declare no options up front; they get whatever the pipeline says.
        public var acceptsAnyOption: Bool
        public var make: @Sendable (PassOptions) throws(PassError) -> any GraphRewrite

        public func option(_ name: String) -> PassOption? { options.first { $0.name == name } }
    }

    public private(set) var entries: [String: Entry] = [:]
    /// Folders searched for `lowpass-pass-<name>` executables, in order.
    public var pluginSearchPath: [String] = []
    /// How long an out-of-process pass may run.
    public var externalTimeout: Double = 60
    /// Bytes an out-of-process pass may write on standard output, and on standard error.
    public var externalOutputLimit = 256 << 20

    public init(plugins: [any PassPlugin.Type] = []) {
        for plugin in plugins { plugin.register(into: &self) }
    }

    public mutating func register<P: Pass>(_ pass: P.Type, plugin: String) {
        entries[P.name] = Entry(name: P.name, summary: P.summary, options: P.options, origin: plugin,
                                acceptsAnyOption: false, make: { options throws(PassError) in try P(options: options) })
    }

    /// The in-process pass named `name`, else an executable `lowpass-pass-<name>` on the search path.
    public func entry(named name: String) -> Entry? {
        if let entry = entries[name] { return entry }
        guard let executable = ExternalPass.find(name, in: pluginSearchPath) else { return nil }
        let (timeout, outputLimit) = (externalTimeout, externalOutputLimit)
        return Entry(name: name, summary: "out-of-process pass (\(executable))", options: [], origin: executable,
                     acceptsAnyOption: true,
                     make: { options in ExternalPass(name: name, executable: executable, options: options, timeout: timeout, outputLimit: outputLimit) })
    }

    /// Names of every pass, in-process and found on the search path, sorted.
    public var allNames: [String] {
        Set(entries.keys).union(ExternalPass.all(in: pluginSearchPath).map(\.name)).sorted()
    }
}
