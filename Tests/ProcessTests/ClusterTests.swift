import Foundation
import XCTest
import ChainClient
import ChainCore
import ChainWire
import ChainSecurity
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Master + 3 nodes as real processes on loopback.
final class ClusterTests: ClusterTestCase {
    private func start(_ label: String, durability: String = "memory") throws -> LocalCluster {
        let c = try LocalCluster.start(label: label, durability: durability)
        cluster = c
        return c
    }

    /// `count` keys SET through each of n1, n2 and n3 (each must answer OK); what was written.
    private func setThroughEveryNode(_ c: LocalCluster, prefix: String, count: Int) throws -> [String: String] {
        var written: [String: String] = [:]
        for (i, n) in ["n1", "n2", "n3"].enumerated() {
            let cl = try c.client(n)
            for k in 0..<count {
                let key = "\(prefix):\(i):\(k)", value = "v\(i)-\(k)"
                XCTAssertEqual(try cl.call("SET", key, value), .simple("OK"), "via \(n)")
                written[key] = value
            }
        }
        return written
    }

    func testInterleavedTableAndStatus() throws {
        let c = try start("table")
        let s = try c.status()
        XCTAssertTrue(s.healthy)
        XCTAssertEqual(s.chains.count, 12, "default: 4 × the nodes it was formed with")
        for n in ["n1", "n2", "n3"] {
            XCTAssertEqual(s.chains.filter { $0.members.first == n }.count, 4)
            XCTAssertEqual(s.chains.filter { $0.members.last == n }.count, 4)
        }
        let table = try c.ctl(["status"])
        XCTAssertEqual(table.code, 0)
        XCTAssert(table.out.contains("HEALTHY"), table.out)
        XCTAssert(table.out.contains("n1 → n2 → n3"), table.out)
        let json = try c.ctl(["status", "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["epoch"] as? Int, 1)
        XCTAssertEqual(obj["healthy"] as? Bool, true)
        let nodes = obj["nodes"] as! [[String: Any]]
        XCTAssertEqual(Set(nodes.map { $0["state"] as! String }), ["up"])
        XCTAssertNotNil(nodes[0]["last_heartbeat_ms"])
        XCTAssertEqual(((obj["chains"] as! [[String: Any]])[0]["members"] as! [String]).count, 3)
    }

    /// A node that announces no peer-protocol features (as one of an earlier release would,
    /// mid-way through a rolling upgrade) gets only classic per-chain frames, while it and the
    /// others send a turn's messages in one frame to those that read them; writes through every
    /// node commit and read back everywhere.
    func testNodeOfAnEarlierReleaseGetsClassicFrames() throws {
        let c = LocalCluster(label: "mixed-frames")
        cluster = c
        try c.startMaster(replication: 3, initialNodes: 3)
        try c.startNode("n1")
        try c.startNode("n2", extra: ["--debug-announce-no-peer-features"])
        try c.startNode("n3")
        try c.waitHealthy()
        let expected = try setThroughEveryNode(c, prefix: "mixed", count: 100)
        for n in ["n1", "n2", "n3"] {
            let cl = try c.client(n)
            for (k, v) in expected { XCTAssertEqual(try cl.call("GET", k), .bulk(Array(v.utf8)), "\(k) via \(n)") }
        }
        let turnFrames = "chainstore_peer_turn_frames_received_total"
        XCTAssertEqual(try c.metric("n2", turnFrames), 0, "no turn frame sent to the node that did not announce them")
        XCTAssertGreaterThan(try c.metric("n1", turnFrames), 0)
        XCTAssertGreaterThan(try c.metric("n3", turnFrames), 0)
    }

    /// Writes through every node (redis-cli and raw RESP) and through the smart client; every
    /// acknowledged write is readable through every node, and every replica of every chain ends
    /// with the same content.
    func testWritesThroughEveryNodeReachEveryReplica() throws {
        let c = try start("writes")
        var expected = try setThroughEveryNode(c, prefix: "key", count: 150)
        let smart = try c.smartClient()
        for k in 0..<300 {
            XCTAssertEqual(try smart.execute("SET", "smart:\(k)", "s\(k)"), .simple("OK"))
            expected["smart:\(k)"] = "s\(k)"
        }
        XCTAssertEqual(try smart.execute("INCR", "counter"), .integer(1))
        XCTAssertEqual(try c.client("n2").call("INCR", "counter"), .integer(2))
        expected["counter"] = "2"
        // redis-cli against any node.
        let port = c.ports["n3"]!.client
        XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(port)", "set", "cli-key", "cli-value"]).out, "OK\n")
        expected["cli-key"] = "cli-value"
        for n in ["n1", "n2", "n3"] {
            XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(c.ports[n]!.client)", "get", "cli-key"]).out, "cli-value\n")
            let cl = try c.client(n)
            for (k, v) in expected.shuffled().prefix(200) { XCTAssertEqual(try cl.call("GET", k), .bulk(Array(v.utf8)), "\(k) via \(n)") }
        }
        for (k, v) in expected { XCTAssertEqual(try smart.execute("GET", k), .bulk(Array(v.utf8)), k) }

        // Replicas identical: compare each chain's digest at every member (after persistence).
        let status = try c.status()
        var mismatches: [String] = []
        let settled = Harness.waitFor(10) {
            mismatches = []
            guard let d = try? ["n1", "n2", "n3"].map({ try c.digests($0) }) else { return false }
            for chain in status.chains {
                let ds = chain.members.map { m in d[Int(m.dropFirst())! - 1][chain.id] }
                if Set(ds.map { $0?.digest ?? "missing" }).count != 1 || Set(ds.map { $0?.applied ?? 0 }).count != 1 {
                    mismatches.append("chain \(chain.id): \(ds)")
                }
            }
            return mismatches.isEmpty
        }
        XCTAssert(settled, "replicas differ: \(mismatches.prefix(3))")
        let total = try ["n1"].map { try c.digests($0).values.map(\.keys).reduce(0, +) }[0]
        XCTAssertEqual(total, expected.count, "every key is at n1 (a member of every chain)")
    }

    /// Reads are served only by tails, and with uniform keys the interleaved table spreads them
    /// over every node.
    func testReadsServedByTailsAndSpreadEvenly() throws {
        let c = try start("reads")
        let smart = try c.smartClient()
        for k in 0..<200 { _ = try smart.execute("SET", "u:\(k)", "x") }
        let before = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_reads_served_total") }
        var rng = SystemRandomNumberGenerator()
        let reads = 3000
        for _ in 0..<reads { _ = try smart.execute("GET", "u:\(Int.random(in: 0..<100_000, using: &rng))") }
        let after = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_reads_served_total") }
        let served = zip(after, before).map { $0 - $1 }
        XCTAssertEqual(served.reduce(0, +), Double(reads), "every read was served by exactly one node: \(served)")
        for (i, s) in served.enumerated() {
            let share = s / Double(reads)
            XCTAssert(share >= 0.25 && share <= 0.42, "n\(i + 1) served \(Int(share * 100))% of reads: \(served)")
        }
        // A read sent to a non-tail is forwarded, not served there.
        let status = try c.status()
        let chain0 = status.chains[0]
        let config = Configuration(epoch: 1, replication: 3, nodes: [], chains: status.chains.map { ChainConfig(id: $0.id, members: $0.members) })
        var key = ""
        for i in 0..<10_000 where config.chain(forKey: Array("probe\(i)".utf8)) == 0 { key = "probe\(i)"; break }
        let head = chain0.members[0], tail = chain0.members[2]
        let headReads = try c.metric(head, "chainstore_reads_served_total")
        let tailReads = try c.metric(tail, "chainstore_reads_served_total")
        XCTAssertEqual(try c.client(head).call("GET", key), .bulk(nil))
        XCTAssertEqual(try c.metric(head, "chainstore_reads_served_total"), headReads)
        XCTAssertEqual(try c.metric(tail, "chainstore_reads_served_total"), tailReads + 1)
    }

    /// A retried tag returns the first result and applies nothing, through any node.
    func testTaggedRetryReturnsFirstResult() throws {
        let c = try start("idempotent")
        let a = try c.client("n1"), b = try c.client("n3")
        XCTAssertEqual(try a.call("CS.REQ", "77", "1", "INCR", "ctr"), .integer(1))
        XCTAssertEqual(try b.call("CS.RETRY", "77", "1", "INCR", "ctr"), .integer(1), "same tag: the recorded result")
        XCTAssertEqual(try a.call("GET", "ctr"), .bulk(Array("1".utf8)), "applied once")
        XCTAssertEqual(try b.call("CS.RETRY", "77", "2", "INCR", "ctr"), .integer(2), "a retry of a request that never arrived applies")
        XCTAssertEqual(try a.call("CS.REQ", "77", "4098", "INCR", "ctr"), .integer(3))
        XCTAssertEqual(try b.call("CS.RETRY", "77", "2", "INCR", "ctr"), .integer(2),
                       "a request's record is its own (bounded by count per node, not a per-client ring slot)")
        guard case let .error(e) = try a.call("CS.REQ", "x", "1", "SET", "k", "v") else { return XCTFail("bad tag accepted") }
        XCTAssert(e.contains("numeric client id"), e)
        // Records are in every replica's store: each node restarted in turn still answers.
        XCTAssertEqual(try a.call("CS.REQ", "77", "3", "INCR", "ctr"), .integer(4))
        for n in ["n1", "n2", "n3"] {
            let before = try c.status().epoch
            c.nodes[n]!.stop()
            try c.nodes[n]!.start()
            // The master has seen the restart once it took the node out of its chains (it
            // rejoins them): before that, its status still shows the old process in sync.
            XCTAssertTrue(Harness.waitFor(30) { ((try? c.status().epoch) ?? 0) > before }, "the master did not see \(n) restart")
            // Back in every chain before the next one stops (as the rolling-restart runbook does).
            let sync = try c.ctl(["wait", "--node-in-sync", n, "--timeout", "60"])
            XCTAssertEqual(sync.code, 0, "\(n) not back in its chains: \(sync.out) \(sync.err)")
            try c.waitHealthy(timeout: 30)
        }
        // A plain connection does not retry the TRYAGAIN of a request forwarded while the
        // restarts' reorders move heads; let them finish.
        XCTAssert(c.waitSettled(), "settled after the restarts")
        let d = try c.client("n2")
        XCTAssertEqual(try d.call("CS.RETRY", "77", "3", "INCR", "ctr"), .integer(4), "recorded before the restarts")
        XCTAssertEqual(try d.call("CS.RETRY", "77", "2", "INCR", "ctr"), .integer(2))
        XCTAssertEqual(try d.call("CS.RETRY", "77", "1", "INCR", "ctr"), .integer(1))
        XCTAssertEqual(try d.call("GET", "ctr"), .bulk(Array("4".utf8)), "nothing applied twice")
    }

    /// Cluster-aware Redis clients can route: each chain is a shard, its head the master.
    func testClusterSlotsAndShardsDescribeTheChains() throws {
        let c = try start("cluster-slots")
        let status = try c.status()
        let n1 = try c.client("n1")
        guard case let .array(slots?) = try n1.call("CLUSTER", "SLOTS") else { return XCTFail("CLUSTER SLOTS is not an array") }
        XCTAssertEqual(slots.count, status.chains.count)
        var covered = 0
        for (entry, chain) in zip(slots, status.chains) {
            guard case let .array(e?) = entry, e.count == 3,
                  case let .integer(lo) = e[0], case let .integer(hi) = e[1],
                  case let .array(master?) = e[2], master.count == 3 else { return XCTFail("malformed entry \(entry)") }
            XCTAssertEqual(Int(lo), covered, "contiguous slot ranges")
            covered = Int(hi) + 1
            XCTAssertEqual(master[2], try c.client(chain.members[0]).call("CLUSTER", "MYID"), "the head is the master")
            XCTAssertEqual(master[1], .integer(Int64(c.ports[chain.members[0]]!.client)))
        }
        XCTAssertEqual(covered, 16384)
        guard case let .array(shards?) = try n1.call("CLUSTER", "SHARDS") else { return XCTFail("CLUSTER SHARDS is not an array") }
        XCTAssertEqual(shards.count, status.chains.count)
        let info = try n1.call("CLUSTER", "INFO").string ?? ""
        XCTAssert(info.contains("cluster_state:ok"), info)
        guard case let .error(e) = try n1.call("CLUSTER", "FAILOVER") else { return XCTFail("unknown subcommand accepted") }
        XCTAssert(e.contains("SLOTS, SHARDS, NODES"), e)
    }

    func testMultiKeyCommandsNeedOneChain() throws {
        let c = try start("crossslot")
        let cl = try c.client("n1")
        guard case let .error(e) = try cl.call("MSET", "a", "1", "b", "2", "c", "3", "d", "4") else { return XCTFail("keys on different chains") }
        XCTAssert(e.hasPrefix("CROSSSLOT"), e)
        XCTAssertEqual(try cl.call("MSET", "{u1}a", "1", "{u1}b", "2"), .simple("OK"))
        XCTAssertEqual(try c.client("n2").call("MGET", "{u1}a", "{u1}b", "{u1}c"), .array([.bulk(Array("1".utf8)), .bulk(Array("2".utf8)), .bulk(nil)]))
    }

    func testMasterRestartKeepsEpochAndLayout() throws {
        let c = try start("master-restart")
        let before = try c.status()
        let smart = try c.smartClient()
        XCTAssertEqual(try smart.execute("SET", "k", "v1"), .simple("OK"))
        c.master.stop(SIGTERM)
        // Nodes keep serving within their lease while the master is away.
        XCTAssertEqual(try smart.execute("GET", "k"), .bulk(Array("v1".utf8)))
        try c.master.start()
        try c.waitHealthy()
        let after = try c.status()
        XCTAssertEqual(after.epoch, before.epoch)
        XCTAssertEqual(after.chains.map(\.members), before.chains.map(\.members))
        XCTAssertEqual(try smart.execute("SET", "k", "v2"), .simple("OK"))
        XCTAssertEqual(try c.client("n1").call("GET", "k"), .bulk(Array("v2".utf8)))
    }

    /// A node that loses the master for longer than its lease stops serving, with a clear error.
    func testNodeWithoutLeaseStopsServing() throws {
        let c = try start("lease")
        let cl = try c.client("n1")
        XCTAssertEqual(try cl.call("SET", "x", "1"), .simple("OK"))
        c.master.stop(SIGKILL)
        // n1's own lease (not a forwarded answer from another node, whose lease may end first).
        XCTAssert(Harness.waitFor(5) {
            if case let .error(e)? = try? cl.call("GET", "x") { return e.hasPrefix("CLUSTERDOWN") && e.contains("node n1 ") }
            return false
        }, "without its lease a node refuses to serve")
        guard case let .error(e) = try cl.call("SET", "x", "2") else { return XCTFail("writes must be refused too") }
        XCTAssert(e.contains("lease"), e)
        try c.master.start()
        XCTAssert(Harness.waitFor(10) { (try? cl.call("GET", "x")) == .bulk(Array("1".utf8)) }, "serving resumes with a new lease")
    }

    /// The peer port refuses anyone who cannot prove the cluster secret.
    func testPeerWithWrongSecretIsRefused() throws {
        let c = try start("secret")
        let peerPort = c.ports["n2"]!.peer
        let failuresBefore = try c.metric("n2", "chainstore_peer_auth_failures_total")
        // Dial like a peer but with the wrong secret.
        let raw = try RESPClient(port: peerPort, timeoutMs: 3000)
        let nonce = Secrets.randomBytes(32)
        try raw.send(PeerFrame.hello(node: "n1", nonce: nonce).encoded)
        // Read the challenge, answer with a proof made from the wrong secret.
        var decoder = PeerFrameDecoder()
        var challenge: PeerFrame?
        let deadline = Date().addingTimeInterval(5)
        while challenge == nil && Date() < deadline {
            let chunk = try raw.readAvailable()
            decoder.append(contentsOf: chunk)
            challenge = try decoder.next()
        }
        guard case let .challenge(server, serverNonce, _)? = challenge else { return XCTFail("no challenge: \(String(describing: challenge))") }
        XCTAssertEqual(server, "n2")
        let wrong = PeerHandshake.clientProof(secret: Array("not-the-secret".utf8), clientNonce: nonce, serverNonce: serverNonce, client: "n1")
        try raw.send(PeerFrame.auth(proof: wrong).encoded)
        let rest = try raw.readUntilClosed()
        decoder.append(contentsOf: rest)
        guard case let .error(msg)? = try decoder.next() else { return XCTFail("expected an error frame") }
        XCTAssert(msg.contains("failed to prove the cluster secret"), msg)
        XCTAssertEqual(try c.metric("n2", "chainstore_peer_auth_failures_total"), failuresBefore + 1)
        // Frames before authentication are refused too.
        let raw2 = try RESPClient(port: peerPort, timeoutMs: 3000)
        try raw2.send(PeerFrame.ack(epoch: 1, chain: 0, seq: 99).encoded)
        var d2 = PeerFrameDecoder()
        d2.append(contentsOf: try raw2.readUntilClosed())
        guard case .error? = try d2.next() else { return XCTFail("unauthenticated frame must be refused") }
        // And the cluster still works.
        XCTAssertEqual(try c.smartClient().execute("SET", "after", "ok"), .simple("OK"))
    }

    /// A node started with the wrong secret cannot link with the others: nothing it could send is
    /// accepted, the chains it was placed in stall until the master takes it out of them, and it
    /// never holds a chain's data.
    func testNodeWithWrongSecretCannotJoinChains() throws {
        let c = LocalCluster(label: "wrongnode")
        cluster = c
        try c.startMaster()
        let bad = c.dir + "/bad-secret"
        try "a-different-secret-0123456789".write(toFile: bad, atomically: true, encoding: .utf8)
        try c.startNode("n1")
        try c.startNode("n2")
        try c.startNode("n3", secretFile: bad)
        XCTAssertNotEqual(try c.ctl(["wait", "--healthy", "--timeout", "3"]).code, 0)
        XCTAssert(Harness.waitFor(5) { ((try? c.metric("n2", "chainstore_peer_auth_failures_total")) ?? 0) + ((try? c.metric("n3", "chainstore_peer_auth_failures_total")) ?? 0) >= 1 })
        // The chains n3 was placed in cannot replicate; its neighbours report it unreachable and
        // the master takes it out of them (the link-cut remedy), so writes go through n1 and n2
        // — and n3 never receives a chain's data.
        XCTAssert(Harness.waitFor(15) { (try? c.status())?.chains.allSatisfy { !$0.members.contains("n3") } ?? false },
                  "the node with the wrong secret was not taken out of its chains")
        let smart = try c.smartClient()
        for k in 0..<20 { XCTAssertEqual(try smart.execute("SET", "k\(k)", "v"), .simple("OK")) }
        XCTAssertEqual(try c.metric("n3", "chainstore_chain_catchups_total{kind=\"suffix\"}")
                       + c.metric("n3", "chainstore_chain_catchups_total{kind=\"snapshot\"}"), 0)
        XCTAssertEqual(try c.metric("n3", "chainstore_peer_links_established_total"), 0)
    }
}

/// The master's data directory is lost: a fresh master refuses nodes of the existing cluster,
/// and one started with `--recover-nodes` rebuilds the table from them with nothing lost.
final class MasterRecoveryTests: ClusterTestCase {
    func testLostMasterStateIsRecoveredFromTheNodes() throws {
        let c = try LocalCluster.start(label: "recover", nodes: 3, durability: "fsync")
        cluster = c
        let smart = try c.smartClient()
        for i in 0..<200 { XCTAssertEqual(try smart.execute("SET", "dr\(i)", "v\(i)"), .simple("OK")) }
        let before = try c.status()

        // Lose the master and its state; a plain new master refuses the nodes.
        c.master.stop(SIGKILL)
        try FileManager.default.removeItem(atPath: c.dir + "/master")
        try c.startMaster()
        XCTAssert(Harness.waitFor(10) { (try? c.status())?.problems.contains { $0.contains("--recover-nodes") } ?? false },
                  "the refusal is explained: \(String(describing: try? c.status().problems))")
        XCTAssertNil(try? c.status().chains.first, "no fresh table was formed")

        // Started to recover, it adopts the newest table the nodes hold.
        c.master.stop(SIGTERM)
        try c.startMaster(extra: ["--recover-nodes", "3"])
        try c.waitHealthy(timeout: 30)
        let after = try c.status()
        XCTAssertGreaterThan(after.epoch, before.epoch + 999)
        XCTAssertEqual(after.chains.map(\.members), before.chains.map(\.members), "same table")
        let reader = try c.smartClient()
        for i in 0..<200 { XCTAssertEqual(try reader.execute("GET", "dr\(i)"), .bulk(Array("v\(i)".utf8))) }
        XCTAssertEqual(try reader.execute("SET", "dr-new", "x"), .simple("OK"))
    }
}
