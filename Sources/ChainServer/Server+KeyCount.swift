import ChainCore
import Dispatch
import EventLoop
import RESP
import Storage

/// `DBSIZE`: the number of keys, counted on a store snapshot off the event loop (RocksDB keeps
/// no exact count, and walking the keys on the loop would stall every other client). Only user
/// keys count, not the node's request records or metadata. In a cluster a node counts the keys
/// of the chains it is the tail of (`keyspaceRanges`, as SCAN and KEYS), so the answers of all
/// nodes add up to the cluster's keys, as Redis Cluster tools (`redis-cli --cluster info`)
/// expect. The snapshot is taken when the command runs — in a cluster after this connection's
/// earlier commands have answered (their writes committed, so in every replica's store), and
/// later commands wait for the count — so it sees exactly the connection's earlier writes. (A
/// standalone node in fsync mode may still be syncing a write pipelined just before it, which
/// the count then misses.)
extension Server {
    func countKeys(for session: ClientSession) -> CommandOutcome {
        let ranges: [Range<Int>]
        switch keyspaceRanges() {
        case let .failure(why):
            var out = RESPWriter(version: session.protocolVersion)
            out.error(why.message)
            let slot = reserveSlot(for: session)
            fillSlot(slot, bytes: out.bytes)
            return .deferred(slot)
        case let .success(r): ranges = r
        }
        // The snapshot now: exactly the writes before this command (later ones wait for it).
        let store = data.store
        let snapshot = store.snapshot()
        return answerOffLoop(session) { out in
            do throws(StoreError) {
                out.integer(try Self.countUserKeys(ranges, in: store, at: snapshot).keys)
            } catch {
                out.error("ERR store read failed: \(error)")
            }
        }
    }
}
