import Foundation
import XCTest
import ChainClient
#if canImport(Glibc)
import Glibc
#endif

/// `/healthz` says whether a node serves at all, `/readyz` whether it is a full member; both tell
/// the truth while the master is away, and every binary names one version and commit.
final class HealthTests: ClusterTestCase {
    private func get(_ c: LocalCluster, _ node: String, _ path: String) throws -> HTTPClient.Response {
        try HTTPClient.get(host: "127.0.0.1", port: c.ports[node]!.http, path: path, timeoutMs: 2000)
    }

    func testHealthAndReadinessFollowLeaseAndMembership() throws {
        let c = try LocalCluster.start(label: "health")
        cluster = c
        for n in ["n1", "n2", "n3"] {
            XCTAssertEqual(try get(c, n, "/healthz").text, "ok\n")
            XCTAssertEqual(try get(c, n, "/readyz").status, 200, n)
        }
        XCTAssertEqual(try c.metric("n1", "chainstore_serving"), 1)
        XCTAssertEqual(try c.metric("n1", "chainstore_ready"), 1)

        // A fourth node is a spare: it serves (forwards) but holds no chain.
        try c.startNode("n4")
        XCTAssert(Harness.waitFor(10) { (try? self.get(c, "n4", "/healthz"))?.status == 200 }, c.logs())
        let spare = try get(c, "n4", "/readyz")
        XCTAssertEqual(spare.status, 503)
        XCTAssert(spare.text.contains("spare"), spare.text)
        let status = try JSONSerialization.jsonObject(with: Data(try get(c, "n4", "/status").body)) as! [String: Any]
        XCTAssertEqual(status["healthy"] as? Bool, true)
        XCTAssertEqual(status["ready"] as? Bool, false)
        XCTAssert((status["readiness_problem"] as? String)?.contains("spare") == true)

        // The master stops answering: within a lease (1 s here) every node says why it serves nothing.
        c.master.signal(SIGSTOP)
        defer { c.master.signal(SIGCONT) }
        XCTAssert(Harness.waitFor(5) { (try? self.get(c, "n1", "/healthz"))?.status == 503 }, "n1 kept answering 200 without a lease")
        let down = try get(c, "n1", "/healthz")
        XCTAssert(down.text.contains("no lease"), down.text)
        XCTAssert(try get(c, "n1", "/readyz").text.contains("no lease"))
        XCTAssertEqual(try c.metric("n1", "chainstore_serving"), 0)
        XCTAssert(Harness.waitFor(5) { c.tail(c.dir + "/n1.log").contains("lease expired") }, c.tail(c.dir + "/n1.log"))
        let refused = try c.client("n1").call("GET", "k")
        guard case let .error(e) = refused, e.hasPrefix("CLUSTERDOWN") else { return XCTFail("served without a lease: \(refused)") }

        c.master.signal(SIGCONT)
        XCTAssert(Harness.waitFor(10) { (try? self.get(c, "n1", "/healthz"))?.status == 200 }, c.logs())
        XCTAssert(Harness.waitFor(5) { (try? self.get(c, "n1", "/readyz"))?.status == 200 })
        XCTAssert(c.tail(c.dir + "/n1.log").contains("lease renewed after a lapse"), c.tail(c.dir + "/n1.log"))
    }

    func testEveryBinaryReportsOneVersionAndCommit() throws {
        var lines: [String] = []
        for b in ["chainserver", "chainmaster", "chainctl", "chainload"] {
            let r = try Harness.run(Harness.binary(b), ["--version"])
            XCTAssertEqual(r.code, 0, r.err)
            lines.append(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let first = try XCTUnwrap(lines.first)
        let pattern = try NSRegularExpression(pattern: #"^chainserver (\d+\.\d+\.\d+) \(commit ([0-9a-f]{7,40}|unknown)\)$"#)
        let match = try XCTUnwrap(pattern.firstMatch(in: first, range: NSRange(first.startIndex..., in: first)), first)
        let version = String(first[Range(match.range(at: 1), in: first)!])
        let commit = String(first[Range(match.range(at: 2), in: first)!])
        for (b, line) in zip(["chainserver", "chainmaster", "chainctl", "chainload"], lines) {
            XCTAssertEqual(line, "\(b) \(version) (commit \(commit))")
        }

        let s = try makeServer("version")
        let info = try s.client().call("INFO", "server")
        guard case let .bulk(bytes?) = info else { return XCTFail("INFO: \(info)") }
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssert(text.contains("chainstore_version:\(version)\r\n"), text)
        XCTAssert(text.contains("chainstore_commit:\(commit)\r\n"), text)
        let status = try JSONSerialization.jsonObject(with: Data(try s.http("/status").body)) as! [String: Any]
        XCTAssertEqual(status["version"] as? String, version)
        XCTAssertEqual(status["commit"] as? String, commit)
        XCTAssert(try s.http("/metrics").text.contains("chainstore_build_info{version=\"\(version)\",commit=\"\(commit)\"} 1"))
        XCTAssertEqual(try s.http("/readyz").status, 200, "a standalone node is ready while its store works")

        let json = try Harness.run(Harness.binary("chainctl"), ["version", "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as! [String: String]
        XCTAssertEqual(obj, ["version": version, "commit": commit])
    }
}
