import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Partitions with the real binaries: a node reaches the master through a `FaultProxy` that the
/// test cuts and heals.
final class PartitionTests: ClusterTestCase {
    private var proxy: FaultProxy?

    override func tearDown() {
        proxy?.stop()
        super.tearDown()
    }

    /// Two nodes lose each other while both still reach the master (network namespaces: each
    /// node has its own address on a bridge; `deploy/netns-cluster.sh cut` drops the traffic
    /// between them). Chains that need that link stall — nobody fails, so nothing is spliced —
    /// and resume when it heals; the smart client rides it out and nothing acknowledged is lost.
    func testLinkCutBetweenTwoNodes() throws {
        // The default lease (2 s): a blip must not splice anybody with the settings users run.
        let sh = try netnsCluster("netns", masterFlags: "--lease-ms 2000 --heartbeat-ms 500")
        let master = "10.77.0.1:7000"
        let acked = try writeWhile(master: master) {
            // A key whose chain does not use the n1–n2 link (n1 and n2 not adjacent in it).
            let probe = try ClusterClient(master: HostPort(master)!)
            let config = try XCTUnwrap(probe.config)
            let free = try XCTUnwrap(config.chains.first { ch in
                guard let a = ch.members.firstIndex(of: "n1"), let b = ch.members.firstIndex(of: "n2") else { return true }
                return abs(a - b) != 1
            })
            let freeKey = try XCTUnwrap((0..<100_000).lazy.map { "free\($0)" }.first { config.chain(forKey: Array($0.utf8)) == free.id })
            // A blip: well under the three quarters of a lease after which nodes report a peer
            // (with blackhole routes the side that does not redial sees its link drop at once
            // and come back only when the other redials, up to a second later).
            XCTAssertEqual(try sh("cut 1 2").code, 0)
            let cutAt = Date()
            usleep(100_000)
            // Chains that do not need the cut link keep taking writes meanwhile.
            XCTAssertEqual(try probe.execute("SET", freeKey, "during-the-cut"), .simple("OK"))
            XCTAssertLessThan(Date().timeIntervalSince(cutAt), 0.4, "chain \(free.id) \(free.members) does not need n1–n2")
            usleep(UInt32(max(0, 0.2 - Date().timeIntervalSince(cutAt)) * 1_000_000))
            XCTAssertEqual(try sh("heal 1 2").code, 0)
            usleep(1_000_000)
        }
        try verifyAcked(master: master, acked)
        let healthy = try Harness.run(Harness.binary("chainctl"), ["--master", master, "wait", "--healthy", "--timeout", "10"])
        XCTAssertEqual(healthy.code, 0, healthy.err)
        XCTAssertEqual(linkCutsResolved(), 0, "a cut shorter than the reporting delay splices nobody")
    }

    /// The link between n1 and n2 stays down while both still reach the master: both report
    /// the other unreachable after three quarters of a lease and the master, seeing both alive, splices one
    /// of them out at its next tick, so the
    /// chains that needed the link take writes again — the smart-client writers see no error —
    /// and once the link heals (and the spliced node's time out has passed) it rejoins.
    func testPermanentLinkCutIsResolvedBySplicingOneEnd() throws {
        let sh = try netnsCluster("netns-cut")
        let master = "10.77.0.1:7000"
        var stalledFor = 0.0
        // A checked history across the cut and its resolution, beside the writers.
        let checked = Process()
        checked.executableURL = URL(fileURLWithPath: Harness.binary("chainload"))
        checked.arguments = ["--master", master, "--workload", "a", "--duration", "6", "--warmup", "0", "--clients", "3", "--keys", "8", "--check"]
        let checkOut = Pipe()
        checked.standardOutput = checkOut
        checked.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try checked.run()
        defer { if checked.isRunning { kill(checked.processIdentifier, SIGKILL) } }
        let acked = try writeWhile(master: master) {
            XCTAssertEqual(try sh("cut 1 2").code, 0)
            let cutAt = Date()
            XCTAssert(Harness.waitFor(15) { linkCutsResolved() >= 1 }, "the master did not resolve the cut")
            stalledFor = Date().timeIntervalSince(cutAt)
            // chainctl status says what happened.
            let status = try Harness.run(Harness.binary("chainctl"), ["--master", master, "status"])
            XCTAssert(status.out.contains("kept out of chains") && status.out.contains("after a link cut"), status.out)
            let config = try XCTUnwrap(try ClusterClient(master: HostPort(master)!).config)
            XCTAssertFalse(config.chains.contains { $0.links("n1", "n2") }, "a chain still needs the cut link")
            usleep(1_000_000)
        }
        try verifyAcked(master: master, acked)
        let checkText = String(decoding: checkOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        checked.waitUntilExit()
        XCTAssert(checkText.contains("check: linearizable"), checkText)
        print("permanent link cut resolved \(String(format: "%.1f", stalledFor)) s after the cut (lease 1 s)")
        // No wall-clock bound here: how soon a node notices the cut depends on when TCP gives the
        // link up (its retransmission and keepalive timers; 1.5 s to 2.9 s seen on the same
        // machine, and 2.9 s failed a 2.5 s bound in CI). The regression this guarded
        // (three leases) is checked in virtual time by
        // MasterPolicyTests.testCutLinkBetweenLiveNeighboursIsResolvedQuickly.
        XCTAssertEqual(try sh("heal 1 2").code, 0)
        let healthy = try Harness.run(Harness.binary("chainctl"), ["--master", master, "wait", "--healthy", "--timeout", "60"], timeout: 70)
        XCTAssertEqual(healthy.code, 0, "the spliced node rejoins once healed: \(healthy.err)")
    }

    /// The master's count of link cuts it resolved by splicing a node out.
    private func linkCutsResolved() -> Double {
        let r = try? HTTPClient.get(host: "10.77.0.1", port: 7000, path: "/metrics")
        let line = r?.text.split(separator: "\n").first { $0.hasPrefix("chainmaster_link_cuts_resolved_total ") }
        return line.flatMap { Double($0.split(separator: " ").last!) } ?? 0
    }

    /// Starts three nodes in network namespaces (`deploy/netns-cluster.sh`, torn down after the
    /// test) and returns a runner for the script's other commands (`cut 1 2`, `heal 1 2` …).
    private func netnsCluster(_ label: String, masterFlags: String = "") throws -> (String) throws -> (code: Int32, out: String, err: String) {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else {
            throw XCTSkip("network namespaces need root and iproute2")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let script = root + "/deploy/netns-cluster.sh"
        let env = "CHAIN_BIN=\(Harness.binDir) NETNS_DIR=\(Harness.tempDir(label)) CHAIN_MASTER_FLAGS='\(masterFlags)'"
        let sh = { (command: String) throws -> (code: Int32, out: String, err: String) in
            try Harness.run("/bin/bash", ["-c", "\(env) \(script) \(command)"], timeout: 60)
        }
        addTeardownBlock { _ = try? sh("down") }
        let up = try sh("up 3")
        XCTAssertEqual(up.code, 0, up.out + up.err)
        return sh
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
