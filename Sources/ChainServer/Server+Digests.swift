import ChainCore
import Dispatch
import EventLoop
import Foundation
import Storage

/// `/digests`: for every chain this node holds, the number of keys and an order-independent
/// digest of its persisted content, so replicas of a chain can be compared. The scan runs on a
/// snapshot off the event loop.
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
            var keys: [Int: Int] = [:]
            var digest: [Int: UInt64] = [:]
            for tag in KeyLayout.slotTags {
                try? store.scan(prefix: [tag], from: nil, at: snapshot) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength else { return true }
                    let slot = Int(k[1]) << 8 | Int(k[2])
                    let chain = slot * chains / HashSlot.count
                    guard held[chain] != nil else { return true }
                    // Keys count values (user keys); the digest covers hash fields too.
                    if tag == KeyLayout.dataTag { keys[chain, default: 0] += 1 }
                    digest[chain, default: 0] ^= Self.fnv64(k, v)
                    return true
                }
            }
            let out = held.keys.sorted().map {
                ChainDigest(id: $0, keys: keys[$0] ?? 0, digest: String(digest[$0] ?? 0, radix: 16), applied: held[$0]!)
            }
            let body = (try? JSONEncoder().encode(out)).map(Array.init) ?? []
            bound.submit { $0.respond(status: 200, contentType: "application/json", body: body) }
        }
    }

    static func fnv64(_ a: [UInt8], _ b: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in a { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        h = (h ^ 0xff) &* 0x100_0000_01b3
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }
}
