import ChainCore
import ChainWire
import EventLoop

/// Joining chains: the joiner's side (wipe, request, receive, install) and the tail's side
/// (wait for persistence, stream a snapshot, pace it by the link's queue).
extension ChainNode {
    /// Joiner: throw away whatever this node held for the chain and ask the tail for it.
    func startJoin(chain: ChainID, tail: NodeID, epoch: Epoch) {
        guard let config else { return }
        dropChainData(chain, config: config)
        replicas.removeValue(forKey: chain)
        nextTransfer += 1
        joins[chain] = JoinProgress(epoch: epoch, tail: tail, transfer: nextTransfer)
        server.metrics.joinsStarted.increment()
        server.logger.notice("joining chain", metadata: ["chain": "\(chain)", "tail": "\(tail)", "epoch": "\(epoch)"])
        requestSnapshot(chain)
    }

    /// Sends the join's request once the link to the tail is up (`linkUp` calls it again).
    func requestSnapshot(_ chain: ChainID) {
        guard var j = joins[chain], !j.requested, !j.complete, peers.isReady(j.tail) else { return }
        j.requested = true
        joins[chain] = j
        peers.send([.syncRequest(epoch: j.epoch, chain: chain, transfer: j.transfer)], to: j.tail)
    }

    /// Deletes the chain's slot range, its request records and its applied sequence.
    func dropChainData(_ chain: ChainID, config: Configuration) {
        let slots = config.slots(of: chain)
        server.data.deleteRange(from: KeyLayout.slotPrefix(slots.lowerBound), to: KeyLayout.slotPrefix(slots.upperBound))
        server.data.deleteRange(from: KeyLayout.recordPrefix(chain: chain), to: KeyLayout.recordPrefix(chain: chain + 1))
        server.data.put(ChainMetadata.appliedKey(chain), ChainMetadata.encodeSeq(0), cached: false)
        server.markStoreDirty()
    }

    /// Tail: a joiner asked for the chain's data.
    func syncRequested(chain: ChainID, by joiner: NodeID, transfer: UInt64) {
        guard let r = replicas[chain], r.isTail, r.joiner == joiner else { return }
        streams.removeValue(forKey: chain)?.cancel()
        if r.persisted >= r.applied {
            startStream(chain: chain, joiner: joiner, transfer: transfer)
        } else {
            snapshotWaits[chain] = (joiner, r.applied, transfer)
        }
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

    /// Joiner: a chunk of the snapshot arrived.
    func chunkReceived(chain: ChainID, from tail: NodeID, epoch e: Epoch, transfer: UInt64, snapshotSeq: UInt64,
                       entries: [([UInt8], [UInt8])], last: Bool) {
        guard var j = joins[chain], j.tail == tail, !j.complete, transfer == j.transfer else { return }
        if j.snapshotSeq == nil { j.snapshotSeq = snapshotSeq }
        guard j.snapshotSeq == snapshotSeq else { return }
        guard let config else { return }
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
        if last {
            // The snapshot is in: become a replica at its sequence, then apply the live updates
            // that follow it (the replica skips those the snapshot already covers).
            j.complete = true
            let c = config.chains[chain]
            var r = ChainReplica(chain: chain, me: me, epoch: config.epoch, members: c.members, joiner: c.joining, applied: snapshotSeq)
            let buffered = j.buffered
            j.buffered = []
            joins[chain] = j
            server.data.put(ChainMetadata.appliedKey(chain), ChainMetadata.encodeSeq(snapshotSeq), cached: false)
            let actions = r.onUpdates(from: tail, epoch: config.epoch, buffered) + r.announce()
            replicas[chain] = r
            perform(chain, actions)
            server.logger.notice("chain snapshot received", metadata: ["chain": "\(chain)", "bytes": "\(j.bytes)", "seq": "\(snapshotSeq)"])
        } else {
            joins[chain] = j
        }
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
