import Foundation
import XCTest
import ChainClient
import ChainCore
#if canImport(Glibc)
import Glibc
#endif

/// Regression: a master stopped (SIGSTOP: a VM pause, a starved host) for longer than the lease
/// declared every node failed when it resumed — its failure check ran before the heartbeats
/// queued meanwhile were read — and rebuilt every chain. It must notice its own stall and give
/// the nodes a lease to be heard.
final class MasterStallTests: ClusterTestCase {
    func testMasterPausedPastTheLeaseSplicesNobody() throws {
        let c = try LocalCluster.start(label: "master-stall")
        cluster = c
        let epoch = try c.status().epoch
        for pause in [1.5, 3.0] {  // × the 1 s lease
            c.master.signal(SIGSTOP)
            usleep(UInt32(pause * 1_000_000))
            c.master.signal(SIGCONT)
            // Three leases: long enough for any splice to have happened.
            usleep(3_000_000)
            let s = try c.status()
            XCTAssertEqual(s.epoch, epoch, "after a \(pause) s stall the master reconfigured: \(s.problems)")
            XCTAssertTrue(s.healthy, "\(s.problems)")
        }
        let stalls = try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/metrics").text
        XCTAssert(stalls.contains("chainmaster_stalls_total 2"), "the master counted its stalls:\n\(stalls.split(separator: "\n").filter { $0.contains("stall") })")
        XCTAssertEqual(try c.smartClient().execute("SET", "after-stall", "1"), .simple("OK"))
    }
}
