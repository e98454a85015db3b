/// Computes the balanced layout a cluster should move to when its node set changes (a node added,
/// drained, failed or back), staying as close as possible to the current layout so that little
/// data moves. Pure and deterministic.
///
/// Two kinds of change get there, and they cost very different amounts:
/// - a *move* (a node leaves a chain, another joins it) copies the chain's data, so membership
///   is balanced with as few moves as possible: one position at a time from the most loaded node
///   to the least loaded one;
/// - a *reorder* (same members, different head or tail) moves no data — only a short write pause
///   while the chain drains — so head and tail counts are balanced afterwards by choosing each
///   chain's order, changing as few chains as a local search finds.
public enum Rebalancer {
    /// The target layout over `nodes` (every chain with `replication` members, head first), or nil
    /// when there are fewer nodes than the replication factor. Member, head and tail counts per
    /// node differ by at most one. A node that joins a chain appears at its tail, where a join
    /// puts it, unless the role balance needs it elsewhere.
    public static func target(current: [[NodeID]], nodes: [NodeID], replication r: Int) -> [[NodeID]]? {
        let pool = Array(Set(nodes)).sorted()
        guard r >= 1, pool.count >= r, !current.isEmpty else { return nil }
        let index = Dictionary(uniqueKeysWithValues: pool.enumerated().map { ($1, $0) })
        // Work on node indices (cheap counting); keep each chain's order, drop nodes not in the pool.
        var chains: [[Int]] = current.map { c in
            var seen = Set<Int>()
            return c.compactMap { index[$0] }.filter { seen.insert($0).inserted }
        }
        var members = [Int](repeating: 0, count: pool.count)
        for c in chains { for m in c { members[m] += 1 } }
        for i in chains.indices {
            while chains[i].count > r {
                let victim = chains[i].max { (members[$0], $0) < (members[$1], $1) }!
                chains[i].removeAll { $0 == victim }
                members[victim] -= 1
            }
            while chains[i].count < r {
                let pick = pool.indices.filter { !chains[i].contains($0) }.min { (members[$0], $0) < (members[$1], $1) }!
                chains[i].append(pick)
                members[pick] += 1
            }
        }
        balanceMembers(&chains, &members)
        balanceRoles(&chains, nodeCount: pool.count)
        return chains.map { $0.map { pool[$0] } }
    }

    /// Moves one position at a time from the most to the least loaded node until counts differ by
    /// at most one. A chain holding the busiest node but not the idlest always exists while they
    /// differ by two or more. Prefers chains where the busy node is the tail (the newcomer takes
    /// over that role as it joins), then a middle, then the head.
    private static func balanceMembers(_ chains: inout [[Int]], _ members: inout [Int]) {
        for _ in 0..<(chains.count * chains.first!.count + 1) {
            let hi = members.indices.max { (members[$0], -$0) < (members[$1], -$1) }!
            let lo = members.indices.min { (members[$0], $0) < (members[$1], $1) }!
            guard members[hi] - members[lo] > 1 else { return }
            func rank(_ i: Int) -> Int {
                let c = chains[i]
                return c.last == hi ? 0 : c.first == hi ? 2 : 1
            }
            guard let i = chains.indices.filter({ chains[$0].contains(hi) && !chains[$0].contains(lo) })
                .min(by: { (rank($0), $0) < (rank($1), $1) }) else { return }
            chains[i].removeAll { $0 == hi }
            chains[i].append(lo)
            members[hi] -= 1
            members[lo] += 1
        }
    }

    /// Chooses each chain's head and tail among its members so that head and tail counts per
    /// node are balanced. Local search on Σ heads² + Σ tails²: the best single-chain reorder
    /// first; when none improves, the best pair of reorders (one step up a longer chain of
    /// hand-overs). Middles keep their relative order.
    private static func balanceRoles(_ chains: inout [[Int]], nodeCount: Int) {
        guard let r = chains.first?.count, r >= 2 else { return }
        var heads = [Int](repeating: 0, count: nodeCount)
        var tails = [Int](repeating: 0, count: nodeCount)
        for c in chains { heads[c.first!] += 1; tails[c.last!] += 1 }
        func balanced(_ v: [Int]) -> Bool { v.max()! - v.min()! <= 1 }

        /// Orders of chain `i` other than its current one, as (head, tail).
        func options(_ i: Int) -> [(Int, Int)] {
            let c = chains[i]
            var out: [(Int, Int)] = []
            for h in c { for t in c where t != h && (h, t) != (c.first!, c.last!) { out.append((h, t)) } }
            return out
        }
        /// Change of the objective when chains' heads and tails change as listed (one or two
        /// chains; small arrays instead of dictionaries: this is the inner loop).
        func delta(_ changes: [(oldH: Int, oldT: Int, h: Int, t: Int)]) -> Int {
            var dh: [(Int, Int)] = [], dt: [(Int, Int)] = []
            func add(_ list: inout [(Int, Int)], _ n: Int, _ x: Int) {
                if let k = list.firstIndex(where: { $0.0 == n }) { list[k].1 += x } else { list.append((n, x)) }
            }
            for c in changes {
                add(&dh, c.oldH, -1); add(&dh, c.h, 1)
                add(&dt, c.oldT, -1); add(&dt, c.t, 1)
            }
            var d = 0
            for (n, x) in dh where x != 0 { d += (heads[n] + x) * (heads[n] + x) - heads[n] * heads[n] }
            for (n, x) in dt where x != 0 { d += (tails[n] + x) * (tails[n] + x) - tails[n] * tails[n] }
            return d
        }
        func apply(_ i: Int, _ h: Int, _ t: Int) {
            let c = chains[i]
            heads[c.first!] -= 1; tails[c.last!] -= 1
            chains[i] = [h] + c.filter { $0 != h && $0 != t } + [t]
            heads[h] += 1; tails[t] += 1
        }

        for _ in 0..<(4 * chains.count + 16) {
            let headsOK = balanced(heads), tailsOK = balanced(tails)
            if headsOK && tailsOK { return }
            let opts = chains.indices.map(options)
            var best: (d: Int, i: Int, h: Int, t: Int)?
            for i in chains.indices {
                let c = chains[i]
                for (h, t) in opts[i] {
                    let d = delta([(c.first!, c.last!, h, t)])
                    if d < (best?.d ?? 0) { best = (d, i, h, t) }
                }
            }
            if let b = best { apply(b.i, b.h, b.t); continue }
            // No single reorder helps: try pairs. One of the two must take a role away from a
            // node that has too many (the head or tail of a "hot" chain), which keeps this
            // search far smaller than all pairs — it runs on the master's event loop.
            let maxH = heads.max()!, maxT = tails.max()!
            let hot = chains.indices.filter { (!headsOK && heads[chains[$0].first!] == maxH) || (!tailsOK && tails[chains[$0].last!] == maxT) }
            var pair: (d: Int, i: Int, h: Int, t: Int, j: Int, h2: Int, t2: Int)?
            for i in hot {
                let ci = chains[i]
                for (h, t) in opts[i] {
                    for j in chains.indices where j != i {
                        let cj = chains[j]
                        for (h2, t2) in opts[j] {
                            let d = delta([(ci.first!, ci.last!, h, t), (cj.first!, cj.last!, h2, t2)])
                            if d < (pair?.d ?? 0) { pair = (d, i, h, t, j, h2, t2) }
                        }
                    }
                }
            }
            guard let p = pair else { return }
            apply(p.i, p.h, p.t)
            apply(p.j, p.h2, p.t2)
        }
    }
}
