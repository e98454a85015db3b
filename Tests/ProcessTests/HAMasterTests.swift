import Foundation
import XCTest
import ChainClient
import ChainCore
import ChainLoadKit
#if canImport(Glibc)
import Glibc
#endif

/// Three chainmasters on a real 3-member etcd, three nodes, the smart client under a
/// linearizability-checked load: killing, pausing or cutting any one process costs no
/// acknowledged write and no client error, and the cluster repairs itself.
final class HAMasterTests: ClusterTestCase {
    private func start(_ label: String, leaseMs: Int = 3000) throws -> LocalCluster {
        let c = LocalCluster(label: label)
        cluster = c
        try c.startMasters(initialNodes: 3, leaseMs: leaseMs)
        for i in 1...3 { try c.startNode("n\(i)") }
        try c.waitHealthy(timeout: 30)
        return c
    }

    /// chainload (smart client, all three masters) runs `body` meanwhile; returns its report.
    private func load(_ c: LocalCluster, seconds: Int, _ body: () throws -> Void) throws -> Report {
        let json = c.dir + "/load-\(UUID().uuidString.prefix(6)).json"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary("chainload"))
        p.arguments = ["--master", c.masterAddress, "--workload", "a", "--duration", "\(seconds)", "--warmup", "0", "--clients", "4",
                       "--keys", "16", "--check", "--json", json]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        try body()
        XCTAssert(Harness.waitFor(Double(seconds) + 60) { !p.isRunning }, "chainload did not finish")
        p.waitUntilExit()
        return try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
    }

    /// SIGKILL of the leading master: a standby leads within the budget, clients see no error and
    /// no stalled second, the history is linearizable; then a data node killed is spliced out by
    /// the new leader.
    func testLeaderKilledThenADataNode() throws {
        let c = try start("ha-kill")
        let old = try XCTUnwrap(c.leader())
        var handover = 0.0
        let report = try load(c, seconds: 8) {
            usleep(2_000_000)
            let killedAt = Date()
            c.masterProc(port: old)!.signal(SIGKILL)
            XCTAssert(Harness.waitFor(10) { (c.leader() ?? old) != old }, "no standby took over: \(c.logs())")
            handover = Date().timeIntervalSince(killedAt)
        }
        print("HA: a standby led \(String(format: "%.2f", handover)) s after SIGKILL of the leader")
        XCTAssertLessThan(handover, 3.5, "handover took \(handover) s (target 3 s)")
        XCTAssertEqual(report.total_errors, 0, "the smart client saw errors: \(report.operations)")
        XCTAssertEqual(report.check?.verdict, "linearizable", report.check?.anomaly ?? "")
        // No write stalled a second on the master's account (the data path never waits for it).
        XCTAssertLessThan(report.operations["set"]?.max_ms ?? 0, 1000, "a write stalled across the handover")
        let seconds = (report.timeline ?? []).filter { $0.t <= 8 }
        XCTAssertFalse(seconds.isEmpty)
        for s in seconds.dropLast() { XCTAssertGreaterThan(s.ops_per_s, 0, "no operation completed in second \(s.t)") }
        // The new leader repairs: a killed node is spliced out within its lease and a tick.
        let killedAt = Date()
        c.nodes["n3"]!.stop(SIGKILL)
        XCTAssert(Harness.waitFor(10) { (try? c.status())?.chains.allSatisfy { !$0.members.contains("n3") } ?? false },
                  "the new leader did not splice n3 out: \(c.logs())")
        print("HA: n3 spliced out \(String(format: "%.2f", Date().timeIntervalSince(killedAt))) s after SIGKILL (lease 3 s)")
        let smart = try c.smartClient()
        XCTAssertEqual(try smart.execute("SET", "after", "1"), .simple("OK"))
    }

    /// SIGSTOP of the leader past its etcd lease: another master takes over and goes on; on
    /// SIGCONT the old leader publishes nothing (it finds its leadership lapsed on its own clock
    /// and its etcd key gone) and stands by.
    func testPausedLeaderIsReplacedAndPublishesNothing() throws {
        let c = try start("ha-pause")
        let old = try XCTUnwrap(c.leader())
        let proc = c.masterProc(port: old)!
        let epochBefore = try c.status().epoch
        let report = try load(c, seconds: 7) {
            usleep(1_000_000)
            proc.signal(SIGSTOP)
            XCTAssert(Harness.waitFor(10) { (c.leader() ?? old) != old }, "no standby took over")
            // The new leader changes the configuration: n2 is killed and spliced out.
            c.nodes["n2"]!.stop(SIGKILL)
            XCTAssert(Harness.waitFor(10) { (try? c.status())?.chains.allSatisfy { !$0.members.contains("n2") } ?? false })
            proc.signal(SIGCONT)
            usleep(2_000_000)
        }
        XCTAssertEqual(report.check?.verdict, "linearizable", report.check?.anomaly ?? "")
        XCTAssertEqual(report.total_errors, 0, "\(report.operations)")
        let newLeader = try XCTUnwrap(c.leader())
        XCTAssertNotEqual(newLeader, old, "the resumed master must not lead again while the new one lives")
        XCTAssertEqual(c.masterMetric(port: old, "chainmaster_leader"), 0)
        // Whatever the old one says now is the shared, newer configuration, never its own.
        let s = try c.status()
        XCTAssertGreaterThan(s.epoch, epochBefore)
        let log = (try? String(contentsOfFile: proc.log, encoding: .utf8)) ?? ""
        let resumed = log.components(separatedBy: "no longer the leading master").dropFirst().joined()
        XCTAssertFalse(resumed.contains("published configuration"), "the paused leader published after it resumed:\n\(resumed.suffix(2000))")
    }

    /// One etcd member killed: nothing visible. Two stopped: no quorum — no reconfiguration; the
    /// nodes serve out their leases and then refuse; everything resumes when they return.
    func testEtcdMemberLossAndQuorumLoss() throws {
        let c = try start("ha-etcd")
        let e = try XCTUnwrap(c.etcd)
        let report = try load(c, seconds: 5) {
            usleep(1_000_000)
            e.member(2).stop(SIGKILL)
        }
        XCTAssertEqual(report.total_errors, 0, "\(report.operations)")
        XCTAssertEqual(report.check?.verdict, "linearizable", report.check?.anomaly ?? "")
        XCTAssertNotNil(c.leader(), "a master still leads with two of three etcd members")
        let status = try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress, "status"])
        XCTAssert(status.out.contains("MASTERS") && status.out.contains("DOWN"), "status shows the masters and the dead etcd member:\n\(status.out)")

        // Quorum lost.
        let epoch = try c.status().epoch
        e.member(1).signal(SIGSTOP)
        XCTAssert(Harness.waitFor(6) { c.leader() == nil }, "a master kept leading without an etcd quorum")
        let smart = try c.client("n1", timeoutMs: 2000)
        XCTAssert(Harness.waitFor(8) {
            if case let .error(m) = (try? smart.call("GET", "k")) ?? .null { return m.hasPrefix("CLUSTERDOWN") }
            return false
        }, "nodes kept serving past their leases without a master")
        e.member(1).signal(SIGCONT)
        try e.member(2).start()
        try c.waitHealthy(timeout: 30)
        XCTAssertEqual(try c.status().epoch, epoch, "nothing was reconfigured while etcd had no quorum")
        XCTAssertEqual(try c.smartClient().execute("SET", "resumed", "1"), .simple("OK"))
    }

    /// Bad input: etcd unreachable at start is exit code 4 with a clear message; foreign data
    /// under the prefix is refused (exit code 2) and left alone.
    func testUnreachableEtcdAndForeignDataAreRefused() throws {
        guard EtcdCluster.binary != nil else { throw XCTSkip("etcd is not installed") }
        let dead = Harness.freePort()
        let r = try Harness.run(Harness.binary("chainmaster"), ["--listen", "127.0.0.1:\(Harness.freePort())", "--store", "etcd",
                                                               "--etcd-endpoints", "127.0.0.1:\(dead)", "--etcd-wait-ms", "500"], timeout: 20)
        XCTAssertEqual(r.code, 4, r.err)
        XCTAssert(r.err.contains("cannot reach etcd"), r.err)

        let c = LocalCluster(label: "ha-foreign")
        cluster = c
        let e = try EtcdCluster.start(dir: c.dir + "/etcd")
        c.etcd = e
        let key = Data("/chainstore/foreign/state".utf8).base64EncodedString()
        let value = Data("{\"not\":\"ours\"}".utf8).base64EncodedString()
        let put = try HTTPClient.request(method: "POST", host: "127.0.0.1", port: e.clientPorts[0], path: "/v3/kv/put",
                                         body: Array("{\"key\":\"\(key)\",\"value\":\"\(value)\"}".utf8))
        XCTAssertEqual(put.status, 200)
        let f = try Harness.run(Harness.binary("chainmaster"), ["--listen", "127.0.0.1:\(Harness.freePort())", "--store", "etcd",
                                                               "--etcd-endpoints", e.endpoints, "--etcd-prefix", "/chainstore/foreign"], timeout: 20)
        XCTAssertEqual(f.code, 2, f.err)
        XCTAssert(f.err.contains("does not hold chainstore master state"), f.err)
        let bad = try Harness.run(Harness.binary("chainmaster"), ["--store", "etcd"], timeout: 20)
        XCTAssertEqual(bad.code, 64, bad.err)
        XCTAssert(bad.err.contains("--etcd-endpoints"), bad.err)
    }

    /// etcd with authentication on: a master with the right user and password (a role limited
    /// to its prefix) leads and shows etcd healthy; a wrong password is refused at start with
    /// etcd's reason.
    func testEtcdWithAuthentication() throws {
        guard let etcdctl = ["/usr/bin/etcdctl", "/usr/local/bin/etcdctl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("etcdctl is not installed")
        }
        let c = LocalCluster(label: "ha-auth")
        cluster = c
        let e = try EtcdCluster.start(dir: c.dir + "/etcd")
        c.etcd = e
        let ctl = { (args: [String]) throws -> (code: Int32, out: String, err: String) in
            try Harness.run("/usr/bin/env", ["ETCDCTL_API=3", etcdctl, "--endpoints", e.endpoints] + args)
        }
        for args in [["user", "add", "root:rootpw"], ["user", "add", "cs:cspw"], ["role", "add", "chainstore"],
                     ["role", "grant-permission", "chainstore", "--prefix=true", "readwrite", "/chainstore/auth"],
                     ["user", "grant-role", "cs", "chainstore"], ["auth", "enable"]] {
            let r = try ctl(args)
            XCTAssertEqual(r.code, 0, "etcdctl \(args): \(r.err)")
        }
        let good = c.dir + "/pw", bad = c.dir + "/bad"
        try "cspw\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "nope\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let port = Harness.freePort()
        let m = LocalCluster.Proc(name: "m1", binary: Harness.binary("chainmaster"), args: [
            "--listen", "127.0.0.1:\(port)", "--store", "etcd", "--etcd-endpoints", e.endpoints, "--etcd-prefix", "/chainstore/auth",
            "--etcd-user", "cs", "--etcd-password-file", good], log: c.dir + "/m1.log")
        try m.start()
        c.haMasters.append((port, m))
        XCTAssert(Harness.waitFor(10) { c.leader() == port }, "the master did not lead with etcd auth: \(c.logs())")
        XCTAssert(Harness.waitFor(5) {
            let r = try? HTTPClient.get(host: "127.0.0.1", port: port, path: "/v1/masters")
            return (r?.text ?? "").contains("\"healthy\":true")
        }, "etcd shown unhealthy")
        let r = try Harness.run(Harness.binary("chainmaster"), ["--listen", "127.0.0.1:\(Harness.freePort())", "--store", "etcd",
                                                               "--etcd-endpoints", e.endpoints, "--etcd-prefix", "/chainstore/auth",
                                                               "--etcd-user", "cs", "--etcd-password-file", bad, "--etcd-wait-ms", "500"], timeout: 20)
        XCTAssertEqual(r.code, 4, r.err)
        XCTAssert(r.err.contains("authentication"), r.err)
    }
}
