import ChainCore
import Dispatch
import EventLoop
import Foundation
import Storage

/// `/digests`: for every chain this node holds, the number of keys and an order-independent
/// digest of its persisted content (`ContentDigest`), so replicas of a chain can be compared.
/// With `?live=1`, keys whose expiry has come (and the fields of such hashes) are left out and
/// the node's clock is reported, as a restore's check needs. The scan runs on a snapshot off the
/// event loop.
extension Server {
    struct ChainDigest: Encodable {
        var id: Int
        var keys: Int
        var digest: String
        var applied: UInt64
    }

    struct LiveDigests: Encodable {
        var now_ms: UInt64
        var chains: [ChainDigest]
    }

    func digests(_ req: HTTPRequest) {
        guard let node = chainNode, let config = node.config else {
            req.respond(status: 503, text: "no configuration yet\n")
            return
        }
        let held = Dictionary(uniqueKeysWithValues: node.replicas.values.map { ($0.chain, $0.persisted) })
        let store = data.store
        let chains = config.chains.count
        let live = req.query["live"] == "1"
        let now = wallMillis()
        let bound = LoopBound(req, loop: loop)
        DispatchQueue.global().async {
            let snapshot = store.snapshot()
            var sums: [Int: ContentDigest] = [:]
            var filters: [Int: LiveContent] = [:]
            for tag in KeyLayout.slotTags {
                try? store.scan(prefix: [tag], from: nil, at: snapshot) { k, v in
                    guard let slot = KeyLayout.slot(ofSlotKey: k) else { return true }
                    let chain = slot * chains / HashSlot.count
                    guard held[chain] != nil else { return true }
                    if live, !filters[chain, default: LiveContent(nowMs: now)].isLive(storeKey: k, value: v) { return true }
                    sums[chain, default: ContentDigest()].add(storeKey: k, value: v)
                    return true
                }
            }
            let out = held.keys.sorted().map {
                ChainDigest(id: $0, keys: sums[$0]?.keys ?? 0, digest: sums[$0]?.digestHex ?? "0", applied: held[$0]!)
            }
            let body = ((live ? try? JSONEncoder().encode(LiveDigests(now_ms: now, chains: out)) : try? JSONEncoder().encode(out))
                .map(Array.init)) ?? []
            bound.submit { $0.respond(status: 200, contentType: "application/json", body: body) }
        }
    }
}
