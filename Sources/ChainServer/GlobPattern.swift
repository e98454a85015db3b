/// Redis's glob patterns (`KEYS`, `SCAN … MATCH`): `*`, `?`, `[abc]`, `[^a-z]`, and `\` to take
/// the next byte literally. Byte-wise, like Redis's `stringmatchlen`. Matching backtracks only
/// to the last `*` (a later star covers whatever an earlier one could), so it takes at most
/// pattern × string steps: no pattern can hold the event loop for long.
struct GlobPattern {
    let pattern: [UInt8]

    init(_ pattern: [UInt8]) { self.pattern = pattern }

    /// `*` alone matches everything: callers skip matching then.
    var matchesEverything: Bool { pattern == [Self.star] }

    private static let star = UInt8(ascii: "*"), question = UInt8(ascii: "?"), open = UInt8(ascii: "[")
    private static let close = UInt8(ascii: "]"), caret = UInt8(ascii: "^"), dash = UInt8(ascii: "-"), escape = UInt8(ascii: "\\")

    func matches(_ s: [UInt8]) -> Bool {
        let p = pattern
        var pi = 0, si = 0
        var starAt = -1, starFrom = 0
        while si < s.count {
            if pi < p.count {
                if p[pi] == Self.star {
                    starAt = pi
                    starFrom = si
                    pi += 1
                    continue
                }
                if let width = matchOne(at: pi, s[si]) {
                    pi += width
                    si += 1
                    continue
                }
            }
            // Mismatch: let the last star swallow one more byte, or fail.
            guard starAt >= 0 else { return false }
            starFrom += 1
            si = starFrom
            pi = starAt + 1
        }
        while pi < p.count && p[pi] == Self.star { pi += 1 }
        return pi == p.count
    }

    /// Whether the pattern element at `pi` (not a star) matches byte `b`: the element's width if
    /// it does, nil if not.
    private func matchOne(at pi: Int, _ b: UInt8) -> Int? {
        let p = pattern
        switch p[pi] {
        case Self.question:
            return 1
        case Self.escape where pi + 1 < p.count:
            return p[pi + 1] == b ? 2 : nil
        case Self.open:
            var i = pi + 1
            let negate = i < p.count && p[i] == Self.caret
            if negate { i += 1 }
            var matched = false
            while i < p.count && p[i] != Self.close {
                if p[i] == Self.escape && i + 1 < p.count {
                    if p[i + 1] == b { matched = true }
                    i += 2
                } else if i + 2 < p.count && p[i + 1] == Self.dash && p[i + 2] != Self.close {
                    let lo = min(p[i], p[i + 2]), hi = max(p[i], p[i + 2])
                    if b >= lo && b <= hi { matched = true }
                    i += 3
                } else {
                    if p[i] == b { matched = true }
                    i += 1
                }
            }
            if i < p.count { i += 1 }  // the closing bracket
            return matched != negate ? i - pi : nil
        default:
            return p[pi] == b ? 1 : nil
        }
    }
}
