import ChainCore
import RESP
import Storage

extension Wrapper {
    static let backup = Array("cs.backup".utf8)
    static let backupOpen = Array("open".utf8)
}

/// `CS.BACKUP`: read chains' stored keys from a single point-in-time snapshot, in as many calls
/// as the client likes (what `chainctl backup` uses, at each tail for the chains it serves).
///
///     CS.BACKUP OPEN chain [chain …]            -> [id, epoch, taken at (Unix ms), node,
///                                                   [[chain, applied seq, applied epoch], …]]
///     CS.BACKUP READ id chain cursor max-bytes  -> [next cursor (empty when done), records]
///     CS.BACKUP CLOSE id                        -> OK
///
/// OPEN is answered only where a read of every named chain would be (its tail, holding the
/// lease, past any promotion barrier; otherwise `TRYAGAIN`), after this connection's earlier
/// writes to them, and takes the snapshot there and then: every committed write of those chains
/// up to that instant is in it, nothing after. READ answers one chain's records in
/// `BackupFormat`'s layout, starting after `cursor` (empty to start; the first element of the
/// previous answer otherwise), about `max-bytes` (4 KiB–64 MiB) at a time, read off the event
/// loop. A snapshot not used for two minutes is dropped (the client gets an error and opens
/// again).
extension Server {
    func backupCommand(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        let sub = args.count > 1 ? String(decoding: args[1], as: UTF8.self).uppercased() : ""
        switch (sub, args.count) {
        case ("OPEN", 3...):
            return openBackup(Array(args[2...]), into: &out)
        case ("READ", 6):
            return readBackup(id: String(decoding: args[2], as: UTF8.self), chain: args[3], cursor: args[4], maxBytes: args[5],
                              session: session, into: &out)
        case ("CLOSE", 3):
            backups.close(String(decoding: args[2], as: UTF8.self))
            out.ok()
            return .answered
        default:
            out.error("ERR CS.BACKUP OPEN chain [chain ...] | READ id chain cursor max-bytes | CLOSE id")
            return .answered
        }
    }

    private func openBackup(_ chainArgs: [[UInt8]], into out: inout RESPWriter) -> CommandOutcome {
        var chains: [Int: Range<Int>] = [:]
        var epoch: UInt64 = 0
        for arg in chainArgs {
            guard let chain = Int(String(decoding: arg, as: UTF8.self)), chain >= 0 else {
                out.error("ERR CS.BACKUP OPEN needs chain numbers")
                return .answered
            }
            guard let served = servedChainSlots(chain, into: &out) else { return .answered }
            chains[chain] = served.slots
            epoch = served.epoch
        }
        // The store holds every update this node applied before this turn (the turn's own go
        // in at its end), and at a serving tail every applied update is committed.
        let snapshot = data.store.snapshot()
        var positions: [(Int, LogPosition)] = []
        do {
            let held = try TurnLog.positions(in: data.store, at: snapshot, newestTurn: chainNode?.turnLog.lastTurn ?? 0, chains: Array(chains.keys))
            positions = chains.keys.sorted().map { ($0, held[$0] ?? .empty) }
        } catch {
            out.error("ERR store read failed: \(error)")
            return .answered
        }
        let id = backups.open(chains: chains, snapshot: snapshot)
        out.arrayHeader(5)
        out.bulk(Array(id.utf8))
        out.integer(Int(epoch))
        out.integer(Int(wallMillis()))
        out.bulk(Array(config.nodeID.utf8))
        out.arrayHeader(positions.count)
        for (chain, p) in positions {
            out.arrayHeader(3)
            out.integer(chain)
            out.integer(Int(p.seq))
            out.integer(Int(p.epoch))
        }
        return .answered
    }

    private func readBackup(id: String, chain chainArg: [UInt8], cursor: [UInt8], maxBytes: [UInt8], session: ClientSession,
                            into out: inout RESPWriter) -> CommandOutcome {
        guard let limit = Int(String(decoding: maxBytes, as: UTF8.self)), (4096...(64 << 20)).contains(limit) else {
            out.error("ERR CS.BACKUP READ max-bytes must be 4096-67108864")
            return .answered
        }
        guard cursor.isEmpty || KeyLayout.slot(ofSlotKey: cursor) != nil else {
            out.error("ERR invalid CS.BACKUP cursor")
            return .answered
        }
        guard let entry = backups.use(id) else {
            out.error("ERR no backup snapshot '\(id.prefix(64))' here (closed, idle for over \(BackupSnapshots.idleNanos / 1_000_000_000) s, or the node restarted); open it again")
            return .answered
        }
        guard let chain = Int(String(decoding: chainArg, as: UTF8.self)), let slots = entry.chains[chain] else {
            out.error("ERR backup snapshot '\(id.prefix(64))' was not opened for chain '\(String(decoding: chainArg.prefix(16), as: UTF8.self))'")
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
                    let from = t == firstTag && !cursor.isEmpty ? cursor + [0] : KeyLayout.slotPrefix(slots.lowerBound, tag: tags[t])
                    var full = false
                    // Straight from the iterator's memory: no arrays per record.
                    try c.scanBytes(prefix: [tags[t]], from: from) { k, v in
                        guard k.count >= KeyLayout.dataPrefixLength, Int(k[1]) << 8 | Int(k[2]) < slots.upperBound else { return false }
                        BackupFormat.appendRecord(key: k, value: v, to: &records)
                        full = records.count >= limit
                        if full { last = Array(k) }
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
