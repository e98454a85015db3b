extension MasterState {
    /// Two live nodes that both reach the master but not each other stall every chain in which
    /// they are neighbours (or tail and joiner): no node failed, so failure detection does
    /// nothing. Given the peers each node reports unreachable (for longer than it would take to
    /// declare a dead peer failed), this picks one node of the cut pairs — the one cut from the
    /// most peers, so that a node with a broken network goes rather than its healthy neighbours;
    /// a joiner rather than its tail; among equals the largest id, so the choice is
    /// deterministic — and splices it out as if it
    /// had failed (one step per chain, never a chain's last member). The caller keeps it out for a
    /// while before it may rejoin. Returns the node and the new epoch, or nil when no pair of
    /// live neighbours is cut.
    public mutating func spliceCutLink(unreachable: [NodeID: Set<NodeID>], alive: Set<NodeID>) -> (node: NodeID, epoch: Epoch)? {
        guard let c = config else { return nil }
        var pairs: Set<[NodeID]> = []
        for (a, peers) in unreachable where alive.contains(a) {
            for b in peers where b != a && alive.contains(b) && c.chains.contains(where: { $0.links(a, b) }) {
                pairs.insert([a, b].sorted())
            }
        }
        guard !pairs.isEmpty else { return nil }
        var cuts: [NodeID: Int] = [:]
        for p in pairs {
            // A joiner cut from its tail is what goes (the join is cancelled), not the tail.
            if let j = c.chains.first(where: { $0.joining != nil && Set(p) == Set([$0.joining!, $0.tail ?? ""]) })?.joining {
                cuts[j, default: 0] += 1
            } else {
                for n in p { cuts[n, default: 0] += 1 }
            }
        }
        let victim = cuts.max { ($0.value, $0.key) < ($1.value, $1.key) }!.key
        guard let epoch = spliceOut([victim], silent: false) else { return nil }
        return (victim, epoch)
    }
}

extension ChainConfig {
    /// `a` and `b` exchange frames in this chain: neighbouring members, or the tail and the joiner.
    public func links(_ a: NodeID, _ b: NodeID) -> Bool {
        if let j = joining, let t = tail, Set([a, b]) == Set([j, t]) { return true }
        guard let i = members.firstIndex(of: a), let k = members.firstIndex(of: b) else { return false }
        return abs(i - k) == 1
    }
}
