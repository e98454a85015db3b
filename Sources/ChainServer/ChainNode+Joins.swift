import ChainCore
import ChainWire
import EventLoop

/// Joining chains: the joiner's side (offer what it holds, receive a suffix or a snapshot,
/// install) and the tail's side (decide, then send the suffix from its backlog or stream a
/// snapshot paced by the link's queue).
extension ChainNode {
    /// Joiner: ask the tail for the chain, offering the copy this node holds (if any); without
    /// one, throw away whatever it held for the chain. (The stored position is written in the
    /// same batch as the data it describes, and reset with it, so whatever copy is there — kept
    /// after leaving, or found after a restart — is described exactly; the tail decides whether
    /// it is a prefix of the chain.)
    func startJoin(chain: ChainID, tail: NodeID, epoch: Epoch) {
        guard let config else { return }
        dormant.remove(chain)
        let have = joins[chain]?.wiped == true ? .empty : storedPosition(chain)
        if have == .empty { dropChainData(chain, config: config) }
        replicas.removeValue(forKey: chain)
        nextTransfer += 1
        joins[chain] = JoinProgress(epoch: epoch, tail: tail, transfer: nextTransfer, have: have, wiped: have == .empty)
        server.metrics.joinsStarted.increment()
        server.logger.notice("joining chain", metadata: ["chain": "\(chain)", "tail": "\(tail)", "epoch": "\(epoch)",
                                                         "have": "\(have.seq)@\(have.epoch)"])
        requestSnapshot(chain)
    }

    /// Sends the join's request once the link to the tail is up (`linkUp` calls it again).
    func requestSnapshot(_ chain: ChainID) {
        guard var j = joins[chain], !j.requested, !j.complete, peers.isReady(j.tail) else { return }
        j.requested = true
        joins[chain] = j
        peers.send([.syncRequest(epoch: j.epoch, chain: chain, transfer: j.transfer, have: j.have)], to: j.tail)
    }

    /// Deletes the chain's slot range, its request records and its applied sequence.
    func dropChainData(_ chain: ChainID, config: Configuration) {
        let slots = config.slots(of: chain)
        server.data.deleteRange(from: KeyLayout.slotPrefix(slots.lowerBound), to: KeyLayout.slotPrefix(slots.upperBound))
        server.data.deleteRange(from: KeyLayout.recordPrefix(chain: chain), to: KeyLayout.recordPrefix(chain: chain + 1))
        server.data.put(ChainMetadata.appliedKey(chain), ChainMetadata.encodePosition(.empty), cached: false)
        server.markStoreDirty()
    }

    /// Tail: a joiner asked for the chain's data. When its copy is a prefix of this tail's
    /// history and the backlog still holds what follows, only that is sent; otherwise a snapshot.
    func syncRequested(chain: ChainID, by joiner: NodeID, transfer: UInt64, have: LogPosition) {
        guard let r = replicas[chain], r.isTail, r.joiner == joiner else { return }
        streams.removeValue(forKey: chain)?.cancel()
        snapshotWaits.removeValue(forKey: chain)
        let backlog = backlogs[chain] ?? UpdateBacklog(capacityBytes: 0)
        let mine = backlog.last.flatMap { $0.seq == r.applied ? $0 : nil } ?? storedPosition(chain)
        if case let .suffix(after) = CatchUp.plan(have: have, tail: mine, backlog: backlog) {
            sendSuffix(chain: chain, to: joiner, transfer: transfer, after: after, Array(backlog.updates(after: after)))
            return
        }
        if r.persisted >= r.applied {
            startStream(chain: chain, joiner: joiner, transfer: transfer)
        } else {
            snapshotWaits[chain] = (joiner, r.applied, transfer)
        }
    }

    /// Tail: the updates a joiner lacks, in frames of about a snapshot chunk each. (Updates this
    /// tail applies from now on reach the joiner live, after these on the same link.)
    private func sendSuffix(chain: ChainID, to joiner: NodeID, transfer: UInt64, after: UInt64, _ updates: [Update]) {
        var frames: [PeerFrame] = []
        var part: [Update] = []
        var bytes = 0
        for u in updates {
            part.append(u)
            bytes += u.byteEstimate
            if bytes >= ChainTransfer.chunkBytes {
                frames.append(.syncSuffix(epoch: epoch, chain: chain, transfer: transfer, after: after, updates: part, last: false))
                part = []
                bytes = 0
            }
        }
        frames.append(.syncSuffix(epoch: epoch, chain: chain, transfer: transfer, after: after, updates: part, last: true))
        peers.send(frames, to: joiner)
        server.logger.notice("sending a joiner only what it lacks", metadata: ["chain": "\(chain)", "joiner": "\(joiner)",
                                                                              "after": "\(after)", "updates": "\(updates.count)"])
    }

    func startStream(chain: ChainID, joiner: NodeID, transfer: UInt64) {
        guard let config, replicas[chain]?.joiner == joiner else { return }
        let s = SnapshotStream(chain: chain, joiner: joiner, epoch: config.epoch, transfer: transfer)
        streams[chain] = s
        s.start(store: server.data.store, slots: config.slots(of: chain), throttle: throttle, node: LoopBound(self, loop: server.loop))
    }

    /// Tail: queue one chunk and call `whenRoom` once the link has room for the next.
    func sendTransferChunk(_ frame: PeerFrame, to joiner: NodeID, whenRoom: @escaping @Sendable () -> Void) {
        peers.send([frame], to: joiner)
        if case let .syncChunk(_, _, _, _, entries, _) = frame {
            server.metrics.transferBytes.increment(by: Int64(entries.reduce(0) { $0 + $1.0.count + $1.1.count }))
        }
        func check() {
            if peers.queuedBytes(to: joiner) < ChainTransfer.window { whenRoom() } else {
                Timer(loop: server.loop, afterMs: 10) { check() }
            }
        }
        check()
    }

    /// Joiner: a chunk of the snapshot arrived (the first one replaces what this node held).
    func chunkReceived(chain: ChainID, from tail: NodeID, transfer: UInt64, snapshot: LogPosition,
                       entries: [([UInt8], [UInt8])], last: Bool) {
        guard var j = joins[chain], j.tail == tail, !j.complete, transfer == j.transfer, let config else { return }
        if j.snapshot == nil { j.snapshot = snapshot }
        guard j.snapshot == snapshot else { return }
        if !j.wiped {
            dropChainData(chain, config: config)
            j.wiped = true
        }
        let slots = config.slots(of: chain)
        let records = KeyLayout.recordPrefix(chain: chain)
        for (k, v) in entries {
            // Only this chain's keys: its data keys and its request records.
            let isData = k.count >= KeyLayout.dataPrefixLength && k[0] == KeyLayout.dataTag && slots.contains(Int(k[1]) << 8 | Int(k[2]))
            guard isData || k.starts(with: records) else {
                server.metrics.error("transfer_foreign_key")
                continue
            }
            server.data.put(k, v, cached: isData)
            j.bytes += k.count + v.count
        }
        joins[chain] = j
        if last {
            server.metrics.catchUpSnapshot.increment()
            finishJoin(chain, from: tail, at: snapshot, then: [])
            server.logger.notice("chain snapshot received", metadata: ["chain": "\(chain)", "bytes": "\(j.bytes)", "seq": "\(snapshot.seq)"])
        }
        server.markStoreDirty()
    }

    /// Joiner: part of the suffix this node lacked arrived; with the last part, the copy it kept
    /// plus these updates is the chain.
    func suffixReceived(chain: ChainID, from tail: NodeID, transfer: UInt64, after: UInt64, updates: [Update], last: Bool) {
        guard var j = joins[chain], j.tail == tail, !j.complete, transfer == j.transfer, !j.wiped, after == j.have.seq else { return }
        j.suffix += updates
        j.bytes += updates.reduce(0) { $0 + $1.byteEstimate }
        joins[chain] = j
        guard last else { return }
        server.metrics.catchUpSuffix.increment()
        server.logger.notice("chain caught up with the missing suffix", metadata: ["chain": "\(chain)", "after": "\(after)",
                                                                                   "updates": "\(j.suffix.count)"])
        finishJoin(chain, from: tail, at: j.have, then: j.suffix)
    }

    /// Joiner: the copy is in up to `position`: become a replica there, then apply `updates` and
    /// the live updates that came meanwhile (the replica skips those it already holds).
    private func finishJoin(_ chain: ChainID, from tail: NodeID, at position: LogPosition, then updates: [Update]) {
        guard var j = joins[chain], let config else { return }
        j.complete = true
        j.snapshot = position
        let c = config.chains[chain]
        var r = ChainReplica(chain: chain, me: me, epoch: config.epoch, members: c.members, joiner: c.joining, applied: position.seq)
        let buffered = j.buffered
        j.buffered = []
        j.suffix = []
        joins[chain] = j
        backlogs.removeValue(forKey: chain)
        server.data.put(ChainMetadata.appliedKey(chain), ChainMetadata.encodePosition(position), cached: false)
        let actions = r.onUpdates(from: tail, epoch: config.epoch, updates + buffered) + r.announce()
        replicas[chain] = r
        perform(chain, actions)
        server.markStoreDirty()
    }

    /// A joiner with its snapshot but no sync point yet acknowledges again: its first
    /// acknowledgement may have reached the tail in another epoch and been dropped.
    func announceJoins() {
        for (chain, j) in joins where j.complete && j.syncSeq == nil && replicas[chain] != nil {
            perform(chain, replicas[chain]!.announce())
        }
    }

    /// A promoted tail serves reads only after the old tail's barrier arrived and everything the
    /// old tail had committed is here.
    func awaitingBarrier(_ chain: ChainID) -> Bool {
        guard let b = barriers[chain] else { return false }
        let barrierMet = b.seq.map { (replicas[chain]?.applied ?? 0) >= $0 } ?? false
        guard barrierMet || monotonicMillis() >= b.deadlineMs else { return true }
        barriers.removeValue(forKey: chain)
        joins.removeValue(forKey: chain)
        return false
    }
}
