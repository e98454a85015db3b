/// What `GET /v1/status` reports: problems first, nodes with their heartbeat age, chains with
/// their state, and the steps still planned.
extension MasterPolicy {
    public func statusReport(now: UInt64) -> MasterAPI.Status {
        var problems: [String] = []
        var chainProblems = 0
        let members = state.members
        let lease = UInt64(settings.leaseMs)
        let live: Set<String> = ["up", "spare", "draining", "drained"]
        let nodes: [MasterAPI.Status.Node] = state.nodes.sorted { $0.id < $1.id }.map { n in
            let age = lastHeartbeat[n.id].map { Int(now - $0) }
            var st: String
            if let age { st = age <= settings.leaseMs ? "up" : "down" } else { st = "unknown" }
            if st != "up" && (state.failed ?? []).contains(n.id) { st = "failed" }
            else if (state.draining ?? []).contains(n.id) { st = members.contains(n.id) ? "draining" : "drained" }
            else if st == "up" && state.config != nil && !members.contains(n.id) { st = "spare" }
            if !live.contains(st) { problems.append("node \(n.id) is \(st)") }
            return .init(id: n.id, client: n.client, peer: n.peer, http: n.http, state: st, last_heartbeat_ms: age)
        }
        let up = Set(nodes.filter { live.contains($0.state) }.map(\.id))
        var chains: [MasterAPI.Status.Chain] = []
        if let c = publishedConfig {
            let size = chainSizes()
            for ch in c.chains {
                let full = ch.members.count >= c.replication
                let allUp = ch.members.allSatisfy { up.contains($0) }
                let linked = ch.members.allSatisfy { m in progress[m]?[ch.id].map { $0.linked != false } ?? false }
                let st = state.stop.map { $0.phase.rawValue }
                    ?? (!full ? "degraded" : !allUp ? "member-down" : !linked ? "unlinked" : ch.frozen != nil ? "reordering" : "ok")
                if st != "ok" && st != "reordering" && state.stop == nil { problems.append("chain \(ch.id) is \(st)"); chainProblems += 1 }
                let r = c.slots(of: ch.id)
                let moved = ch.joining.flatMap { j in progress[j]?[ch.id]?.transferred_bytes }
                chains.append(.init(id: ch.id, members: ch.members, state: ch.joining != nil && st != "ok" ? "joining" : st,
                                    slots: "\(r.lowerBound)-\(r.upperBound - 1)", joining: ch.joining, transferred_bytes: moved,
                                    estimated_bytes: size(ch.id)))
            }
        } else if let heard = state.recoveryHeard {
            problems.append("recovering the chain table from the nodes: \(heard.count) of \(settings.recoverNodes) have reported")
            chainProblems += 1
        } else {
            problems.append("waiting for \(state.initialNodes) nodes to form the chain table (have \(state.nodes.count))")
            chainProblems += 1
        }
        for (id, peers) in unreachableSince.sorted(by: { $0.key < $1.key })
        where !peers.isEmpty && lastHeartbeat[id].map({ now - $0 <= lease }) ?? false {
            problems.append("node \(id) cannot reach \(peers.keys.sorted().joined(separator: ", ")) (a chain link cut: one of them is taken out of its chains)")
        }
        for (id, until) in cutOffUntil.sorted(by: { $0.key < $1.key }) where until > now {
            problems.append("node \(id) is kept out of chains for \((until - now + 999) / 1000) s more after a link cut (check its network)")
        }
        for (_, reason) in refusedNodes.sorted(by: { $0.key < $1.key }) { problems.insert(reason, at: 0) }
        if let stop = state.stop {
            problems.insert(stop.phase == .draining
                ? "the cluster is draining for a stop: writes are refused until chainctl start-cluster"
                : "the cluster is stopped for maintenance: its processes may be stopped; chainctl start-cluster resumes it", at: 0)
            chainProblems += 1
        }
        // Healthy: every chain at full replication with every member up and in sync. A failed
        // node that is in no chain any more is listed as a problem but does not count.
        var status = MasterAPI.Status(epoch: publishedEpoch, healthy: chainProblems == 0, replication: state.replication,
                                      problems: problems, nodes: nodes, chains: chains,
                                      plan: state.plan(alive: aliveNodes(now: now), maxJoinsPerNode: settings.maxJoinsPerNode))
        status.lease_ms = settings.leaseMs
        status.maintenance = state.stop?.phase.rawValue
        let lag = Dictionary(memberLag().map { ($0.node, $0.updates) }, uniquingKeysWith: max)
        for i in status.nodes.indices { status.nodes[i].lag_updates = lag[status.nodes[i].id] }
        return status
    }
}

extension MasterPolicy {
    /// Per chain and member: how many updates the member's last report trails the most advanced
    /// member's (the head's), from the nodes' heartbeats — replication lag in updates as the
    /// master sees it (reports are up to a heartbeat apart, so small values are noise).
    public func memberLag() -> [(chain: ChainID, node: NodeID, updates: UInt64)] {
        guard let c = publishedConfig else { return [] }
        var out: [(chain: ChainID, node: NodeID, updates: UInt64)] = []
        for ch in c.chains {
            let applied = ch.members.map { progress[$0]?[ch.id]?.applied }
            let top = applied.compactMap { $0 }.max() ?? 0
            for (m, a) in zip(ch.members, applied) { out.append((ch.id, m, top - min(top, a ?? 0))) }
        }
        return out
    }
}
