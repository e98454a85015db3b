import ChainCore
import RESP
import Storage

extension Wrapper {
    static let backup = Array("cs.backup".utf8)
}

/// `CS.BACKUP`: read one chain's stored keys from a single point-in-time snapshot, in as many
/// calls as the client likes (what `chainctl backup` uses, chain by chain, at each tail).
///
///     CS.BACKUP OPEN chain                 -> [id, epoch, applied seq, applied epoch, taken at (Unix ms), node]
///     CS.BACKUP READ id cursor max-bytes   -> [next cursor (empty when done), records]
///     CS.BACKUP CLOSE id                   -> OK
///
/// OPEN is answered only where a read of the chain would be (its tail, holding the lease, past
/// any promotion barrier; others say `TRYAGAIN`), after this connection's earlier writes to the
/// chain, and takes the snapshot there and then: every committed write of the chain up to that
/// instant is in it, nothing after. READ answers records in `BackupFormat`'s layout, starting
/// after `cursor` (empty to start; the first element of the previous answer otherwise), about
/// `max-bytes` (4 KiB–64 MiB) at a time, read off the event loop. A snapshot not used for two
/// minutes is dropped (the client gets an error and starts that chain again).
extension Server {
    func backupCommand(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        let sub = args.count > 1 ? String(decoding: args[1], as: UTF8.self).uppercased() : ""
        switch (sub, args.count) {
        case ("OPEN", 3):
            return openBackup(args[2], into: &out)
        case ("READ", 5):
            return readBackup(id: String(decoding: args[2], as: UTF8.self), cursor: args[3], maxBytes: args[4], session: session, into: &out)
        case ("CLOSE", 3):
            backups.close(String(decoding: args[2], as: UTF8.self))
            out.ok()
            return .answered
        default:
            out.error("ERR CS.BACKUP OPEN chain | READ id cursor max-bytes | CLOSE id")
            return .answered
        }
    }

    private func openBackup(_ chainArg: [UInt8], into out: inout RESPWriter) -> CommandOutcome {
        guard let chain = Int(String(decoding: chainArg, as: UTF8.self)), chain >= 0 else {
            out.error("ERR CS.BACKUP OPEN needs a chain number")
            return .answered
        }
        let slots: Range<Int>
        var epoch: UInt64 = 0
        if let node = chainNode {
            guard let config = node.config, config.chains.indices.contains(chain) else {
                out.error("ERR no chain \(chain) in the current configuration")
                return .answered
            }
            guard node.servesReads(chain) else {
                metrics.error("tryagain")
                out.error("TRYAGAIN chainstore epoch \(config.epoch): chain \(chain) is served by \(config.chains[chain].tail ?? "nobody"); retry there")
                return .answered
            }
            slots = config.slots(of: chain)
            epoch = config.epoch
        } else {
            guard chain == 0 else {
                out.error("ERR a standalone node has only chain 0")
                return .answered
            }
            slots = 0..<HashSlot.count
        }
        // The store holds every update this node applied before this turn (the turn's own go
        // in at its end), and at a serving tail every applied update is committed.
        let snapshot = data.store.snapshot()
        let applied: LogPosition
        do { applied = ChainMetadata.decodePosition(try data.store.get(ChainMetadata.appliedKey(chain), at: snapshot)) } catch {
            out.error("ERR store read failed: \(error)")
            return .answered
        }
        let id = backups.open(chain: chain, slots: slots, snapshot: snapshot)
        out.arrayHeader(6)
        out.bulk(Array(id.utf8))
        out.integer(Int(epoch))
        out.integer(Int(applied.seq))
        out.integer(Int(applied.epoch))
        out.integer(Int(wallMillis()))
        out.bulk(Array(config.nodeID.utf8))
        return .answered
    }

    private func readBackup(id: String, cursor: [UInt8], maxBytes: [UInt8], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let limit = Int(String(decoding: maxBytes, as: UTF8.self)), (4096...(64 << 20)).contains(limit) else {
            out.error("ERR CS.BACKUP READ max-bytes must be 4096-67108864")
            return .answered
        }
        guard cursor.isEmpty || KeyLayout.slot(ofSlotKey: cursor) != nil else {
            out.error("ERR invalid CS.BACKUP cursor")
            return .answered
        }
        guard let entry = backups.use(id) else {
            out.error("ERR no backup snapshot '\(id.prefix(64))' here (closed, idle for over \(BackupSnapshots.idleNanos / 1_000_000_000) s, or the node restarted); open the chain again")
            return .answered
        }
        let store = data.store
        return answerOffLoop(session) { out in
            var records: [UInt8] = []
            records.reserveCapacity(limit + 4096)
            var last: [UInt8] = []
            do {
                if entry.cursor == nil { entry.cursor = try store.makeCursor(at: entry.snapshot) }
                let c = entry.cursor!
                let tags = KeyLayout.slotTags
                let firstTag = cursor.first.flatMap { tags.firstIndex(of: $0) } ?? 0
                walk: for t in firstTag..<tags.count {
                    let from = t == firstTag && !cursor.isEmpty ? cursor + [0] : KeyLayout.slotPrefix(entry.slots.lowerBound, tag: tags[t])
                    var full = false
                    try c.scan(prefix: [tags[t]], from: from) { k, v in
                        guard let slot = KeyLayout.slot(ofSlotKey: k), slot < entry.slots.upperBound else { return false }
                        BackupFormat.appendRecord(key: k, value: v, to: &records)
                        last = k
                        full = records.count >= limit
                        return !full
                    }
                    if full { break walk }
                    last = []
                }
            } catch {
                return out.error("ERR store read failed: \(error)")
            }
            out.arrayHeader(2)
            out.bulk(last)
            out.bulk(records)
        }
    }
}
