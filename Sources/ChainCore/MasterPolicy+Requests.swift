/// The requests the master answers: nodes registering and heartbeating, and the operator's
/// membership changes.
extension MasterPolicy {
    private func notLeading() -> Response? {
        switch role {
        case .leader: return nil
        case let .standby(leader): return Response(reply: .notLeader(leader: leader), afterSave: nil)
        }
    }

    /// Refuses everything while this master's leadership is not valid on its own clock.
    func mustLead(_ now: UInt64) -> Response? {
        if let r = notLeading() { return r }
        guard leads(at: now) else { return Response(reply: .refused(status: 503, reason: "this master's leadership lapsed; retry shortly"), afterSave: nil) }
        return nil
    }

    /// The body of a lease reply sent now to a node that knows `knownEpoch`.
    public func leaseReply(knownEpoch: Epoch) -> MasterAPI.LeaseReply {
        let c = publishedConfig
        return MasterAPI.LeaseReply(epoch: publishedEpoch, lease_ms: settings.leaseMs, heartbeat_ms: settings.heartbeatMs,
                                    config: (c?.epoch ?? 0) > knownEpoch ? c : nil)
    }

    /// `POST /v1/nodes/register`.
    /// `boot`: the node process's id (a new one on every start).
    public mutating func onRegister(_ node: NodeInfo, lastConfig: Configuration?, boot: String? = nil, now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        var effects: [Effect] = []
        if state.config == nil, let last = lastConfig, last.epoch > 0 {
            return recover(from: node, last, now: now)
        }
        if let cluster = state.config?.cluster, let theirs = lastConfig?.cluster, cluster != theirs {
            let reason = "node \(node.id) belongs to another cluster (\(theirs)); this master's cluster is \(cluster): refusing it rather than merging two clusters"
            refusedNodes[node.id] = reason
            effects.append(.log(.error, "refusing node", ["node": node.id, "reason": reason]))
            return (Response(reply: .refused(status: 409, reason: reason), afterSave: nil), effects)
        }
        // A member registering again has restarted (checked before `register`, which may form the
        // table with this very node) — unless it is the same process asking again (its first
        // registration's reply was slow: same boot id).
        let sameProcess = boot != nil && state.boots?[node.id] == boot
        // (Not while the cluster is stopped: it drained, so a member owes nothing and keeps its
        // chains; `chainctl start-cluster` checks its positions.)
        let wasMember = state.members.contains(node.id) && !sameProcess && state.stop?.phase != .stopped
        let newBoot = boot != nil && !sameProcess
        var outcome: MasterState.RegisterOutcome
        do { outcome = try state.register(node, admit: settings.autoRebalance) } catch {
            return (Response(reply: .refused(status: 409, reason: "\(error)"), afterSave: nil), [])
        }
        if newBoot, let boot { state.boots = (state.boots ?? [:]).merging([node.id: boot]) { _, b in b } }
        // A new process of a stopped cluster proves its positions afresh (start-cluster): what
        // its previous process reported says nothing of the data this one found.
        if newBoot && state.stop != nil {
            progress[node.id] = nil
            reportedEpoch[node.id] = nil
        }
        if outcome == .unchanged && newBoot { outcome = .recorded }
        if wasMember, let epoch = state.restarted(node.id, alive: aliveNodes(now: now).subtracting([node.id])) {
            effects.append(.log(.notice, "node restarted: it leaves its chains and rejoins them, catching up from what it kept",
                                ["node": node.id, "epoch": "\(epoch)"]))
            outcome = .reconfigured(epoch)
        }
        lastHeartbeat[node.id] = now
        effects.append(.count(.registrations, 1))
        effects.append(.log(.info, "node registered", ["node": node.id, "client": node.client, "outcome": "\(outcome)"]))
        if outcome == .unchanged { return (leaseResponse(knownEpoch: 0), effects) }
        _ = persist(&effects)
        return (leaseResponse(knownEpoch: 0), effects)
    }

    /// This master has no table and `node` has one: refuse, wait for more, or adopt it.
    private mutating func recover(from node: NodeInfo, _ last: Configuration, now: UInt64) -> (Response, [Effect]) {
        guard MasterState.isValidID(node.id) else {
            return (Response(reply: .refused(status: 409, reason: "\(MasterState.RegisterError.invalidID(node.id))"), afterSave: nil), [])
        }
        var effects: [Effect] = []
        switch state.recover(node, lastConfig: last, need: settings.recoverNodes) {
        case let .refused(reason):
            refusedNodes[node.id] = reason
            effects.append(.log(.error, "refusing node", ["node": node.id, "reason": reason]))
            return (Response(reply: .refused(status: 409, reason: reason), afterSave: nil), effects)
        case let .waiting(have, need):
            lastHeartbeat[node.id] = now
            effects.append(.log(.notice, "recovering: node reported its table", ["node": node.id, "epoch": "\(last.epoch)", "have": "\(have)", "need": "\(need)"]))
        case let .recovered(epoch):
            lastHeartbeat[node.id] = now
            refusedNodes.removeAll()
            effects.append(.log(.notice, "recovered the chain table from the nodes", ["epoch": "\(epoch)", "nodes": "\(state.nodes.count)"]))
        }
        _ = persist(&effects)
        return (leaseResponse(knownEpoch: 0), effects)
    }

    /// A lease, sent once every save made so far is durable: a lease always comes with the
    /// newest configuration this master decided, never one it already moved past (a node
    /// spliced out or restarted must not get a lease in its old place meanwhile).
    func leaseResponse(knownEpoch: Epoch) -> Response {
        Response(reply: .lease(knownEpoch: knownEpoch), afterSave: pendingSaveVersion)
    }

    /// `POST /v1/nodes/heartbeat`: the node is alive (its lease is renewed by the reply) and
    /// reports its chains.
    public mutating func onHeartbeat(_ hb: MasterAPI.Heartbeat, now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        guard state.nodes.contains(where: { $0.id == hb.id }) else {
            return (Response(reply: .refused(status: 404, reason: "unknown node \(hb.id): register first"), afterSave: nil), [])
        }
        var effects: [Effect] = [.count(.heartbeats, 1)]
        lastHeartbeat[hb.id] = now
        progress[hb.id] = Dictionary(hb.chains.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        reportedEpoch[hb.id] = hb.epoch
        storeBytes[hb.id] = hb.store_bytes
        var since: [NodeID: UInt64] = [:]
        for (i, peer) in (hb.unreachable ?? []).enumerated() {
            // How long the link has been down, as the node saw it (older nodes: just now).
            let downMs = hb.unreachable_for_ms.flatMap { $0.indices.contains(i) ? UInt64(max(0, $0[i])) : nil } ?? 0
            since[peer] = now > downMs ? now - downMs : 0
        }
        unreachableSince[hb.id] = since
        if cutOffUntil[hb.id].map({ now < $0 }) ?? false { return (leaseResponse(knownEpoch: hb.epoch), effects) }
        if state.heardFrom(hb.id) {
            // It installs the configuration in this reply (which no longer has it in any chain)
            // before it uses the lease, so it cannot serve from its old place.
            effects.append(.log(.notice, "failed node is heard from again: it may rejoin chains", ["node": hb.id]))
            _ = persist(&effects)
            return (leaseResponse(knownEpoch: hb.epoch), effects)
        }
        promoteSynced(hb.id, hb.chains, &effects)
        return (leaseResponse(knownEpoch: hb.epoch), effects)
    }

    /// A joining node that reports being in sync becomes its chain's tail (one chain per save;
    /// the next heartbeat promotes the next).
    private mutating func promoteSynced(_ node: NodeID, _ chains: [MasterAPI.ChainProgress], _ effects: inout [Effect]) {
        guard !saving, let c = state.config else { return }
        for p in chains where p.synced == true && c.chains.indices.contains(p.id) && c.chains[p.id].joining == node {
            if let epoch = state.promote(chain: p.id, node: node) {
                effects.append(.count(.promotions, 1))
                effects.append(.log(.notice, "joining node in sync: promoted to tail", ["node": node, "chain": "\(p.id)", "epoch": "\(epoch)"]))
                _ = persist(&effects)
                return
            }
        }
    }

    /// `chainctl drain`: move a node out of every chain.
    public mutating func onDrain(_ id: NodeID, now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        do { try state.drain(id, alive: aliveNodes(now: now)) } catch {
            return (Response(reply: .refused(status: 409, reason: "\(error)"), afterSave: nil), [])
        }
        var effects: [Effect] = [.log(.notice, "draining node", ["node": id])]
        let plan = planReport(action: "drain", id: id, state: state, now: now)
        let v = persist(&effects)
        return (Response(reply: .plan(plan), afterSave: v), effects)
    }

    /// `chainctl add`: admit a node to the layout; the master rebalances chains onto it.
    public mutating func onAdd(_ id: NodeID, now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        do { try state.add(id) } catch {
            return (Response(reply: .refused(status: 409, reason: "\(error)"), afterSave: nil), [])
        }
        var effects: [Effect] = [.log(.notice, "adding node", ["node": id])]
        let plan = planReport(action: "add", id: id, state: state, now: now)
        let v = persist(&effects)
        return (Response(reply: .plan(plan), afterSave: v), effects)
    }

    /// `POST /v1/plan`: what `add` or `drain` would do, without doing it.
    public func dryRun(_ r: MasterAPI.PlanRequest, now: UInt64) -> Reply {
        if let n = notLeading() { return n.reply }
        var s = state
        do {
            switch r.action {
            case "add": try s.add(r.id)
            case "drain": try s.drain(r.id, alive: aliveNodes(now: now))
            default: return .refused(status: 400, reason: "action must be 'add' or 'drain', not '\(r.action)'")
            }
        } catch {
            return .refused(status: 409, reason: "\(error)")
        }
        return .plan(planReport(action: r.action, id: r.id, state: s, now: now))
    }

    /// `chainctl remove`: forget a node that is in no chain.
    public mutating func onRemove(_ id: NodeID, now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        do { _ = try state.remove(id) } catch {
            return (Response(reply: .refused(status: 409, reason: "\(error)"), afterSave: nil), [])
        }
        lastHeartbeat.removeValue(forKey: id)
        progress.removeValue(forKey: id)
        var effects: [Effect] = [.log(.notice, "node removed", ["node": id])]
        let v = persist(&effects)
        return (Response(reply: .removed(id), afterSave: v), effects)
    }

    func planReport(action: String, id: NodeID, state s: MasterState, now: UInt64) -> MasterAPI.Plan {
        let steps = s.plan(alive: aliveNodes(now: now), maxJoinsPerNode: settings.maxJoinsPerNode)
        let joins = steps.filter { $0.kind == .join }
        let size = chainSizes()
        return MasterAPI.Plan(action: action, id: id, steps: steps, joins: joins.count,
                              estimated_bytes: joins.reduce(0) { $0 + (size($1.chain) ?? 0) })
    }

    /// Nodes heard from within the lease.
    public func aliveNodes(now: UInt64) -> Set<NodeID> {
        Set(state.nodes.map(\.id).filter { id in lastHeartbeat[id].map { now - $0 <= UInt64(settings.leaseMs) } ?? false })
    }

    /// Chain data sizes, estimated from the members' reported store sizes: each member's store
    /// divided evenly over the chains it holds (keys hash uniformly over slots).
    public func chainSizes() -> (ChainID) -> Int? {
        guard let c = state.config else { return { _ in nil } }
        var held: [NodeID: Int] = [:]
        for ch in c.chains { for m in ch.members { held[m, default: 0] += 1 } }
        let bytes = storeBytes
        return { chain in
            guard c.chains.indices.contains(chain) else { return nil }
            let shares = c.chains[chain].members.compactMap { m in bytes[m].map { $0 / max(held[m] ?? 1, 1) } }
            return shares.isEmpty ? nil : shares.reduce(0, +) / shares.count
        }
    }
}
