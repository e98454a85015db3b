/// Checks that a history of reads and writes on registers is linearizable: that there is one
/// order of the operations, consistent with real time (an operation that completed before
/// another was invoked comes first), in which every read returns the latest write.
///
/// Keys are independent registers, so each key is checked on its own. Per key the search is
/// Wing & Gong's: repeatedly pick an operation that may come next — one invoked before every
/// pending operation completed — apply it to the register, backtrack when a read disagrees.
/// Visited (set of linearized operations, register value) states are memoized, as in Lowe's
/// refinement, so equivalent orders are not explored twice. Completed operations of one client
/// that carry a `sequence` must also take effect in that order (session order: a pipelined read
/// sees the same client's earlier write even though both were in flight together). Writes with an unknown outcome may
/// take effect at any point after their invocation, or never; reads with an unknown outcome tell
/// nothing and are ignored.
public enum LinearizabilityChecker {
    public enum Verdict: Sendable, Equatable {
        case linearizable
        /// No valid order exists for `key`; `operations` are that key's history, in invocation
        /// order, for the report.
        case violation(key: [UInt8], operations: [HistoryOp], reason: String)
        /// The search for `key` exceeded its budget; nothing was proven.
        case unknown(key: [UInt8])
    }

    /// `initial`: every key's value before the history; `initialValues`: keys that held
    /// another value then (what an earlier run left).
    public static func check(_ history: [HistoryOp], initial: [UInt8]? = nil, initialValues: [[UInt8]: [UInt8]] = [:],
                             budget: Int = 2_000_000) -> Verdict {
        var byKey: [[UInt8]: [HistoryOp]] = [:]
        for op in history {
            if case .read = op.kind, op.completed == nil { continue }
            byKey[op.key, default: []].append(op)
        }
        for key in byKey.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let ops = byKey[key]!.sorted { $0.invoked < $1.invoked }
            let start = initialValues[key] ?? initial
            switch checkKey(ops, initial: start, budget: budget) {
            case .some(true): continue
            case .some(false):
                return .violation(key: key, operations: ops, reason: explain(ops, initial: start))
            case .none:
                return .unknown(key: key)
            }
        }
        return .linearizable
    }

    /// true: linearizable, false: not, nil: budget exhausted.
    static func checkKey(_ ops: [HistoryOp], initial: [UInt8]?, budget: Int) -> Bool? {
        let search = KeySearch(ops, budget: budget)
        let ok = search.run(from: [UInt64](repeating: 0, count: (ops.count + 63) / 64), value: initial)
        return search.exhausted ? nil : ok
    }

    /// A short reason for a violation: the first read whose value no write could explain, or
    /// the generic statement.
    static func explain(_ ops: [HistoryOp], initial: [UInt8]?) -> String {
        for r in ops {
            guard case let .read(v) = r.kind else { continue }
            let written = ops.contains { if case let .write(w) = $0.kind { return w == v && $0.invoked <= (r.completed ?? .max) } else { return false } }
            if !written && v != initial { return "\(r) returned a value that no write could have produced by then" }
        }
        return "no order of these operations is consistent with real time and register semantics"
    }
}

/// The depth-first search for one key, with its memo and step budget.
final class KeySearch {
    private struct State: Hashable {
        var done: [UInt64]
        var value: [UInt8]?
    }

    private let ops: [HistoryOp]
    private let ends: [UInt64]
    private let required: [Int]
    /// Per operation: the operation of the same client that must take effect before it (the
    /// nearest earlier completed one in its program order), or -1.
    private let after: [Int]
    private let budget: Int
    private var seen = Set<State>()
    private var steps = 0
    private(set) var exhausted = false

    init(_ ops: [HistoryOp], budget: Int) {
        self.ops = ops
        self.ends = ops.map { $0.completed ?? UInt64.max }
        self.required = ops.indices.filter { ops[$0].completed != nil }
        var after = [Int](repeating: -1, count: ops.count)
        var byClient: [Int: [Int]] = [:]
        for i in ops.indices where ops[i].completed != nil && ops[i].sequence != nil { byClient[ops[i].client, default: []].append(i) }
        for list in byClient.values {
            let sorted = list.sorted { ops[$0].sequence! < ops[$1].sequence! }
            for (j, i) in sorted.enumerated().dropFirst() { after[i] = sorted[j - 1] }
        }
        self.after = after
        self.budget = budget
    }

    private func isDone(_ s: [UInt64], _ i: Int) -> Bool { s[i >> 6] & (1 << UInt64(i & 63)) != 0 }

    func run(from done: [UInt64], value: [UInt8]?) -> Bool {
        if required.allSatisfy({ isDone(done, $0) }) { return true }
        steps += 1
        if steps > budget { exhausted = true; return false }
        guard seen.insert(State(done: done, value: value)).inserted else { return false }
        // The earliest completion among pending operations bounds what may go next.
        var horizon = UInt64.max
        for i in ops.indices where !isDone(done, i) { horizon = min(horizon, ends[i]) }
        for i in ops.indices where !isDone(done, i) && ops[i].invoked <= horizon && (after[i] < 0 || isDone(done, after[i])) {
            var next = done
            next[i >> 6] |= 1 << UInt64(i & 63)
            switch ops[i].kind {
            case let .write(v):
                if run(from: next, value: v) { return true }
                // A write whose outcome is unknown may also never take effect.
                if ops[i].completed == nil && run(from: next, value: value) { return true }
            case let .read(v):
                if v == value && run(from: next, value: value) { return true }
            }
            if exhausted { return false }
        }
        return false
    }
}
