import ChainCore
import RESP

extension Wrapper {
    /// `CS.CLEARCHAIN chain`: empty one chain, as one update at its head (what `FLUSHALL` sends
    /// to every chain's head).
    static let clearChain = Array("cs.clearchain".utf8)
}

/// `FLUSHALL` / `FLUSHDB` (the same: there is one database): every key of every chain goes, each
/// chain emptied by one replicated update at its head (`Mutation.clearChain`), so every replica
/// empties the chain at the same point of its history and a write committed after the flush is
/// kept. The node the client talks to sends `CS.CLEARCHAIN` to each chain's head (itself
/// included, over the same forwarding links as other requests) and answers once every chain
/// has committed its flush — or with the first chain's error, after which the client may send
/// it again (flushing twice is harmless). `ASYNC` and `SYNC` are accepted; the deletion is a
/// range tombstone either way, which RocksDB reclaims in the background.
extension Server {
    func flush(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let node = chainNode else {
            for tag in KeyLayout.slotTags { data.deleteRange(from: [tag], to: [tag + 1]) }
            standaloneWrites += 1
            watchTable.noteCleared(chain: 0, seq: standaloneWrites)
            markStoreDirty()
            out.ok()
            session.observed(data.currentSeq)
            return .answered
        }
        guard let config = node.config else {
            out.error("CLUSTERDOWN chainstore: this node has no configuration from the master yet")
            return .answered
        }
        // Ordered across every chain: a command after FLUSHALL runs once every chain is empty.
        let slot = reserveSlot(for: session, chain: nil, at: node.me)
        var left = config.chains.count
        var firstError: [UInt8]?
        for chain in config.chains {
            let sub = reserveInternalSlot { [unowned self] reply in
                if reply.first != UInt8(ascii: "+"), firstError == nil { firstError = reply }
                left -= 1
                if left == 0 { fillSlot(slot, bytes: firstError ?? Array("+OK\r\n".utf8)) }
            }
            guard let head = chain.head, let address = config.node(head)?.client else {
                fillSlot(sub, bytes: Array("-CLUSTERDOWN chainstore: chain \(chain.id) has no members\r\n".utf8))
                continue
            }
            node.forwarder.forward([Wrapper.forward, Wrapper.clearChain, Array(String(chain.id).utf8)], to: head, address: address,
                                   slot: sub, protocolVersion: 2)
        }
        return .deferred(slot)
    }

    func reserveInternalSlot(_ done: @escaping ([UInt8]) -> Void) -> UInt64 {
        let id = nextSlot
        nextSlot += 1
        internalWaits[id] = done
        return id
    }

    /// `CS.CLEARCHAIN chain` at the chain's head (forwarded there by `flush`).
    func clearChainCommand(_ args: [[UInt8]], session: ClientSession, forwarded: Bool, into out: inout RESPWriter) -> CommandOutcome {
        guard let node = chainNode, args.count == 2, let chain = Int(String(decoding: args[1], as: UTF8.self)) else {
            out.error("ERR CS.CLEARCHAIN needs a chain number (cluster mode only)")
            return .answered
        }
        if session.user?.permission == .readOnly {
            metrics.error("noperm")
            out.error("NOPERM User \(session.user!.name) has no permissions to run the 'flushall' command")
            return .answered
        }
        return node.clearChain(chain, session: session, forwarded: forwarded, into: &out)
    }
}
