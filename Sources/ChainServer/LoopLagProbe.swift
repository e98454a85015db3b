/// How late the event loop runs a timer due every `intervalMs`: the gap between two firings
/// beyond the interval is time the loop spent elsewhere — a long turn, or the process waiting for
/// a core. Recorded as `chainstore_event_loop_lag_seconds`, the loop's own view of the stalls
/// clients see as slow replies.
struct LoopLagProbe {
    static let intervalMs = 100
    private var lastNanos: UInt64?

    /// The lag this firing at monotonic time `now` shows, in seconds (nil for the first firing).
    mutating func fired(atNanos now: UInt64) -> Double? {
        defer { lastNanos = now }
        guard let last = lastNanos, now >= last else { return nil }
        let interval = UInt64(Self.intervalMs) * 1_000_000
        let gap = now - last
        return gap > interval ? Double(gap - interval) / 1e9 : 0
    }
}
