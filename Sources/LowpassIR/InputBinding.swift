extension Graph {
    /// Checks the shapes of the given inputs against the declared ones and returns the sizes of
    /// symbolic dimensions. Every engine binds its inputs through this one rule.
    public func bindInputs(shapes inputs: [String: [Int]]) throws(Diagnostics) -> [String: Int] {
        var findings: [Diagnostic] = []
        var binding: [String: Int] = [:]
        for name in inputs.keys.sorted() where !self.inputs.contains(where: { $0.name == name }) {
            findings.append(Diagnostic(.unknownInput, "the graph has no input '\(name)'; its inputs are: \(self.inputs.map(\.name).joined(separator: ", "))"))
        }
        for declared in self.inputs {
            guard let shape = inputs[declared.name] else {
                findings.append(Diagnostic(.missingInput, "no tensor given for graph input '\(declared.name)' of type \(declared.type)"))
                continue
            }
            let mismatch = Diagnostic(.inputShape, "input '\(declared.name)' has shape \(shape), but the graph declares \(declared.type)")
            guard shape.count == declared.type.rank else { findings.append(mismatch); continue }
            // One finding per input, however many of its dimensions differ.
            if zip(declared.type.shape, shape).contains(where: { if case .fixed(let expected) = $0.0 { expected != $0.1 } else { false } }) {
                findings.append(mismatch)
            }
            for (dim, n) in zip(declared.type.shape, shape) {
                switch dim {
                case .symbol(let s):
                    if let bound = binding[s], bound != n {
                        findings.append(Diagnostic(.inputShape, "input '\(declared.name)' gives '\(s)' = \(n), but another input gave \(bound)"))
                    }
                    binding[s] = n
                default: break
                }
            }
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        return binding
    }
}
