import LowpassIR

/// Weights that Swift and a few lines of NumPy produce bit for bit, so that a network's output can
/// be checked against PyTorch without committing its weights: each element is a pure function of the
/// tensor's name and the element's index (a counter-based generator).
///
/// Element i of tensor `name`: z = SplitMix64 step number i+1 from seed FNV-1a-64(name);
/// u = (z >> 40) / 2^24 in [0, 1). The value, computed in double and rounded once to f32, is
/// chosen by name and rank, first match wins:
/// `input`: 2u-1; `*running_var`: 0.5+u; `*running_mean`: (2u-1)*0.1; rank 1 `*weight`: 0.8+0.4u;
/// rank 1 `*bias`: (2u-1)*0.1; rank >= 2: (2u-1)*sqrt(6/fan_in); anything else: (2u-1)*0.1.
/// The Python twin is `recipe()` in Tests/Fixtures/zoo/generate.py.
public enum SeededRecipe {
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return hash
    }

    /// The uniform variate of element `index` of the tensor seeded with `seed`.
    static func uniform(seed: UInt64, index: Int) -> Double {
        var z = seed &+ UInt64(index + 1) &* 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        z = z ^ (z >> 31)
        return Double(z >> 40) / 16_777_216
    }

    public static func tensor(named name: String, shape: [Int]) -> Tensor {
        let seed = fnv1a(name)
        let value: (Double) -> Double
        if name == "input" {
            value = { 2 * $0 - 1 }
        } else if name.hasSuffix("running_var") {
            value = { 0.5 + $0 }
        } else if name.hasSuffix("running_mean") {
            value = { (2 * $0 - 1) * 0.1 }
        } else if shape.count == 1 && name.hasSuffix("weight") {
            value = { 0.8 + 0.4 * $0 }
        } else if shape.count == 1 && name.hasSuffix("bias") {
            value = { (2 * $0 - 1) * 0.1 }
        } else if shape.count >= 2 {
            let bound = (6.0 / Double(max(shape.dropFirst().reduce(1, *), 1))).squareRoot()
            value = { (2 * $0 - 1) * bound }
        } else {
            value = { (2 * $0 - 1) * 0.1 }
        }
        return Tensor(shape: shape) { Float(value(uniform(seed: seed, index: $0))) }
    }

    /// Every parameter of `graph` from the recipe (inline constants keep their values).
    public static func weights(for graph: Graph) -> Weights {
        var weights = Weights()
        for parameter in graph.parameters {
            guard let shape = parameter.type.fixedShape else { continue }
            weights.tensors[parameter.name] = parameter.inlineData.map { Tensor(shape: shape, values: $0) }
                ?? tensor(named: parameter.name, shape: shape)
        }
        return weights
    }
}
