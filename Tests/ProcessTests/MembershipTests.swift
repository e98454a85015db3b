import Foundation
import XCTest
import ChainClient
import ChainCore

/// `chainctl add` and online rebalancing with the real binaries: a node added to a full cluster
/// takes its share of chain positions and of head and tail roles while clients keep working.
final class MembershipTests: ClusterTestCase {
    private func startWithSpare(_ label: String) throws -> LocalCluster {
        let c = try LocalCluster.start(label: label, nodes: 3, durability: "memory")
        cluster = c
        try c.startNode("n4")
        XCTAssert(Harness.waitFor(10) { (try? c.status())?.nodes.first { $0.id == "n4" }?.state == "spare" })
        return c
    }

    /// Per node: chains it is in, heads, tails.
    private func counts(_ s: MasterAPI.Status) -> [String: (Int, Int, Int)] {
        var out: [String: (Int, Int, Int)] = [:]
        for n in s.nodes {
            out[n.id] = (s.chains.filter { $0.members.contains(n.id) }.count,
                         s.chains.filter { $0.members.first == n.id }.count,
                         s.chains.filter { $0.members.last == n.id }.count)
        }
        return out
    }

    func testAddRebalancesOntoANewNodeUnderLoad() throws {
        let c = try startWithSpare("add")
        let before = try c.status()
        // The plan first: n4 joins chains, old members leave, roles rotate; nothing changes yet.
        let dry = try c.ctl(["add", "n4", "--dry-run"])
        XCTAssertEqual(dry.code, 0, dry.err)
        XCTAssert(dry.out.contains("dry run: nothing changed") && dry.out.contains("n4 joins"), dry.out)
        XCTAssertEqual(try c.status().epoch, before.epoch)

        let acked = try writeWhile(c) {
            let r = try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress, "add", "n4", "--wait", "--timeout", "90"], timeout: 100)
            XCTAssertEqual(r.code, 0, r.out + r.err + c.logs())
            XCTAssert(r.out.contains("added n4"), r.out)
            XCTAssert(r.out.contains("steps done"), "progress is shown: \(r.out)")
        }
        let s = try c.status()
        XCTAssertTrue(s.healthy, "\(s.problems)")
        XCTAssertEqual(s.plan ?? [], [])
        // 12 chains × 3 members over 4 nodes: 9 positions, 3 heads and 3 tails each.
        for (node, (members, heads, tails)) in counts(s) {
            XCTAssertEqual(members, 9, "\(node) members")
            XCTAssertEqual(heads, 3, "\(node) heads")
            XCTAssertEqual(tails, 3, "\(node) tails")
        }
        try verify(c, acked, nodes: ["n1", "n2", "n3", "n4"])
        XCTAssertGreaterThan(try c.metric("n4", "chainstore_chain_joins_total"), 0)

        // Adding it again has nothing left to do.
        let again = try c.ctl(["add", "n4"])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssert(again.out.contains("nothing to do"), again.out)
    }

    func testHistoryStaysLinearizableAcrossAnAdd() throws {
        let c = try startWithSpare("add-lincheck")
        try checkHistory(c) {
            usleep(300_000)
            let r = try c.ctl(["add", "n4", "--json"])
            XCTAssertEqual(r.code, 0, r.err)
            let plan = try JSONDecoder().decode(MasterAPI.Plan.self, from: Data(r.out.utf8))
            XCTAssertGreaterThan(plan.joins, 0)
            XCTAssert(Harness.waitFor(90) {
                guard let s = try? c.status() else { return false }
                return s.healthy && (s.plan ?? []).isEmpty && s.chains.allSatisfy { $0.joining == nil && $0.state == "ok" }
            }, "rebalance did not finish: \(String(describing: try? c.status().plan))")
        }
        XCTAssertEqual(Set(try c.status().chains.flatMap(\.members)), ["n1", "n2", "n3", "n4"])
    }

    /// A client's request records move with the chain: a write applied before a drain, retried
    /// with the same tag afterwards, returns its first result at whichever node heads the chain
    /// now — including the node that joined by state transfer — and is not applied twice.
    func testRetriedWriteIsAnsweredOnceAfterItsChainMoved() throws {
        let c = try startWithSpare("records-move")
        let before = try c.status()
        let config = Configuration(epoch: before.epoch, replication: 3, nodes: [],
                                   chains: before.chains.map { ChainConfig(id: $0.id, members: $0.members) })
        // One counter per chain, each incremented once with its own tag.
        var keys: [Int: String] = [:]
        for i in 0..<100_000 where keys.count < config.chains.count {
            let k = "ctr\(i)"
            let chain = config.chain(forKey: Array(k.utf8))
            if keys[chain] == nil { keys[chain] = k }
        }
        let n2 = try c.client("n2")
        for (chain, k) in keys {
            XCTAssertEqual(try n2.call("CS.REQ", "4242", "\(chain + 1)", "INCR", k), .integer(1))
        }
        let drain = try c.ctl(["drain", "n1", "--wait", "--timeout", "60"])
        XCTAssertEqual(drain.code, 0, drain.out + drain.err)
        let after = try c.status()
        XCTAssertTrue(after.chains.contains { $0.members.first == "n4" }, "n4 heads some chains now")
        for (chain, k) in keys {
            XCTAssertEqual(try n2.call("CS.RETRY", "4242", "\(chain + 1)", "INCR", k), .integer(1),
                           "chain \(chain) (head \(after.chains[chain].members.first ?? "-")): the first result")
            XCTAssertEqual(try n2.call("GET", k), .bulk(Array("1".utf8)), "chain \(chain): applied once")
        }
    }

    /// `--transfer-rate-mb` caps what each node sends to joiners: copying the data to an added
    /// node takes at least bytes sent / (senders × cap).
    func testTransferRateCapPacesChainCopies() throws {
        let c = LocalCluster(label: "transfer-cap")
        cluster = c
        try c.startMaster(initialNodes: 3)
        let cap = ["--transfer-rate-mb", "1"]
        for i in 1...3 { try c.startNode("n\(i)", extra: cap) }
        try c.waitHealthy()
        try c.startNode("n4", extra: cap)
        XCTAssert(Harness.waitFor(10) { (try? c.status())?.nodes.first { $0.id == "n4" }?.state == "spare" })
        // About 16 MB of data: 1600 values of 10 kB.
        let smart = try c.smartClient()
        let value = String(repeating: "v", count: 10_000)
        for i in 0..<1600 { XCTAssertEqual(try smart.execute("SET", "big\(i)", value), .simple("OK")) }
        let start = Date()
        let r = try c.ctl(["add", "n4", "--wait", "--timeout", "120"])
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let sent = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_transfer_sent_bytes_total") }.reduce(0, +)
        XCTAssertGreaterThan(sent, 8_000_000, "n4 copied its share of the data")
        let floor = sent / (3 * 1_000_000)
        print("transfer cap: \(Int(sent)) bytes copied in \(String(format: "%.1f", elapsed)) s at 1 MB/s per sender (floor \(String(format: "%.1f", floor)) s)")
        XCTAssertGreaterThan(elapsed, floor * 0.9, "copies went faster than the cap allows")
    }

    func testMembershipCommandErrors() throws {
        let c = try startWithSpare("add-errors")
        let unknown = try c.ctl(["add", "nosuch"])
        XCTAssertEqual(unknown.code, 1)
        XCTAssert(unknown.err.contains("no node 'nosuch' is registered"), unknown.err)
        let both = try c.ctl(["add", "n4", "--dry-run", "--wait"])
        XCTAssertEqual(both.code, 64, both.err)
        // Draining a node of a 4-node cluster is fine as a plan; its positions go to the others.
        let plan = try c.ctl(["drain", "n1", "--dry-run", "--json"])
        XCTAssertEqual(plan.code, 0, plan.err)
        let p = try JSONDecoder().decode(MasterAPI.Plan.self, from: Data(plan.out.utf8))
        XCTAssertTrue(p.steps.contains { $0.kind == .leave && $0.node == "n1" })
        XCTAssertFalse(p.steps.contains { $0.kind == .join && $0.node == "n1" })
        XCTAssertTrue(try c.status().chains.contains { $0.members.contains("n1") }, "a dry run changes nothing")
        // With the master gone: one clear line, exit 1.
        c.master.stop(SIGKILL)
        let down = try c.ctl(["add", "n4"])
        XCTAssertEqual(down.code, 1)
        XCTAssert(down.err.contains("cannot reach the master"), down.err)
    }
}
