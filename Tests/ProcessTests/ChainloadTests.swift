import Foundation
import XCTest
import ChainCore
import ChainLoadKit

/// chainload against real processes: its report agrees with what the servers counted, Ctrl-C
/// still produces a report, and `--check` proves a run linearizable.
final class ChainloadTests: ClusterTestCase {
    /// Starts chainload in the background (output to `out`, or discarded).
    private func startChainload(_ args: [String], out: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary("chainload"))
        p.arguments = args
        p.standardOutput = out ?? FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits (bounded) for `p` to end; kills it and returns false if it does not.
    private func finished(_ p: Process, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { p.terminate(); return false }
        return true
    }

    private func report(_ path: String) throws -> Report {
        try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The writes chainload reports equal the writes the cluster committed (no warm-up, so every
    /// operation is counted); the check of a mixed run on a few hot keys passes.
    func testReportMatchesServerCountsAndCheckPasses() throws {
        let c = try LocalCluster.start(label: "chainload", nodes: 3)
        cluster = c
        let json = c.dir + "/run.json"
        let r = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "a", "--duration", "3",
                                                             "--warmup", "0", "--clients", "6", "--keys", "8", "--check", "--json", json], timeout: 120)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssert(r.out.contains("check: linearizable"), r.out)
        let rep = try report(json)
        XCTAssertEqual(rep.check?.verdict, "linearizable")
        XCTAssertEqual(rep.total_errors, 0)
        let sets = try XCTUnwrap(rep.operations["set"]?.ops)
        XCTAssertGreaterThan(sets, 100)
        XCTAssertEqual(rep.check?.operations, Int(rep.total_ops), "every operation was recorded")
        // Per node and per chain (8 keys: a few chains), the rates add up to the total.
        let perNode = try XCTUnwrap(rep.per_node)
        XCTAssertFalse(perNode.isEmpty)
        XCTAssert(Set(perNode.keys).isSubset(of: ["n1", "n2", "n3"]), "\(perNode)")
        XCTAssertEqual(perNode.values.reduce(0, +), rep.ops_per_s, accuracy: 1)
        XCTAssertEqual(try XCTUnwrap(rep.per_chain).values.reduce(0, +), rep.ops_per_s, accuracy: 1)
        XCTAssert(r.out.contains("served by: n"), r.out)
        // The heads committed exactly the writes chainload counted.
        let committed = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_writes_committed_total") }.reduce(0, +)
        XCTAssertEqual(committed, Double(sets))
    }

    /// YCSB D (inserts, reads of the latest keys) and F (read-modify-writes, checked) on a cluster.
    func testWorkloadsDAndF() throws {
        let c = try LocalCluster.start(label: "chainload-df", nodes: 3)
        cluster = c
        let f = c.dir + "/f.json", d = c.dir + "/d.json"
        let rf = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "f", "--duration", "2", "--warmup", "0",
                                                              "--clients", "4", "--keys", "6", "--check", "--json", f], timeout: 120)
        XCTAssertEqual(rf.code, 0, rf.out + rf.err)
        let repF = try report(f)
        XCTAssertGreaterThan(repF.operations["rmw"]?.ops ?? 0, 10)
        XCTAssertEqual(repF.check?.verdict, "linearizable")
        let rd = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "d", "--distribution", "latest",
                                                              "--duration", "2", "--warmup", "0", "--clients", "4", "--keys", "200",
                                                              "--preload", "--json", d], timeout: 120)
        XCTAssertEqual(rd.code, 0, rd.out + rd.err)
        let repD = try report(d)
        XCTAssertGreaterThan(repD.operations["insert"]?.ops ?? 0, 0)
        XCTAssertEqual(repD.total_errors, 0)
    }

    /// `--preload --check`, twice on the same keys: the checker starts from what the keys hold
    /// (regression: the preloaded values were not in the history, so the first read of a
    /// preloaded key looked impossible).
    func testPreloadThenCheckStartsFromTheStoredValues() throws {
        let c = try LocalCluster.start(label: "chainload-preload-check", nodes: 3)
        cluster = c
        for round in 0..<2 {
            let r = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "b", "--duration", "1",
                                                                 "--warmup", "0", "--clients", "3", "--keys", "10", "--preload", "--check"], timeout: 120)
            XCTAssertEqual(r.code, 0, "round \(round): " + r.out + r.err)
            XCTAssert(r.out.contains("check: linearizable"), "round \(round): \(r.out)")
        }
    }

    /// `--check` catches a system that is not linearizable: writes go to one server, reads to
    /// another that never sees them (like reading from a lagging replica).
    func testCheckCatchesStaleReads() throws {
        let writes = try makeServer("check-writes"), reads = try makeServer("check-reads")
        let r = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(writes.port)", "--resp-read", "127.0.0.1:\(reads.port)",
                                                             "--workload", "a", "--duration", "1", "--warmup", "0", "--clients", "2",
                                                             "--keys", "4", "--check"], timeout: 60)
        XCTAssertEqual(r.code, 1, r.out + r.err)
        XCTAssert(r.out.contains("check: violation"), r.out)
        XCTAssert(r.out.contains("key "), "the anomaly names the key and lists the operations: \(r.out)")
    }

    /// Open loop: the run sends at the requested rate, not as fast as the server answers.
    func testOpenLoopSendsAtTheRequestedRate() throws {
        let n = try makeServer("open-loop")
        let json = Harness.tempDir("open-loop") + "/run.json"
        let r = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(n.port)", "--rate", "300", "--duration", "2",
                                                             "--warmup", "0", "--clients", "4", "--json", json], timeout: 60)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssert(r.out.contains("open loop 300 ops/s"), r.out)
        let rep = try report(json)
        XCTAssertEqual(rep.parameters.rate, 300)
        // 600 intended operations; a loaded test machine may fall a little behind, never ahead.
        XCTAssertLessThanOrEqual(rep.total_ops, 604)
        XCTAssertGreaterThan(rep.total_ops, 400)
        let bad = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(n.port)", "--rate", "0"])
        XCTAssertEqual(bad.code, 64)
        XCTAssert(bad.err.contains("--rate must be a positive"), bad.err)
    }

    /// `--plot` draws the run, and a reconfiguration during it (a drain) is marked.
    func testPlotMarksReconfigurations() throws {
        let c = try LocalCluster.start(label: "chainload-plot", nodes: 4)
        cluster = c
        let svg = c.dir + "/run.svg", json = c.dir + "/run.json"
        let p = try startChainload(["--master", c.masterAddress, "--workload", "b", "--duration", "4", "--warmup", "0", "--clients", "4",
                                    "--keys", "1000", "--plot", svg, "--json", json])
        usleep(1_000_000)
        let drain = try c.ctl(["drain", "n4"])
        XCTAssertEqual(drain.code, 0, drain.err)
        guard finished(p, within: 30) else { return XCTFail("chainload did not finish") }
        XCTAssertEqual(p.terminationStatus, 0)
        let rep = try report(json)
        XCTAssertGreaterThanOrEqual(rep.timeline?.count ?? 0, 4, "one tick per second")
        XCTAssertFalse(rep.events?.isEmpty ?? true, "the drain's configurations are marked")
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssert(picture.contains("<polyline") && picture.contains("epoch "), "the picture shows the run and the epochs")
    }

    /// SIGINT in the middle of a run: the report so far is printed and written.
    func testInterruptStillReports() throws {
        let n = try makeServer("chainload-int")
        let json = Harness.tempDir("chainload-int") + "/run.json"
        let out = Pipe()
        let p = try startChainload(["--resp", "127.0.0.1:\(n.port)", "--duration", "60", "--warmup", "0", "--clients", "2", "--json", json], out: out)
        usleep(1_500_000)
        kill(p.processIdentifier, SIGINT)
        if !finished(p, within: 10) { XCTFail("chainload did not stop on SIGINT") }
        XCTAssertEqual(p.terminationStatus, 0)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssert(text.contains("ops/s"), text)
        let rep = try report(json)
        XCTAssertGreaterThan(rep.total_ops, 0)
        XCTAssertLessThan(rep.elapsed_s, 10, "stopped early")
    }

    /// Against one standalone node, pipelined: every GET and SET chainload counted is one the
    /// server executed (no warm-up, so nothing is left out).
    func testStandaloneCountsMatchTheServer() throws {
        let n = try makeServer("chainload-count")
        let json = Harness.tempDir("chainload-count") + "/run.json"
        let r = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(n.port)", "--workload", "a", "--duration", "2",
                                                             "--warmup", "0", "--clients", "4", "--pipeline", "8", "--threads", "2",
                                                             "--keys", "500", "--json", json], timeout: 60)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let rep = try report(json)
        XCTAssertEqual(rep.total_errors, 0)
        let gets = try XCTUnwrap(rep.operations["get"]?.ops), sets = try XCTUnwrap(rep.operations["set"]?.ops)
        XCTAssertGreaterThan(gets, 1000)
        XCTAssertEqual(try n.metric("chainstore_commands_total{cmd=\"get\"}"), Double(gets))
        XCTAssertEqual(try n.metric("chainstore_commands_total{cmd=\"set\"}"), Double(sets))
        XCTAssertEqual(rep.parameters.pipeline, 8)
    }

    /// The smart client pipelines too: with 8 writes in flight per client, the heads committed
    /// exactly the writes chainload counted.
    func testPipelinedClusterWritesAllCommit() throws {
        let c = try LocalCluster.start(label: "chainload-pipe", nodes: 3)
        cluster = c
        let json = c.dir + "/run.json"
        let r = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "w", "--duration", "2", "--warmup", "0",
                                                             "--clients", "4", "--pipeline", "8", "--keys", "2000", "--json", json], timeout: 60)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let rep = try report(json)
        XCTAssertEqual(rep.total_errors, 0)
        let sets = try XCTUnwrap(rep.operations["set"]?.ops)
        XCTAssertGreaterThan(sets, 200)
        let committed = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_writes_committed_total") }.reduce(0, +)
        XCTAssertEqual(committed, Double(sets))
        let tagged = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_writes_tagged_total") }.reduce(0, +)
        XCTAssertEqual(tagged, Double(sets), "every write carried its idempotency tag")

        // --untagged-writes: plain SETs, every one committed, none tagged.
        let plain = c.dir + "/plain.json"
        let u = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "w", "--duration", "1", "--warmup", "0",
                                                             "--clients", "4", "--keys", "2000", "--untagged-writes", "--json", plain], timeout: 60)
        XCTAssertEqual(u.code, 0, u.out + u.err)
        XCTAssert(u.out.contains("(untagged writes)"), u.out)
        let urep = try report(plain)
        XCTAssertEqual(urep.total_errors, 0)
        XCTAssertEqual(urep.parameters.untagged_writes, true)
        let usets = try XCTUnwrap(urep.operations["set"]?.ops)
        XCTAssertGreaterThan(usets, 50)
        let after = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_writes_committed_total") }.reduce(0, +)
        XCTAssertEqual(after, Double(sets + usets))
        let taggedAfter = try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_writes_tagged_total") }.reduce(0, +)
        XCTAssertEqual(taggedAfter, tagged, "no untagged write carried a tag")
    }

    /// A server that dies mid-run: the lost operations are counted as `connection` errors, the
    /// run still ends on time with a report; a stopped server's requests time out.
    func testLostAndStalledServersAreCountedNotHidden() throws {
        let dead = try makeServer("chainload-dead")
        let json = Harness.tempDir("chainload-dead") + "/run.json"
        let p = try startChainload(["--resp", "127.0.0.1:\(dead.port)", "--duration", "3", "--warmup", "0", "--clients", "4", "--json", json])
        usleep(1_000_000)
        kill(dead.pid, SIGKILL)
        guard finished(p, within: 20) else { return XCTFail("chainload did not finish after its server died") }
        XCTAssertEqual(p.terminationStatus, 0)
        let lost = try report(json)
        XCTAssertGreaterThan(lost.total_ops, 0)
        XCTAssertGreaterThan(lost.total_errors, 0)
        let kinds = lost.operations.values.flatMap { $0.errors.keys }
        XCTAssert(kinds.contains("connection"), "\(kinds)")

        let stalled = try makeServer("chainload-stalled")
        let json2 = Harness.tempDir("chainload-stalled") + "/run.json"
        let q = try startChainload(["--resp", "127.0.0.1:\(stalled.port)", "--duration", "2", "--warmup", "0", "--clients", "2",
                                    "--timeout-ms", "300", "--json", json2])
        usleep(500_000)
        kill(stalled.pid, SIGSTOP)
        defer { kill(stalled.pid, SIGCONT) }
        guard finished(q, within: 20) else { return XCTFail("chainload did not finish against a stopped server") }
        let timedOut = try report(json2)
        XCTAssert(timedOut.operations.values.contains { ($0.errors["timeout"] ?? 0) > 0 }, "\(timedOut.operations)")
    }

    /// Bad flags: one clear line, exit 64; an address nobody answers: one clear line, exit 1.
    func testBadFlags() throws {
        let cases: [([String], String)] = [
            (["--resp", "127.0.0.1:1", "--clients", "0"], "--clients must be at least 1"),
            (["--resp", "127.0.0.1:1", "--threads", "0"], "--threads must be at least 1"),
            (["--resp", "127.0.0.1:1", "--master", "127.0.0.1:2"], "exclude each other"),
            (["--master", "127.0.0.1:2", "--wait-replicas", "2"], "--wait-replicas applies to --resp targets only"),
            (["--resp", "127.0.0.1:1", "--untagged-writes"], "--untagged-writes applies to cluster targets"),
            (["--resp", "nonsense"], "invalid address"),
            (["--resp", "127.0.0.1:1", "--workload", "z"], "unknown workload"),
            (["--resp", "127.0.0.1:1", "--distribution", "zipfian:2"], "theta"),
            (["--resp", "127.0.0.1:1", "--value-bytes", "500-20"], "--value-bytes must be a size"),
            (["--resp", "127.0.0.1:1", "--value-bytes", "ten"], "--value-bytes must be a size"),
        ]
        for (args, message) in cases {
            let r = try Harness.run(Harness.binary("chainload"), args)
            XCTAssertEqual(r.code, 64, "\(args): \(r.err)")
            XCTAssert(r.err.contains(message), "\(args) should say '\(message)': \(r.err)")
        }
        let nobody = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:1", "--duration", "1"])
        XCTAssertEqual(nobody.code, 1)
        XCTAssert(nobody.err.contains("cannot reach 127.0.0.1:1"), nobody.err)
        let noMaster = try Harness.run(Harness.binary("chainload"), ["--master", "127.0.0.1:1", "--duration", "1"])
        XCTAssertEqual(noMaster.code, 1)
        XCTAssert(noMaster.err.contains("master 127.0.0.1:1"), noMaster.err)
    }

    /// `--value-bytes MIN-MAX`: each write draws its size from the range.
    func testValueSizeRange() throws {
        let n = try makeServer("chainload-sizes")
        let json = Harness.tempDir("chainload-sizes") + "/run.json"
        let r = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(n.port)", "--workload", "w", "--duration", "1", "--warmup", "0",
                                                             "--clients", "2", "--keys", "40", "--value-bytes", "10-2000", "--json", json], timeout: 60)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssert(r.out.contains("value 10-2000 B"), r.out)
        XCTAssertEqual(try report(json).parameters.value_bytes_max, 2000)
        let c = try n.client()
        var sizes = Set<Int>()
        for k in 0..<40 {
            guard case let .bulk(v?) = try c.call([bytes("GET"), KeyChooser.name(k)]) else { continue }
            XCTAssert((10...2000).contains(v.count), "\(v.count)")
            sizes.insert(v.count)
        }
        XCTAssertGreaterThan(sizes.count, 10, "sizes vary: \(sizes.sorted())")
    }
}
