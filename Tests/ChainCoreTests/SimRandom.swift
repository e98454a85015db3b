import ChainCore

/// Simulations draw from `SeededRandom` (ChainCore) so a failing seed replays exactly.
typealias SimRandom = SeededRandom

/// A time-ordered event queue for simulations (ties broken by insertion order).
struct EventQueue<E> {
    private var heap: [(time: UInt64, order: UInt64, event: E)] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ time: UInt64, _ e: E) {
        counter += 1
        heap.append((time, counter, e))
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if less(i, p) { heap.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> (UInt64, E)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(l, m) { m = l }
            if r < heap.count && less(r, m) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.event)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].time != heap[b].time ? heap[a].time < heap[b].time : heap[a].order < heap[b].order
    }
}

/// A simulated network: each link (from → to) is FIFO, with an independent random delay, so
/// messages reorder across links but never on one link.
struct SimLinks {
    private var busyUntil: [String: UInt64] = [:]

    /// When a message sent now on `from → to` arrives.
    mutating func arrival(from: NodeID, to: NodeID, now: UInt64, maxDelay: Int, rng: inout SimRandom) -> UInt64 {
        let link = from + ">" + to
        let t = max(now + UInt64(1 + rng.below(maxDelay)), busyUntil[link] ?? 0)
        busyUntil[link] = t
        return t
    }
}
