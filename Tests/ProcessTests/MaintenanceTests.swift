import Foundation
import XCTest
import ChainClient
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// `chainctl stop-cluster` / `start-cluster`: every process stops and starts again without the
/// master splicing anyone and without copying a single chain.
final class MaintenanceTests: ClusterTestCase {
    func testStopAndStartTheWholeClusterWithoutCopies() throws {
        let c = try LocalCluster.start(label: "stop-start")
        cluster = c
        let smart = try c.smartClient()
        for i in 0..<300 { XCTAssertEqual(try smart.execute("SET", "k\(i)", "v\(i)"), .simple("OK")) }

        let stop = try c.ctl(["stop-cluster", "--wait", "--timeout", "30"])
        XCTAssertEqual(stop.code, 0, stop.err)
        XCTAssert(stop.out.contains("cluster stopped at epoch"), stop.out)
        let stoppedEpoch = try c.status().epoch
        XCTAssertEqual(try c.status().maintenance, "stopped")
        // Reads go on; writes are refused with a retryable error.
        XCTAssertEqual(try smart.execute("GET", "k7"), .bulk(Array("v7".utf8)))
        guard case let .error(e) = try c.client("n1").call("SET", "k7", "changed") else { return XCTFail("a write was taken while stopped") }
        XCTAssert(e.hasPrefix("TRYAGAIN"), e)
        XCTAssertEqual(try c.ctl(["stop-cluster"]).code, 1, "a second stop is refused")

        // Every process stops, the master first; a while later they all start again. The
        // operator runs start-cluster before the master listens again: with --wait it waits.
        c.master.stop()
        for n in ["n1", "n2", "n3"] { c.nodes[n]!.stop() }
        for n in ["n1", "n2", "n3"] { try c.nodes[n]!.start() }
        let result = Locked<(code: Int32, out: String, err: String)?>(nil)
        let group = DispatchGroup()
        let ctlArgs = ["--master", c.masterAddress, "start-cluster", "--wait", "--timeout", "60"]
        DispatchQueue.global().async(group: group) {
            result.mutate { $0 = try? Harness.run(Harness.binary("chainctl"), ctlArgs, timeout: 80) }
        }
        // (Long enough for start-cluster's first try to find no master.)
        usleep(300_000)
        try c.master.start()
        XCTAssertEqual(group.wait(timeout: .now() + 90), .success)
        guard let start = result.value else { return XCTFail("start-cluster did not run") }
        XCTAssertEqual(start.code, 0, start.err + c.logs())
        XCTAssert(start.out.contains("cluster started and healthy"), start.out)
        let s = try c.status()
        XCTAssertNil(s.maintenance)
        XCTAssertEqual(s.epoch, stoppedEpoch + 1, "one new epoch: the start (no splice, no join)")
        XCTAssertEqual(c.masterMetric(port: c.masterPort, "chainmaster_repairs_total"), 0)
        for n in ["n1", "n2", "n3"] { XCTAssertEqual(try c.metric(n, "chainstore_chain_joins_total"), 0, "\(n) copied a chain") }
        let after = try c.smartClient()
        for i in 0..<300 { XCTAssertEqual(try after.execute("GET", "k\(i)"), .bulk(Array("v\(i)".utf8)), "k\(i)") }
        XCTAssertEqual(try after.execute("SET", "k7", "changed"), .simple("OK"))
        XCTAssertEqual(try c.ctl(["start-cluster"]).code, 1, "starting a running cluster is refused")
    }
}
