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

/// The updates simulated nodes queued in their current loop turn, per peer and chain. As in
/// `ChainNode.flushFrames`, a turn's updates for one chain and peer travel as one frame when the
/// turn ends; a turn may span several events, so a resend can land behind newer updates in the
/// same frame (`ChainReplicaOrderTests`).
struct TurnOutbox {
    private var queued: [NodeID: [NodeID: [ChainID: [Update]]]] = [:]

    mutating func queue(from: NodeID, to: NodeID, chain: ChainID, _ updates: [Update]) {
        queued[from, default: [:]][to, default: [:]][chain, default: []] += updates
    }

    /// A crashed node's turn is lost with it.
    mutating func drop(_ node: NodeID) { queued[node] = nil }

    /// Ends `node`'s turn: its frames, in a fixed order (dictionary order is not reproducible).
    mutating func take(_ node: NodeID) -> [(to: NodeID, chain: ChainID, updates: [Update])] {
        guard let out = queued.removeValue(forKey: node) else { return [] }
        return out.keys.sorted().flatMap { to in out[to]!.keys.sorted().map { (to, $0, out[to]![$0]!) } }
    }

    /// After each event: most turns end with it, some go on through later events. Returns the
    /// nodes whose turn ends now and, for the others, how long theirs goes on.
    mutating func endings(_ rng: inout SimRandom) -> (now: [NodeID], later: [(NodeID, UInt64)]) {
        var now: [NodeID] = [], later: [(NodeID, UInt64)] = []
        for id in queued.keys.sorted() {
            if rng.below(100) < 60 { now.append(id) } else { later.append((id, UInt64(1 + rng.below(8)))) }
        }
        return (now, later)
    }
}
