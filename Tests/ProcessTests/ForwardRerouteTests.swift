import Foundation
import XCTest
import ChainCore
import RESP

/// A node forwards a plain client's request to the node that serves its chain; when the
/// configuration changed on the way, that node refuses it unexecuted, and the forwarding node
/// routes it again — in the connection's order — instead of passing `TRYAGAIN` to a client that
/// may not retry. n2's client port sits behind a `RefusingProxy` that plays the refusing node.
final class ForwardRerouteTests: ClusterTestCase {
    private func start(_ label: String) throws -> (LocalCluster, RefusingProxy, Configuration) {
        let c = LocalCluster(label: label)
        cluster = c
        let ports = LocalCluster.NodePorts(client: Harness.freePort(), peer: Harness.freePort(), http: Harness.freePort())
        c.ports["n2"] = ports
        let proxy = try RefusingProxy(to: ports.client)
        addTeardownBlock { proxy.stop() }
        try c.startMaster(replication: 3, initialNodes: 3)
        try c.startNode("n1")
        try c.startNode("n2", extra: ["--advertise-client", proxy.address])
        try c.startNode("n3")
        try c.waitHealthy()
        XCTAssert(c.waitSettled(), "the cluster settles")
        let r = try c.ctl(["config", "--json"])
        return (c, proxy, try JSONDecoder().decode(Configuration.self, from: Data(r.out.utf8)))
    }

    /// A key of a chain that n2 heads: n1 forwards its writes to n2.
    private func keyHeadedByN2(_ config: Configuration) -> (key: String, chain: ChainID) {
        for i in 0... {
            let key = "k\(i)"
            let chain = config.chain(forKey: Array(key.utf8))
            if config.chains[chain].head == "n2" { return (key, chain) }
        }
        fatalError("unreachable")
    }

    private func args(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }

    func testRefusedForwardsAreRoutedAgainInTheirConnectionsOrder() throws {
        let (c, proxy, config) = try start("reroute-order")
        let (key, chain) = keyHeadedByN2(config)
        proxy.arm(.init(key: key, refusal: "TRYAGAIN chainstore epoch \(config.epoch): chain \(chain) is served by n2 now; retry", times: 1))
        let client = try c.client("n1")
        let replies = try client.pipeline([args("SET", key, "a"), args("SET", key, "b"), args("GET", key)])
        XCTAssertEqual(replies, [.simple("OK"), .simple("OK"), .bulk(Array("b".utf8))], "proxy saw: \(proxy.log)")

        // Both writes were refused (the second because the first was: it came behind it on the
        // same connection), n1 said CS.REROUTED before sending anything again, then sent both
        // again, in order.
        let writes = proxy.log.filter { $0.contains(key) || $0.lowercased().hasPrefix("cs.rerouted") }
        let expected = ["REFUSED cs.fwd SET \(key) a", "REFUSED cs.fwd SET \(key) b", "cs.rerouted \(chain)",
                        "cs.fwd SET \(key) a", "cs.fwd SET \(key) b"]
        XCTAssertEqual(Array(writes.prefix(5)), expected, "\(proxy.log)")
        XCTAssertGreaterThanOrEqual(try c.metric("n1", "chainstore_forwards_rerouted_total"), 2)
        // The chain's tail serves what the head wrote.
        XCTAssertEqual(try c.client("n1").call("GET", key), .bulk(Array("b".utf8)))
    }

    func testARequestRoutedAgainIsNotTakenByALaterMulti() throws {
        let (c, proxy, config) = try start("reroute-multi")
        let (key, chain) = keyHeadedByN2(config)
        proxy.arm(.init(key: key, refusal: "TRYAGAIN chainstore epoch \(config.epoch): chain \(chain) is served by n2 now; retry", times: 1))
        let client = try c.client("n1")
        // The MULTI runs while the SET is out; the SET, routed again, still runs on its own.
        let replies = try client.pipeline([args("SET", key, "a"), args("MULTI"), args("SET", "other", "x")])
        XCTAssertEqual(replies, [.simple("OK"), .simple("OK"), .simple("QUEUED")], "proxy saw: \(proxy.log)")
        XCTAssertEqual(try client.call("EXEC"), .array([.simple("OK")]), "the transaction holds only its own command")
        XCTAssertEqual(try client.call("GET", key), .bulk(Array("a".utf8)))
    }

    func testARefusalUnderANewerConfigurationWaitsForItThenReachesTheClient() throws {
        let (c, proxy, config) = try start("reroute-giveup")
        let (key, chain) = keyHeadedByN2(config)
        // The refusing node claims an epoch no configuration reaches: n1 waits for it, a lease
        // at most, holding the connection's later commands, then passes the refusal on.
        let refusal = "TRYAGAIN chainstore epoch \(config.epoch + 1000): chain \(chain) is served by n3 now; retry"
        proxy.arm(.init(key: key, refusal: refusal, times: 1))
        let client = try c.client("n1")
        let replies = try client.pipeline([args("SET", key, "a"), args("PING")])
        XCTAssertEqual(replies, [.error(refusal), .simple("PONG")])
        XCTAssertEqual(proxy.log.filter { $0.contains(key) }, ["REFUSED cs.fwd SET \(key) a"], "sent once: the configuration never got newer")
        XCTAssertEqual(try c.metric("n1", "chainstore_forwards_rerouted_total"), 0)
        // Nothing was written; the connection goes on.
        XCTAssertEqual(try client.call("GET", key), .bulk(nil))

        // The internal commands answer bad input with an error and change nothing.
        guard case let .error(e) = try client.call("CS.REROUTED", "x") else { return XCTFail("a non-numeric chain was accepted") }
        XCTAssert(e.contains("needs a chain number"), e)
        guard case .error = try client.call("CS.REROUTED") else { return XCTFail("no chain was accepted") }
        XCTAssertEqual(try client.call("CS.REROUTED", "3"), .simple("OK"), "nothing refused on this connection: nothing to forget")
        XCTAssertEqual(try client.call("CS.FORWARDER"), .simple("OK"))
        XCTAssertEqual(try client.call("SET", key, "after"), .simple("OK"), "the connection goes on")
    }

    /// The head of a key's chain is killed: a plain client writing through another node sees its
    /// writes wait for the failover (they never reached the dead node, so they are routed again
    /// once the master has spliced it out) instead of a stream of `TRYAGAIN … cannot reach node`.
    func testWritesThroughAnotherNodeWaitForAFailover() throws {
        let c = try LocalCluster.start(label: "reroute-failover")
        cluster = c
        let config = try JSONDecoder().decode(Configuration.self, from: Data(try c.ctl(["config", "--json"]).out.utf8))
        let (key, _) = keyHeadedByN2(config)
        let client = try c.client("n1", timeoutMs: 15_000)
        XCTAssertEqual(try client.call("SET", key, "before"), .simple("OK"), "n1 forwards to n2")
        c.nodes["n2"]!.stop(SIGKILL)
        var errors: [String] = []
        var okAfterFailover = 0
        var i = 0
        let deadline = Date().addingTimeInterval(30)
        // Writes one after another, 20 ms apart, until five succeeded under a configuration
        // without n2.
        while okAfterFailover < 5 && Date() < deadline {
            i += 1
            switch try client.call("SET", key, "v\(i)") {
            case .simple("OK"):
                if (try? c.status())?.chains.allSatisfy({ !$0.members.contains("n2") }) == true { okAfterFailover += 1 }
            case let other: errors.append("\(other)")
            }
            usleep(20_000)
        }
        XCTAssertEqual(okAfterFailover, 5, "writes succeed after the failover: \(errors)")
        // The one write that met the connection as it died may fail (it was sent: its outcome is
        // unknown); none is refused for want of a node.
        XCTAssertLessThanOrEqual(errors.count, 1, "\(errors)")
        XCTAssertFalse(errors.contains { $0.contains("cannot reach") }, "\(errors)")
        XCTAssertGreaterThan(try c.metric("n1", "chainstore_forwards_rerouted_total"), 0)
        XCTAssertEqual(try client.call("GET", key), .bulk(Array("v\(i)".utf8)))
    }
}
