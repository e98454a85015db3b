/// Chain messages from peers, and links coming back.
extension NodeCore {
    public mutating func receive(_ message: Message, from peer: NodeID, now: UInt64, _ effects: inout Effects) {
        defer { if !barriers.isEmpty { settleBarriers(now: now, &effects) } }
        switch message {
        case let .updates(e, chain, updates):
            if e > epoch { return holdEarly(message, from: peer, &effects) }
            if joins.index(forKey: chain) != nil, replicas.index(forKey: chain) == nil {
                // Chain updates are the chain's history whatever the epoch they travelled in.
                if peer == joins[chain]!.tail { joins[chain]!.buffered += updates }
                return
            }
            guard let i = replicas.index(forKey: chain) else { return }
            stepReplica(chain, at: i, &effects) { r, actions in r.onUpdates(from: peer, epoch: e, updates, into: &actions) }
        case let .ack(e, chain, seq):
            if e > epoch { return holdEarly(message, from: peer, &effects) }
            guard let i = replicas.index(forKey: chain) else { return }
            stepReplica(chain, at: i, &effects) { r, actions in r.onAck(from: peer, epoch: e, seq: seq, into: &actions) }
        case let .barrier(e, chain, seq):
            if e > epoch { return holdEarly(message, from: peer, &effects) }
            if barriers[chain]?.oldTail == peer { barriers[chain]!.seq = seq }
            // From the tail to its joiner: the sync point (see `ChainReplica.syncPoint`).
            if joins[chain]?.tail == peer && joins[chain]!.syncSeq == nil { joins[chain]!.syncSeq = seq }
        case let .syncRequest(e, chain, transfer, have):
            if e > epoch { return holdEarly(message, from: peer, &effects) }
            syncRequested(chain: chain, by: peer, transfer: transfer, have: have, &effects)
        case let .syncChunk(_, chain, transfer, snapshot, entries, last):
            // Epochs move on for other chains during a transfer; the transfer id is what counts.
            chunkReceived(chain: chain, from: peer, transfer: transfer, snapshot: snapshot, entries: entries, last: last, &effects)
        case let .syncSuffix(_, chain, transfer, after, updates, last):
            suffixReceived(chain: chain, from: peer, transfer: transfer, after: after, updates: updates, last: last, &effects)
        }
    }

    private mutating func holdEarly(_ message: Message, from peer: NodeID, _ effects: inout Effects) {
        early.append((peer, message))
        effects.append(.askMaster)
    }

    /// A link to `peer` (re)opened: frames in flight may have been lost, so send again what it
    /// may be missing — unacknowledged updates if it is a successor, the acknowledgement if it
    /// is a predecessor, the sync point if it is the joiner — and let joins waiting for it ask.
    public mutating func linkUp(_ peer: NodeID, _ effects: inout Effects) {
        linksUp.insert(peer)
        for chain in joins.keys.sorted() where joins[chain]!.tail == peer {
            switch joins[chain]!.phase {
            case .waitingForLink: requestCopy(chain, linkReady: true, &effects)
            case .requested, .receiving: restartJoin(chain, &effects)  // an interrupted transfer starts over
            case .installed: break
            }
        }
        for chain in replicas.keys.sorted() {
            let r = replicas[chain]!
            if r.successor == peer && !r.unacked.isEmpty && !disabled.contains(.resend) {
                effects.append(.send(to: peer, .updates(epoch: epoch, chain: chain, r.unacked)))
            }
            if r.predecessor == peer && r.reported > 0 { effects.append(.send(to: peer, .ack(epoch: epoch, chain: chain, seq: r.reported))) }
            if r.joiner == peer, let seq = r.syncPoint { effects.append(.send(to: peer, .barrier(epoch: epoch, chain: chain, seq: seq))) }
        }
    }

    public mutating func linkDown(_ peer: NodeID) { linksUp.remove(peer) }

    /// Peers this node exchanges chain frames with (neighbours, its joiner, the tails it joins
    /// from) whose link has been down for three quarters of a lease, with for how long (a blip
    /// of a few hundred ms can keep a TCP link down for a while: retransmission backoff, the
    /// redial). The master takes one of two live nodes that cannot reach each other out of their
    /// chains (it checks that the peer is alive, so a dead peer is not mistaken for a cut).
    public mutating func unreachablePeers(now: UInt64) -> [(peer: NodeID, downMs: Int)] {
        let ready = linksUp.contains
        var needed: Set<NodeID> = []
        for r in replicas.values {
            for p in [r.predecessor, r.successor, r.isTail ? r.joiner : nil] { if let p { needed.insert(p) } }
        }
        for j in joins.values where !j.phase.isInstalled { needed.insert(j.tail) }
        for p in Array(linkDownSince.keys) where !needed.contains(p) || ready(p) { linkDownSince.removeValue(forKey: p) }
        var out: [(peer: NodeID, downMs: Int)] = []
        for p in needed.sorted() where !ready(p) {
            // A peer needed only since now gets a lease to be dialled first (a busy host at
            // start-up, a join): only a link that was up, or had its chance, counts as cut.
            let since = linkDownSince[p] ?? (neededPeers.contains(p) ? now : now + leaseMs)
            linkDownSince[p] = since
            if now >= since && now - since >= leaseMs * 3 / 4 { out.append((p, Int(now - since))) }
        }
        neededPeers = needed
        return out
    }

    /// What the node reports to the master about each chain.
    public var progress: [MasterAPI.ChainProgress] {
        let ready = linksUp.contains
        var out = replicas.values.sorted { $0.chain < $1.chain }.map { r in
            let join = joins[r.chain]
            return MasterAPI.ChainProgress(
                id: r.chain, role: r.role.rawValue, applied: r.applied, committed: r.committed,
                linked: [r.predecessor, r.successor].compactMap { $0 }.allSatisfy(ready),
                synced: join.map { $0.synced(persisted: r.persisted) },
                transferred_bytes: join?.bytes)
        }
        for chain in joins.keys.sorted() where replicas[chain] == nil {
            let j = joins[chain]!
            out.append(MasterAPI.ChainProgress(id: chain, role: "joining", applied: 0, committed: 0,
                                               linked: ready(j.tail), synced: false, transferred_bytes: j.bytes))
        }
        return out
    }
}
