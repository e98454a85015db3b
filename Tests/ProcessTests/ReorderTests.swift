import Foundation
import XCTest
import ChainClient
import RESP

/// After a node restarts (and loses its memory-mode data), it rejoins its chains as their tail
/// and the master reorders them back, freezing each chain's writes for a heartbeat or two.
/// Plain clients, which do not retry TRYAGAIN, must see that as a short delay: every write is
/// answered OK, on one connection per node, in order — also a request forwarded to a node
/// that stopped serving its chain on the way (it is routed again).
final class ReorderTests: ClusterTestCase {
    func testPlainClientWritesAreHeldThroughAReorder() throws {
        let c = try LocalCluster.start(label: "reorder-hold")
        cluster = c
        // n3 stops and is spliced out first, so that no request meets a dead node.
        c.nodes["n3"]!.stop()
        XCTAssert(Harness.waitFor(20) { (try? c.status())?.chains.allSatisfy { !$0.members.contains("n3") } ?? false }, "n3 spliced out")
        let stop = Locked(false)
        let replies = Locked<[String: Int]>([:])
        let refusals = Locked<[String]>([])
        let group = DispatchGroup()
        for n in ["n1", "n2"] {
            let port = c.ports[n]!.client
            DispatchQueue.global().async(group: group) {
                guard let client = try? RESPClient(port: port, timeoutMs: 10_000) else { return refusals.mutate { $0.append("\(n): cannot connect") } }
                var i = 0
                while !stop.value {
                    // Pipelined pairs: the GET must see the SET before it.
                    let key = "\(n):\(i % 500)"
                    let r = try? client.pipeline([["SET", key, "\(i)"], ["GET", key]].map { $0.map { Array($0.utf8) } })
                    if r == [.simple("OK"), .bulk(Array("\(i)".utf8))] {
                        replies.mutate { $0[n, default: 0] += 1 }
                    } else {
                        refusals.mutate { $0.append("\(key): \(r.map { "\($0)" } ?? "no answer")") }
                        if refusals.value.count > 50 { return }
                    }
                    i += 1
                }
            }
        }
        XCTAssert(Harness.waitFor(20) { (replies.value["n1"] ?? 0) > 100 && (replies.value["n2"] ?? 0) > 100 }, "writers started")

        // n3 comes back empty (memory mode): it rejoins every chain as its tail, and the master
        // reorders the chains back, freezing each one's writes while it does.
        try c.startNode("n3")
        XCTAssert(c.waitSettled(), "the cluster settles: \((try? c.status())?.chains.map { "\($0.id) \($0.state) \($0.members)" } ?? [])")
        stop.mutate { $0 = true }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)

        // A request forwarded under a configuration that just changed comes back to the node
        // that forwarded it, which routes it again; a write is never refused for having waited.
        XCTAssertEqual(refusals.value, [], "refused, or answered out of order")
        let rerouted = try ["n1", "n2"].reduce(0.0) { $0 + (try c.metric($1, "chainstore_forwards_rerouted_total")) }
        print("ReorderTests: \(Int(rerouted)) forwarded requests routed again")
        let held = try ["n1", "n2"].reduce(0.0) { $0 + (try c.metric($1, "chainstore_writes_held_frozen_total")) }
        XCTAssertGreaterThan(held, 0, "writes met frozen chains and were held (the reorder was exercised)")
    }
}
