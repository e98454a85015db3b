import ChainCore
import ChainWire
import Dispatch
import Foundation
import EventLoop
import Storage
import Synchronization

/// State transfer for joins. The chain's tail streams a consistent snapshot of the chain's
/// slots to the joining node in chunks, on a background thread, with flow control (it waits
/// while the link has more than `window` bytes queued); meanwhile it forwards the live stream to
/// the joiner, which buffers it until the snapshot is complete and then applies what follows the
/// snapshot's sequence. Chunk entries are store keys: the chain's data keys, then its request
/// records; the joiner accepts only keys of the chain it is joining.
enum ChainTransfer {
    static let chunkBytes = 256 << 10
    static let window = 8 << 20
}

/// The node-wide cap on transfer bandwidth (`--transfer-rate-mb`): every stream asks before it
/// sends a chunk and sleeps (on its own background thread) until the chunk fits the rate. Keeps
/// repairs and rebalancing from starving client traffic of network and disk.
final class TransferThrottle: Sendable {
    private let bytesPerSecond: Int
    /// Monotonic nanoseconds from which the link is free again.
    private let nextFree = Mutex<UInt64>(0)

    init(bytesPerSecond: Int) { self.bytesPerSecond = bytesPerSecond }

    /// Blocks until `bytes` may go; returns the nanoseconds waited.
    @discardableResult
    func take(_ bytes: Int) -> UInt64 {
        guard bytesPerSecond > 0 else { return 0 }
        let now = monotonicNanos()
        let cost = UInt64(bytes) * 1_000_000_000 / UInt64(bytesPerSecond)
        let start = nextFree.withLock { next -> UInt64 in
            let s = max(next, now)
            next = s + cost
            return s
        }
        guard start > now else { return 0 }
        let wait = start - now
        usleep(UInt32(min(wait / 1000, UInt64(UInt32.max))))
        return wait
    }
}

/// One outgoing transfer (tail side).
final class SnapshotStream: Sendable {
    let chain: ChainID
    let joiner: NodeID
    let epoch: Epoch
    let transfer: UInt64
    private let cancelled = Mutex(false)

    init(chain: ChainID, joiner: NodeID, epoch: Epoch, transfer: UInt64) {
        self.chain = chain
        self.joiner = joiner
        self.epoch = epoch
        self.transfer = transfer
    }

    func cancel() { cancelled.withLock { $0 = true } }
    var isCancelled: Bool { cancelled.withLock { $0 } }

    /// Scans the store's snapshot on a background queue and hands chunks to `send` on the loop.
    /// `send` returns the bytes queued on the link afterwards, which paces the scan. The snapshot
    /// was taken on the loop when `newestTurn` was the newest turn entry and `records` the
    /// chain's request records (a superset of the snapshot's: those of updates not in it yet are
    /// left out here).
    func start(store: any KVStore, snapshot: StoreSnapshot, newestTurn: UInt64, records: [(RequestRecords.ID, RequestRecords.Record)],
               slots: Range<Int>, throttle: TransferThrottle, node: LoopBound<ChainNode>) {
        let chain = self.chain, joiner = self.joiner, epoch = self.epoch, transfer = self.transfer
        DispatchQueue.global().async { [self] in
            let positions = try? TurnLog.positions(in: store, at: snapshot, newestTurn: newestTurn, chains: [chain])
            let snapAt = positions?[chain] ?? .empty
            var entries: [([UInt8], [UInt8])] = []
            var bytes = 0
            func flush(last: Bool) -> Bool {
                throttle.take(bytes)
                let frame = PeerFrame.syncChunk(epoch: epoch, chain: chain, transfer: transfer, snapshot: snapAt, entries: entries, last: last)
                entries = []
                bytes = 0
                // Hand the chunk to the loop and wait until the link has room again.
                let room = DispatchSemaphore(value: 0)
                node.submit { n in n.sendTransferChunk(frame, to: joiner, whenRoom: { room.signal() }) }
                while room.wait(timeout: .now() + 1) == .timedOut { if isCancelled { return false } }
                return !isCancelled
            }
            var ok = true
            func add(_ k: [UInt8], _ v: [UInt8]) -> Bool {
                entries.append((k, v))
                bytes += k.count + v.count
                if bytes >= ChainTransfer.chunkBytes { ok = flush(last: false) }
                return ok
            }
            // One ordered pass over the snapshot's values of this chain's slots, one over their
            // hash fields; then the chain's recorded request results, so that a retry reaching
            // the joiner once it heads the chain still finds its first result. Entries are
            // store keys.
            for tag in KeyLayout.slotTags where ok {
                try? store.scan(prefix: [tag], from: KeyLayout.slotPrefix(slots.lowerBound, tag: tag), at: snapshot) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength else { return true }
                    let slot = Int(k[1]) << 8 | Int(k[2])
                    guard slot < slots.upperBound else { return false }
                    return slots.contains(slot) ? add(k, v) : true
                }
            }
            if ok {
                // Records of earlier versions under their own keys, then the turn entries' ones,
                // in the records' wire form.
                try? store.scan(prefix: KeyLayout.recordPrefix(chain: chain), from: nil, at: snapshot) { k, v in add(k, v) }
                for (id, r) in records where ok && r.seq <= snapAt.seq {
                    let ring = Int(id.request % ChainMetadata.requestWindow)
                    ok = add(KeyLayout.recordKey(chain: chain, ring: ring, client: id.client), ChainMetadata.encodeRecord(id.request, seq: r.seq, r.reply))
                }
            }
            if ok { _ = flush(last: true) }
        }
    }
}

/// One incoming transfer (joiner side).
struct JoinProgress {
    var epoch: Epoch
    var tail: NodeID
    /// Names this attempt; chunks of an earlier, abandoned attempt are ignored.
    var transfer: UInt64
    /// Where the copy this node kept ends (`.empty`: it kept none).
    var have: LogPosition
    /// This node's copy of the chain was deleted (no copy kept, or a snapshot began to replace it).
    var wiped: Bool
    /// The request went out (it waits for the link to the tail).
    var requested = false
    /// Live updates from the tail, held until the snapshot or suffix is complete.
    var buffered: [Update] = []
    /// The suffix received so far (when the tail sends only what this node lacks).
    var suffix: [Update] = []
    /// Where the snapshot (or the kept copy) ends, once known.
    var snapshot: LogPosition?
    var bytes = 0
    var complete = false
    /// How far the tail had committed when it began counting this joiner (its `syncPoint`):
    /// the join is in sync once that much is persisted here.
    var syncSeq: UInt64?

    /// In sync: may be promoted to tail.
    func synced(persisted: UInt64) -> Bool {
        guard complete, let syncSeq else { return false }
        return persisted >= max(syncSeq, snapshot?.seq ?? 0)
    }
}
