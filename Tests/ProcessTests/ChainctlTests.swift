import Foundation
import XCTest
import ChainCore

/// Every chainctl command against a real local cluster, with its error paths: one clear line on
/// stderr and a non-zero exit code.
final class ChainctlTests: ClusterTestCase {
    func testEveryCommandAndItsErrors() throws {
        let c = try LocalCluster.start(label: "chainctl", nodes: 3)
        cluster = c
        func ok(_ args: [String], _ expect: String...) throws -> String {
            let r = try c.ctl(args)
            XCTAssertEqual(r.code, 0, "\(args): \(r.err)")
            for e in expect { XCTAssert(r.out.contains(e), "\(args) should print '\(e)': \(r.out)") }
            return r.out
        }
        func fails(_ args: [String], code: Int32 = 1, _ message: String) throws {
            let r = try c.ctl(args)
            XCTAssertEqual(r.code, code, "\(args): \(r.out) \(r.err)")
            XCTAssert(r.err.contains(message), "\(args) should say '\(message)': \(r.err)")
        }

        _ = try ok(["status"], "HEALTHY", "NODE", "CHAIN")
        let status = try JSONDecoder().decode(MasterAPI.Status.self, from: Data(try ok(["status", "--json"]).utf8))
        XCTAssertEqual(status.nodes.count, 3)
        let nodes = try JSONSerialization.jsonObject(with: Data(try ok(["nodes", "--json"]).utf8)) as? [[String: Any]]
        XCTAssertEqual(nodes?.count, 3)
        // Role counts in the JSON as in the table: 12 chains of 3 over 3 nodes.
        XCTAssertEqual(nodes?.map { ($0["heads"] as? Int ?? -1) + ($0["tails"] as? Int ?? -1) }, [8, 8, 8])
        XCTAssertEqual(nodes?.map { $0["chains"] as? Int ?? -1 }, [12, 12, 12])
        let waited = try JSONSerialization.jsonObject(with: Data(try ok(["wait", "--healthy", "--json"]).utf8)) as? [String: Any]
        XCTAssertEqual(waited?["ok"] as? Bool, true, "a JSON boolean, not a string")
        XCTAssertEqual(waited?["epoch"] as? Int, Int(status.epoch))
        _ = try ok(["chains", "--node", "n1"], "n1")
        try fails(["chains", "--node", "nosuch"], "no node 'nosuch' is registered")
        let config = try JSONDecoder().decode(Configuration.self, from: Data(try ok(["config", "--json"]).utf8))
        XCTAssertEqual(config.epoch, status.epoch)
        _ = try ok(["config"], "epoch \(status.epoch)", "FROZEN")
        let watch = try ok(["watch", "--count", "2", "--interval", "0.1"], "HEALTHY")
        XCTAssertEqual(watch.split(separator: "\n").count, 1, "not a terminal: one line per change")
        _ = try ok(["wait", "--healthy", "--timeout", "5"], "healthy at epoch")
        _ = try ok(["wait", "--node-in-sync", "n2", "--timeout", "5"], "n2 in sync")
        try fails(["wait", "--node-in-sync", "nosuch", "--timeout", "2"], "no node 'nosuch'")
        try fails(["wait"], code: 64, "--healthy or --node-in-sync")
        _ = try ok(["set", "ctl-key", "v1"], "OK")
        _ = try ok(["get", "ctl-key", "--json"], "\"value\" : \"v1\"")
        _ = try ok(["del", "ctl-key"], "1")
        _ = try ok(["get", "ctl-key"], "(nil)")
        // scan: every key of every chain, from the tails.
        let smart = try c.smartClient()
        for i in 0..<30 { XCTAssertEqual(try smart.execute("SET", "scan:\(i)", "v\(i)"), .simple("OK")) }
        let listed = try ok(["scan", "--prefix", "scan:"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(Set(listed), Set((0..<30).map { "scan:\($0)" }))
        XCTAssertEqual(try ok(["scan", "--prefix", "scan:", "--limit", "5"]).split(separator: "\n").count, 5)
        let pairs = try JSONSerialization.jsonObject(with: Data(try ok(["scan", "--prefix", "scan:1", "--json"]).utf8)) as? [[String: String]]
        XCTAssertEqual(pairs?.count, 11)
        XCTAssertTrue(pairs?.allSatisfy { $0["value"] == "v" + $0["key"]!.dropFirst(5) } ?? false)
        _ = try ok(["scan", "--prefix", "scan:7", "--values"], "scan:7\tv7")
        let n1 = try c.client("n1")
        guard case let .error(bad) = try n1.call("CS.SCAN", "x", "", "10") else { return XCTFail("bad CS.SCAN accepted") }
        XCTAssert(bad.contains("chain number"), bad)
        // Only a chain's tail answers CS.SCAN; a bad cursor is refused.
        let st = try c.status()
        let notTail = try XCTUnwrap(st.chains.first { $0.members.last != "n1" })
        guard case let .error(moved) = try n1.call("CS.SCAN", "\(notTail.id)", "", "10") else { return XCTFail("non-tail answered CS.SCAN") }
        XCTAssert(moved.hasPrefix("TRYAGAIN"), moved)
        let tailChain = try XCTUnwrap(st.chains.first { $0.members.last == "n1" })
        guard case let .error(cursor) = try n1.call("CS.SCAN", "\(tailChain.id)", "zz", "10") else { return XCTFail("bad cursor accepted") }
        XCTAssert(cursor.contains("invalid CS.SCAN cursor"), cursor)

        _ = try ok(["version", "--json"], "version")
        // As a user types it (no --master, which the completion parser does not accept) and with
        // no $SHELL to fall back on, as under CI.
        for shell in ["bash", "zsh", "fish"] {
            let completion = try Harness.run("/usr/bin/env", ["-u", "SHELL", Harness.binary("chainctl"), "--generate-completion-script", shell])
            XCTAssertEqual(completion.code, 0, "\(shell): \(completion.err)")
            XCTAssert(completion.out.contains("chainctl"), completion.out)
        }
        try fails(["drain", "n1"], "would leave chains below replication 3")
        try fails(["remove", "n1"], "still in chains")
        try fails(["add", "nosuch", "--dry-run"], "no node 'nosuch' is registered")
        let unknown = try Harness.run(Harness.binary("chainctl"), ["frobnicate"])
        XCTAssertEqual(unknown.code, 64, unknown.err)
        XCTAssert(unknown.err.contains("frobnicate"), unknown.err)
        try fails(["status", "--master", "not-an-address"], code: 64, "invalid master address")

        // Master down: every command says so in one line and exits 1.
        c.master.stop(SIGKILL)
        for args in [["status"], ["nodes"], ["config"], ["add", "n1"], ["drain", "n1"], ["remove", "n1"], ["get", "k"]] {
            try fails(args, "cannot reach the master")
        }
        XCTAssertEqual(try c.ctl(["watch", "--count", "1"]).code, 1, "the last look failed")
        try fails(["wait", "--healthy", "--timeout", "1"], code: 2, "not done after")
        // start-cluster --wait waits for a master that is starting, but not past its timeout;
        // without --wait it does not wait at all.
        let started = Date()
        try fails(["start-cluster", "--wait", "--timeout", "1.5"], "cannot reach the master")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1.4, "start-cluster --wait gave up before its timeout")
        try fails(["start-cluster"], "cannot reach the master")
    }
}
