/// The master's clock tick (every heartbeat interval): failure detection, cut links, and one
/// step towards the target layout.
extension MasterPolicy {
    /// A tick this much later than the previous one means this master itself stalled (a VM
    /// pause, SIGSTOP, a starved host): heartbeats that arrived meanwhile are not read yet.
    var stallMs: UInt64 { UInt64(2 * settings.heartbeatMs) }

    /// A member not heard from for the lease time has failed: splice it out of its chains.
    /// Because a node's own lease starts when it sends a heartbeat, it has stopped serving
    /// before this deadline passes: no two nodes serve as tail of a chain at once. Nothing is
    /// declared during the quiet period after a start, a takeover or a stall of this master's
    /// own (see `quietUntil`).
    public mutating func onTick(now: UInt64) -> [Effect] {
        var effects: [Effect] = []
        defer { lastTick = now }
        guard leads(at: now) else { return effects }
        if let last = lastTick, now > last + stallMs {
            // The heartbeats queued during the stall are read after this tick: give them a
            // lease's time before judging anyone.
            quietUntil = max(quietUntil, now + UInt64(settings.leaseMs))
            effects.append(.count(.stallsDetected, 1))
            effects.append(.log(.warning, "this master stalled; no failure is declared until nodes had a lease's time to be heard",
                                ["stalled_ms": "\(now - last)", "quiet_ms": "\(settings.leaseMs)"]))
            return effects
        }
        if saveOwed && !saving {
            saveOwed = false
            _ = persist(&effects)
            return effects
        }
        guard now >= quietUntil, state.config != nil, !saving else { return effects }
        // A stopped cluster's processes are expected to be down: nobody is declared failed.
        if state.stop?.phase == .stopped { return effects }
        let lease = UInt64(settings.leaseMs)
        let dead = state.members.filter { id in
            guard let last = lastHeartbeat[id] else { return true }
            return now - last > lease
        }
        if !dead.isEmpty, let epoch = state.spliceOut(Set(dead)) {
            effects.append(.count(.failuresDetected, dead.count))
            effects.append(.log(.warning, "nodes failed; splicing them out", ["nodes": "\(dead.sorted())", "epoch": "\(epoch)"]))
            _ = persist(&effects)
            return effects
        }
        // Draining for a stop: only failures are handled; no rebalancing.
        if maintenanceTick(&effects) { return effects }
        // Two live neighbours that cannot reach each other: one goes (it may rejoin later).
        let alive = aliveNodes(now: now)
        let cut = cutLinks(now: now)
        if let (node, epoch) = state.spliceCutLink(unreachable: cut, alive: alive) {
            effects.append(.count(.linkCutsResolved, 1))
            // Out for ten leases, twice as long each time it happens again.
            cutOffTimes[node, default: 0] += 1
            cutOffUntil[node] = now + 10 * lease << UInt64(min(cutOffTimes[node]! - 1, 8))
            effects.append(.log(.warning, "chain neighbours cannot reach each other; splicing one out", [
                "node": node, "unreachable": "\(cut.filter { !$0.value.isEmpty }.mapValues { $0.sorted() })", "epoch": "\(epoch)"]))
            _ = persist(&effects)
            return effects
        }
        // Then one step towards the target layout in every chain: restore the replication
        // factor, move positions for drains and adds, reorder for balanced roles.
        let before = state.config!
        let reports = (progress, reportedEpoch)
        if let epoch = state.converge(alive: alive, maxJoinsPerNode: settings.maxJoinsPerNode,
                                      quiescent: { Self.quiescent($0, in: before, progress: reports.0, reportedEpoch: reports.1) }) {
            let steps = MasterState.steps(from: before, to: state.config!)
            effects.append(.count(.joinsStarted, steps.filter { $0.kind == .join }.count))
            effects.append(.log(.notice, "membership step", ["epoch": "\(epoch)", "steps": "\(steps.map(\.description))"]))
            _ = persist(&effects)
        }
        return effects
    }

    /// Links reported down between two nodes that are both demonstrably alive: the reported peer
    /// spoke to this master a whole heartbeat interval after the link went down. A dead peer
    /// cannot (its last heartbeat predates the break), so a node is never taken out for
    /// reporting a neighbour that died; and a blip shorter than the node's report threshold is
    /// never reported at all.
    func cutLinks(now: UInt64) -> [NodeID: Set<NodeID>] {
        let interval = UInt64(settings.heartbeatMs)
        var out: [NodeID: Set<NodeID>] = [:]
        for (node, peers) in unreachableSince {
            for (peer, since) in peers {
                guard let heard = lastHeartbeat[peer], heard > since + interval else { continue }
                out[node, default: []].insert(peer)
            }
        }
        return out
    }

    /// A frozen chain has drained when every member reported, at the freeze epoch or later, the
    /// same applied sequence, and the head has all of it acknowledged down the chain.
    static func quiescent(_ chain: ChainID, in c: Configuration, progress: [NodeID: [ChainID: MasterAPI.ChainProgress]],
                          reportedEpoch: [NodeID: Epoch]) -> Bool {
        guard let frozen = c.chains[chain].frozen, let head = c.chains[chain].head else { return false }
        var seqs: Set<UInt64> = []
        for m in c.chains[chain].members {
            guard (reportedEpoch[m] ?? 0) >= frozen, let p = progress[m]?[chain] else { return false }
            seqs.insert(p.applied)
            if m == head && p.committed != p.applied { return false }
        }
        return seqs.count == 1
    }
}
