import ChainCore
import Dispatch
import EventLoop
import Foundation
import RESP
import Storage

/// `/digests`: for every chain this node holds, the number of keys and an order-independent
/// digest of its persisted content (`ContentDigest`), so replicas of a chain can be compared.
/// The scan runs on a snapshot off the event loop.
extension Server {
    struct ChainDigest: Encodable {
        var id: Int
        var keys: Int
        var digest: String
        var applied: UInt64
    }

    func digests(_ req: HTTPRequest) {
        guard let node = chainNode, let config = node.config else {
            req.respond(status: 503, text: "no configuration yet\n")
            return
        }
        let held = Dictionary(uniqueKeysWithValues: node.replicas.values.map { ($0.chain, $0.persisted) })
        let store = data.store
        let chains = config.chains.count
        let bound = LoopBound(req, loop: loop)
        DispatchQueue.global().async {
            let snapshot = store.snapshot()
            var sums: [Int: ContentDigest] = [:]
            for tag in KeyLayout.slotTags {
                try? store.scan(prefix: [tag], from: nil, at: snapshot) { k, v in
                    guard let slot = KeyLayout.slot(ofSlotKey: k) else { return true }
                    let chain = slot * chains / HashSlot.count
                    guard held[chain] != nil else { return true }
                    sums[chain, default: ContentDigest()].add(storeKey: k, value: v)
                    return true
                }
            }
            let out = held.keys.sorted().map {
                ChainDigest(id: $0, keys: sums[$0]?.keys ?? 0, digest: sums[$0]?.digestHex ?? "0", applied: held[$0]!)
            }
            let body = (try? JSONEncoder().encode(out)).map(Array.init) ?? []
            bound.submit { $0.respond(status: 200, contentType: "application/json", body: body) }
        }
    }
}

extension Wrapper {
    static let digest = Array("cs.digest".utf8)
}

/// `CS.DIGEST ALL|LIVE chain [chain …]`: what `/digests` reports, over the client port (with its
/// authentication and TLS), for chains this node serves reads of (their tail): per chain
/// `[chain, keys, digest (hex), node clock (Unix ms)]`, from one snapshot, walked off the event
/// loop. `LIVE` leaves out keys whose expiry has come. `chainctl restore` checks a cluster with it.
extension Server {
    func digestCommand(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard args.count >= 3, Wrapper.matches(args[1], Array("live".utf8)) || Wrapper.matches(args[1], Array("all".utf8)) else {
            out.error("ERR CS.DIGEST ALL|LIVE chain [chain ...]")
            return .answered
        }
        let live = Wrapper.matches(args[1], Array("live".utf8))
        var chains: [(Int, Range<Int>)] = []
        for arg in args[2...] {
            guard let chain = Int(String(decoding: arg, as: UTF8.self)), chain >= 0 else {
                out.error("ERR CS.DIGEST needs chain numbers")
                return .answered
            }
            guard let served = servedChainSlots(chain, into: &out) else { return .answered }
            chains.append((chain, served.slots))
        }
        let store = data.store
        let snapshot = store.snapshot()
        let now = wallMillis()
        return answerOffLoop(session) { [chains] out in
            var sums: [ContentDigest] = []
            do {
                let cursor = try store.makeCursor(at: snapshot)
                for (_, slots) in chains {
                    var sum = ContentDigest()
                    var filter = LiveContent(nowMs: now)
                    for tag in KeyLayout.slotTags {
                        try cursor.scan(prefix: [tag], from: KeyLayout.slotPrefix(slots.lowerBound, tag: tag)) { k, v in
                            guard let slot = KeyLayout.slot(ofSlotKey: k), slot < slots.upperBound else { return false }
                            if !live || filter.isLive(storeKey: k, value: v) { sum.add(storeKey: k, value: v) }
                            return true
                        }
                    }
                    sums.append(sum)
                }
            } catch {
                return out.error("ERR store read failed: \(error)")
            }
            out.arrayHeader(chains.count)
            for (i, (chain, _)) in chains.enumerated() {
                out.arrayHeader(4)
                out.integer(chain)
                out.integer(sums[i].keys)
                out.bulk(Array(sums[i].digestHex.utf8))
                out.integer(Int(now))
            }
        }
    }
}
