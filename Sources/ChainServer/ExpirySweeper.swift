import ChainCore
import Dispatch
import EventLoop
import Storage

/// Active expiry: finds keys whose time has passed in the chains this node heads and deletes
/// them by replicated updates, so their space comes back without anyone reading them. (Reads
/// never see an expired key in any case.)
///
/// A pass walks the keys of the chains due on a store snapshot on the background store-walk
/// queue (never on the event loop), with one store cursor for all of them (each new iterator
/// of a RocksDB store sorts its hashed memtable: a pass per chain sorted it once per chain this
/// node heads), collects up to `maxKeysPerPass` expired keys a chain, and hands them back to the
/// loop, where the head deletes those still expired in updates of `keysPerUpdate` keys. A
/// chain is walked again after 20 times its last pass's duration (at least a second) while it
/// holds keys with a time to live; a chain without any waits `idleIntervalMs`, or until the
/// head writes a key with a time to live (`wake`).
final class ExpirySweeper {
    unowned let server: Server
    static let maxKeysPerPass = 100_000
    static let keysPerUpdate = 512
    static let idleIntervalMs: UInt64 = 300_000

    private struct ChainState {
        var running = false
        var nextPassAt: UInt64 = 0
    }
    private var chains: [ChainID: ChainState] = [:]
    /// Keys deleted by the sweep since start (for `INFO` and tests).
    private(set) var expiredKeys = 0
    private(set) var passes = 0

    init(server: Server) { self.server = server }

    /// The head wrote a key with a time to live into `chain`: walk it soon.
    func wake(_ chain: ChainID) {
        let now = monotonicMillis()
        if chains[chain, default: ChainState()].nextPassAt > now + 1000 { chains[chain]!.nextPassAt = now + 1000 }
    }

    /// Once a second, on the loop.
    func tick() {
        let now = monotonicMillis()
        let owned: [(chain: ChainID, slots: Range<Int>)] = server.chainNode?.headedChains ?? [(0, 0..<HashSlot.count)]
        var due: [(chain: ChainID, slots: Range<Int>)] = []
        for (chain, slots) in owned {
            let state = chains[chain, default: ChainState()]
            guard !state.running, now >= state.nextPassAt else { continue }
            chains[chain, default: ChainState()].running = true
            due.append((chain, slots))
        }
        if !due.isEmpty { startPass(due) }
    }

    /// What a pass found in one chain.
    private struct Found: Sendable {
        var expired: [[UInt8]] = []
        var expiring = 0
    }

    private func startPass(_ due: [(chain: ChainID, slots: Range<Int>)]) {
        let store = server.data.store
        let snapshot = store.snapshot()
        let wallNow = wallMillis()
        let bound = LoopBound(self, loop: server.loop)
        Server.storeWalks.async {
            let started = monotonicMillis()
            // A store that cannot be read finds nothing (the chains are walked again later).
            let cursor = try? store.makeCursor(at: snapshot)
            var found = [Found](repeating: Found(), count: due.count)
            for (i, d) in due.enumerated() {
                try? cursor?.scanBytes(prefix: [KeyLayout.dataTag], from: KeyLayout.slotPrefix(d.slots.lowerBound)) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength, Int(k[1]) << 8 | Int(k[2]) < d.slots.upperBound else { return false }
                    switch StoredValue.liveness(raw: v, nowMs: wallNow) {
                    case .live: return true
                    case .expiring: found[i].expiring += 1
                    case .expired:
                        found[i].expiring += 1
                        found[i].expired.append(Array(k[KeyLayout.dataPrefixLength...]))
                    }
                    return found[i].expired.count < Self.maxKeysPerPass
                }
            }
            let took = monotonicMillis() - started
            bound.submit { [found] sweeper in
                for (i, d) in due.enumerated() {
                    sweeper.finishPass(chain: d.chain, expired: found[i].expired, expiring: found[i].expiring, tookMs: took)
                }
            }
        }
    }

    private func finishPass(chain: ChainID, expired: [[UInt8]], expiring: Int, tookMs: UInt64) {
        passes += 1
        let now = monotonicMillis()
        let full = expired.count >= Self.maxKeysPerPass
        let wait = expiring == 0 ? Self.idleIntervalMs : (full ? 0 : max(1000, 20 * tookMs))
        chains[chain, default: ChainState()].nextPassAt = now + wait
        var left = (expired.count + Self.keysPerUpdate - 1) / Self.keysPerUpdate
        guard left > 0 else {
            chains[chain]?.running = false
            return
        }
        for start in stride(from: 0, to: expired.count, by: Self.keysPerUpdate) {
            let keys = expired[start..<min(start + Self.keysPerUpdate, expired.count)]
            deleteExpired(chain: chain, keys, now: wallMillis()) { [unowned self] deleted in
                expiredKeys += deleted
                left -= 1
                if left == 0 { chains[chain]?.running = false }
            }
        }
    }

    /// Deletes those of `keys` that are still expired at `now` (a key may have been written again
    /// since the pass saw it).
    private func deleteExpired(chain: ChainID, _ keys: ArraySlice<[UInt8]>, now: UInt64, done: @escaping (Int) -> Void) {
        var n = 0
        let delete = { (data: any Keyspace) throws(CommandError) in
            for k in keys {
                guard let e = try data.storedEntry(k), !e.isLive(nowMs: now) else { continue }
                try data.delete(k)
                n += 1
            }
        }
        guard let node = server.chainNode else {
            do { try delete(server.direct) } catch { return done(0) }
            if n > 0 { server.markStoreDirty() }
            return done(n)
        }
        node.internalWrite(chain: chain, now: now, { recorder throws(CommandError) in try delete(recorder) }) { committed in
            done(committed ? n : 0)
        }
    }
}
