import ChainCore
import RESP
import Storage

extension Wrapper {
    static let scan = Array("cs.scan".utf8)
}

/// `CS.SCAN chain cursor count`: iterate one chain's keys (what `chainctl scan` uses, chain by
/// chain). Answers up to `count` (1–1000) key/value pairs of the chain in store order, after
/// `cursor` — the first element of the previous reply, empty to start:
/// `[next cursor (empty when done), [key, value, key, value, …]]`.
///
/// In a cluster only the chain's tail answers (like a read; others say `TRYAGAIN`), from its
/// store: every committed write of the chain is there. Each call sees the chain's committed
/// state at that moment; a whole scan is not one snapshot. A standalone node has one "chain" 0
/// holding every slot.
extension Server {
    func scanChain(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard args.count == 4, let chain = Int(String(decoding: args[1], as: UTF8.self)),
              let count = Int(String(decoding: args[3], as: UTF8.self)), (1...1000).contains(count) else {
            out.error("ERR CS.SCAN needs a chain number, a cursor (empty to start) and a count of 1-1000")
            return .answered
        }
        guard let slots = servedChainSlots(chain, into: &out)?.slots else { return .answered }
        let cursor = args[2]
        if !cursor.isEmpty && (cursor.count < KeyLayout.dataPrefixLength || cursor[0] != KeyLayout.dataTag) {
            out.error("ERR invalid CS.SCAN cursor")
            return .answered
        }
        let store = data.store
        let cursors = scanCursors
        let now = wallMillis()
        // Off the loop, with the store cursor the call before left at `cursor` (see ScanCursors).
        return answerOffLoop(session) { out in
            var entries: [([UInt8], [UInt8])] = []
            var last: [UInt8] = []
            var visited = 0
            do {
                let (c, madeNanos) = try cursors.take(at: cursor.isEmpty ? nil : Self.chainScanPosition(chain, cursor), store: store)
                try c.scan(prefix: [KeyLayout.dataTag], from: cursor.isEmpty ? KeyLayout.slotPrefix(slots.lowerBound) : cursor + [0]) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength, slots.contains(Int(k[1]) << 8 | Int(k[2])),
                          let user = KeyLayout.userKey(fromDataKey: k) else { return false }
                    last = k
                    visited += 1
                    // Expired keys are skipped but counted, so a call's work stays bounded.
                    if let e = StoredValue(raw: v) {
                        guard e.isLive(nowMs: now) else { return visited < count }
                        entries.append((user, e.type == .hash ? Array("(hash of \(e.fieldCount) fields)".utf8) : Array(e.payload)))
                    } else {
                        entries.append((user, v))
                    }
                    return visited < count
                }
                if visited == count { cursors.park(c, madeNanos: madeNanos, at: Self.chainScanPosition(chain, last)) }
            } catch {
                return out.error("ERR store read failed: \(error)")
            }
            out.arrayHeader(2)
            out.bulk(visited == count ? last : [])
            out.arrayHeader(entries.count * 2)
            for (k, v) in entries {
                out.bulk(k)
                out.bulk(v)
            }
        }
    }

    /// The slots of `chain` (and the configuration's epoch; 0 standalone) if this node answers
    /// reads of it now; otherwise the error goes into `out` — no such chain, `TRYAGAIN` naming
    /// its tail, a standalone node's only chain being 0 — and the result is nil.
    func servedChainSlots(_ chain: Int, into out: inout RESPWriter) -> (slots: Range<Int>, epoch: UInt64)? {
        guard let node = chainNode else {
            guard chain == 0 else {
                out.error("ERR a standalone node has only chain 0")
                return nil
            }
            return (0..<HashSlot.count, 0)
        }
        guard let config = node.config, config.chains.indices.contains(chain) else {
            out.error("ERR no chain \(chain) in the current configuration")
            return nil
        }
        guard node.servesReads(chain) else {
            metrics.error("tryagain")
            out.error("TRYAGAIN chainstore epoch \(config.epoch): chain \(chain) is served by \(config.chains[chain].tail ?? "nobody"); retry there")
            return nil
        }
        return (config.slots(of: chain), config.epoch)
    }

    static func chainScanPosition(_ chain: Int, _ lastKey: [UInt8]) -> [UInt8] { Array("cs:\(chain):".utf8) + lastKey }
}
