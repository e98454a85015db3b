import ChainCore
import ChainWire
import EventLoop

/// The tail's side of a join that the core decided needs a snapshot: stream it from a store
/// snapshot, paced by the link's queue.
extension ChainNode {
    func startStream(chain: ChainID, joiner: NodeID, transfer: UInt64) {
        guard let config else { return }
        let s = SnapshotStream(chain: chain, joiner: joiner, epoch: config.epoch, transfer: transfer)
        streams[chain]?.cancel()
        streams[chain] = s
        // Snapshot and records at the same instant, on the loop.
        let store = server.data.store
        s.start(store: store, snapshot: store.snapshot(), newestTurn: turnLog.lastTurn, records: turnLog.records.records(of: chain),
                slots: config.slots(of: chain), throttle: throttle, node: LoopBound(self, loop: server.loop))
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
}
