import Histogram
import LinCheck

/// What one worker measured; workers keep their own and the runner adds them up at the end, so
/// the hot path takes no lock.
struct LoadStats {
    var hist: [Operation: Histogram<UInt64>] = [:]
    var errors: [Operation: [String: UInt64]] = [:]
    /// Measured reads (GET) that found no value.
    var misses: UInt64 = 0
    /// Per second since the start (warm-up included): latencies and errors, for the timeline.
    var seconds: [Int: Histogram<UInt64>] = [:]
    var secondErrors: [Int: UInt64] = [:]
    /// Measured successful operations by serving node and by chain (cluster targets).
    var byNode: [String: UInt64] = [:]
    var byChain: [Int: UInt64] = [:]
    /// Every operation with its invocation and completion (`--check` runs).
    var history: [HistoryOp] = []

    mutating func add(_ o: LoadStats) {
        for (op, h) in o.hist {
            if hist[op] == nil { hist[op] = h } else { hist[op]!.add(h) }
        }
        misses += o.misses
        for (op, es) in o.errors { for (k, v) in es { errors[op, default: [:]][k, default: 0] += v } }
        for (sec, h) in o.seconds {
            if seconds[sec] == nil { seconds[sec] = h } else { seconds[sec]!.add(h) }
        }
        for (sec, n) in o.secondErrors { secondErrors[sec, default: 0] += n }
        for (k, n) in o.byNode { byNode[k, default: 0] += n }
        for (k, n) in o.byChain { byChain[k, default: 0] += n }
        history += o.history
    }

    /// Latencies in microseconds, up to a minute, three significant digits.
    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    /// One tick per second of a run that lasted `runSeconds`, warm-up included. The last second
    /// is usually cut short by the end of the run: its rate counts over the part that ran (a
    /// full-second divisor would draw a drop that never happened), and a sliver under 0.2 s,
    /// too short to say anything, is left out.
    func timeline(runSeconds: Double) -> [Tick] {
        let last = max(seconds.keys.max() ?? -1, secondErrors.keys.max() ?? -1)
        guard last >= 0 else { return [] }
        return (0...last).compactMap { s in
            let h = seconds[s]
            let span = min(1, max(0, runSeconds - Double(s)))
            if s == last && span < 0.2 { return nil }
            let width = s == last && span > 0 ? span : 1
            return Tick(t: Double(s) + width, ops_per_s: Double(h?.totalCount ?? 0) / width,
                        p50_ms: h.map { Double($0.valueAtPercentile(50)) / 1000 } ?? 0,
                        p99_ms: h.map { Double($0.valueAtPercentile(99)) / 1000 } ?? 0, errors: secondErrors[s] ?? 0)
        }
    }
}
