import Foundation

/// One second of a run, for `--plot` and the JSON report's `timeline`.
public struct Tick: Codable, Sendable, Equatable {
    /// Seconds since the run started (the end of this one-second bucket).
    public var t: Double
    public var ops_per_s: Double
    public var p50_ms: Double
    public var p99_ms: Double
    public var errors: UInt64
}

/// Something that happened during the run (a new configuration epoch, a fault), drawn as a
/// vertical line.
public struct RunEvent: Codable, Sendable, Equatable {
    public var t: Double
    public var label: String

    public init(t: Double, label: String) {
        self.t = t
        self.label = label
    }
}

/// Renders a run as an SVG picture: throughput on top, p50 and p99 latency (log scale) below,
/// events as numbered vertical lines across both, and the list of events (what each changed)
/// under the charts. Pure; no dependencies.
public enum Plot {
    /// Events listed under the charts at most (the JSON report keeps them all).
    static let maxListed = 24

    /// Events closer than `minGap` (in the same units as `x`) share one mark, so their numbers
    /// never print over each other: each group is (first index, last index, position).
    static func marks(_ xs: [Double], minGap: Double) -> [(first: Int, last: Int, x: Double)] {
        var out: [(first: Int, last: Int, x: Double)] = []
        for (i, x) in xs.enumerated() {
            if let g = out.last, x - g.x < minGap { out[out.count - 1].last = i } else { out.append((i, i, x)) }
        }
        return out
    }

    public static func svg(title: String, timeline: [Tick], events: [RunEvent]) -> String {
        let listed = min(events.count, maxListed) + (events.count > maxListed ? 1 : 0)
        let w = 960.0, h = 560.0 + Double(listed) * 16 + (listed > 0 ? 12 : 0), left = 70.0, right = 20.0
        let top1 = 50.0, h1 = 200.0, top2 = 300.0, h2 = 200.0
        let tMax = max(timeline.last?.t ?? 1, events.map(\.t).max() ?? 0, 1)
        let x = { (t: Double) in left + (w - left - right) * t / tMax }
        let opsMax = max(timeline.map(\.ops_per_s).max() ?? 1, 1) * 1.1
        let y1 = { (v: Double) in top1 + h1 - h1 * v / opsMax }
        let lat = timeline.flatMap { [$0.p50_ms, $0.p99_ms] }.filter { $0 > 0 }
        let lo = max((lat.min() ?? 0.1) / 2, 0.01), hi = max((lat.max() ?? 1) * 2, lo * 10)
        let y2 = { (v: Double) in top2 + h2 - h2 * (log10(max(v, lo)) - log10(lo)) / (log10(hi) - log10(lo)) }
        func line(_ pts: [(Double, Double)], _ color: String) -> String {
            guard !pts.isEmpty else { return "" }
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" +
                pts.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ") + "\"/>\n"
        }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(left)\" y=\"24\" font-size=\"15\">\(esc(title))</text>\n"
        for (top, hh, label) in [(top1, h1, "ops/s"), (top2, h2, "latency ms (log)")] {
            out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w - left - right)\" height=\"\(hh)\" fill=\"none\" stroke=\"#888\"/>\n"
            out += "<text x=\"8\" y=\"\(top + 14)\">\(label)</text>\n"
        }
        for f in [0.0, 0.5, 1.0] {
            let v = opsMax / 1.1 * f
            out += String(format: "<text x=\"8\" y=\"%.1f\">%.0f</text>\n", y1(v) + 4, v)
        }
        var d = pow(10, floor(log10(lo)))
        while d <= hi {
            if d >= lo { out += String(format: "<text x=\"8\" y=\"%.1f\">%g</text><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", y2(d) + 4, d, left, w - right, y2(d), y2(d)) }
            d *= 10
        }
        for s in stride(from: 0.0, through: tMax, by: max(1, (tMax / 10).rounded())) {
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0fs</text>\n", x(s), top2 + h2 + 16, s)
        }
        out += line(timeline.map { (x($0.t), y1($0.ops_per_s)) }, "#1f77b4")
        out += line(timeline.filter { $0.p50_ms > 0 }.map { (x($0.t), y2($0.p50_ms)) }, "#2ca02c")
        out += line(timeline.filter { $0.p99_ms > 0 }.map { (x($0.t), y2($0.p99_ms)) }, "#d62728")
        for (n, m) in marks(events.map { x($0.t) }, minGap: 34).enumerated() {
            let name = m.first == m.last ? "\(m.first + 1)" : "\(m.first + 1)–\(m.last + 1)"
            out += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ff7f0e\" stroke-dasharray=\"4 3\"/>\n", m.x, m.x, top1, top2 + h2)
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#ff7f0e\">", m.x + 3, top1 + 12 + Double(n % 2) * 13) + name + "</text>\n"
        }
        for (i, e) in events.prefix(maxListed).enumerated() {
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#ff7f0e\">", left, top2 + h2 + 40 + Double(i) * 16)
                + esc(String(format: "%d  %.1f s  ", i + 1, e.t) + e.label) + "</text>\n"
        }
        if events.count > maxListed {
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#ff7f0e\">", left, top2 + h2 + 40 + Double(maxListed) * 16)
                + "… and \(events.count - maxListed) more (in the JSON report)</text>\n"
        }
        out += "<text x=\"\(w - 260)\" y=\"24\"><tspan fill=\"#1f77b4\">■ ops/s</tspan>  <tspan fill=\"#2ca02c\">■ p50</tspan>  <tspan fill=\"#d62728\">■ p99</tspan>  <tspan fill=\"#ff7f0e\">┆ events</tspan></text>\n"
        return out + "</svg>\n"
    }
}
