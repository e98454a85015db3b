import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP

/// Partitions with the real binaries: a node reaches the master through a `FaultProxy` that the
/// test cuts and heals.
final class PartitionTests: XCTestCase {
    private var cluster: LocalCluster?
    private var proxy: FaultProxy?

    override func tearDown() {
        proxy?.stop()
        cluster?.shutdown()
        cluster = nil
        super.tearDown()
    }

    /// n4 loses the master while clients read and write: it stops serving once its lease ends
    /// (clear CLUSTERDOWN error), the master splices it out after the lease and the others carry
    /// on; when the link heals it is heard from again, takes chains back with fresh copies, and
    /// the whole history stays linearizable.
    func testNodeCutOffFromTheMaster() throws {
        let c = LocalCluster(label: "cut-master")
        cluster = c
        try c.startMaster(initialNodes: 4)
        let p = try FaultProxy(to: c.masterPort)
        proxy = p
        for i in 1...3 { try c.startNode("n\(i)") }
        try c.startNode("n4", master: p.address)
        try c.waitHealthy()
        let direct = try c.client("n4", timeoutMs: 3000)
        var refused = ""
        var cutFor = 0.0
        try checkHistory(c) {
            usleep(400_000)
            let cutAt = Date()
            p.cut()
            // Within its lease (1 s here) n4 stops serving, with a clear error.
            XCTAssert(Harness.waitFor(3) {
                if case let .error(e) = (try? direct.call("GET", "any")) ?? .null, e.hasPrefix("CLUSTERDOWN") { refused = e; return true }
                return false
            }, "n4 kept serving without the master")
            XCTAssert(Harness.waitFor(10) { (try? c.status())?.chains.allSatisfy { !$0.members.contains("n4") } ?? false },
                      "the master did not splice n4 out")
            cutFor = Date().timeIntervalSince(cutAt)
            p.heal()
            XCTAssert(Harness.waitFor(60) {
                guard let s = try? c.status() else { return false }
                return s.healthy && (s.plan ?? []).isEmpty && s.chains.contains { $0.members.contains("n4") }
            }, "n4 did not come back into the chains: \(String(describing: try? c.status().problems))")
        }
        XCTAssert(refused.contains("no valid lease"), refused)
        print("partition: n4 spliced out \(String(format: "%.2f", cutFor)) s after its master link was cut")
        XCTAssertEqual(try direct.call("SET", "after-heal", "1"), .simple("OK"), "n4 serves (or forwards) again")
    }
}
