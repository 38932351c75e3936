import Foundation

/// The diagonal protocol's curves, one per model, as a plain SVG line chart (the paper's Figure 1):
/// x the diagonal shift, y the mean probability of the true (or shift-0) class.
enum ConsistencyPlot {
    static func svg(_ curves: [(name: String, values: [Double])], labelled: Bool) -> String {
        let (width, height, margin) = (640.0, 400.0, 56.0)
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
        let all = curves.flatMap(\.values)
        var (low, high) = ((all.min() ?? 0), (all.max() ?? 1))
        if high - low < 1e-6 { (low, high) = (low - 0.05, high + 0.05) }
        let pad = (high - low) * 0.08
        (low, high) = (max(0, low - pad), min(1, high + pad))
        let shifts = max((curves.map(\.values.count).max() ?? 1) - 1, 1)
        func x(_ i: Int) -> Double { margin + (width - 1.5 * margin) * Double(i) / Double(shifts) }
        func y(_ v: Double) -> Double { height - margin - (height - 1.7 * margin) * (v - low) / max(high - low, 1e-12) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<line x1=\"\(f(margin))\" y1=\"\(f(height - margin))\" x2=\"\(f(width - margin / 2))\" y2=\"\(f(height - margin))\" stroke=\"black\"/>",
                   "<line x1=\"\(f(margin))\" y1=\"\(f(height - margin))\" x2=\"\(f(margin))\" y2=\"\(f(margin * 0.7))\" stroke=\"black\"/>"]
        for tick in stride(from: 0, through: shifts, by: max(1, shifts / 8)) {
            out.append("<text x=\"\(f(x(tick)))\" y=\"\(f(height - margin + 16))\" text-anchor=\"middle\">\(tick)</text>")
        }
        for k in 0...4 {
            let v = low + (high - low) * Double(k) / 4
            out.append("<text x=\"\(f(margin - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(String(format: "%.3f", v))</text>")
        }
        out.append("<text x=\"\(f(width / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\">diagonal shift (pixels)</text>")
        out.append("<text x=\"14\" y=\"\(f(height / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f(height / 2)))\">p(\(labelled ? "true class" : "shift-0 class"))</text>")
        for (i, curve) in curves.enumerated() {
            let color = colors[i % colors.count]
            let points = curve.values.enumerated().map { "\(f(x($0.offset))),\(f(y($0.element)))" }.joined(separator: " ")
            out.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>")
            let name = (curve.name as NSString).lastPathComponent.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            out.append("<text x=\"\(f(margin + 12))\" y=\"\(f(margin * 0.7 + 16 * Double(i + 1)))\" fill=\"\(color)\">\(name)</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
