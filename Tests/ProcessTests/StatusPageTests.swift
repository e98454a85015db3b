import Foundation
import XCTest
import ChainClient

/// The master's live status page, in a real browser: headless Chromium loads it against a local
/// cluster, a node is killed, and the page must show it down within 2 s of the master knowing.
final class StatusPageTests: ClusterTestCase {
    private static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func testThePageFollowsANodeKillInABrowser() throws {
        let c = try LocalCluster.start(label: "status-page")
        cluster = c
        let page = try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/")
        XCTAssertEqual(page.status, 200)
        XCTAssert(page.text.contains("<title>chainstore</title>") && page.text.contains("/v1/status"), "a static page polling the status API")
        XCTAssertFalse(page.text.contains("http://cdn") || page.text.contains("https://"), "nothing loaded from elsewhere")
        XCTAssertFalse(page.text.contains("href=\"http://"), "links to other masters keep the page's own scheme (HTTPS with --http-tls)")
        let s = try c.status()
        XCTAssertEqual(s.lease_ms, 1000)
        XCTAssertEqual(s.recent?.first?.epoch, s.epoch, "the latest reconfiguration is listed")
        XCTAssert(s.nodes.allSatisfy { $0.lag_updates != nil })

        let r = try Harness.run("/usr/bin/python3", [Self.repo + "/Tests/browser/status-page-check.py", "--master", c.masterAddress,
                                                     "--node", "n3", "--kill", "\(c.nodes["n3"]!.pid)"], timeout: 120)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        print("status page check: \(r.out)")
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        let before = try XCTUnwrap(out["before"] as? [String: Any])
        XCTAssertEqual(before["healthy"] as? String, "true")
        XCTAssertEqual(before["chain_rows"] as? Int, s.chains.count)
        XCTAssertEqual(before["ok_chain_rows"] as? Int, s.chains.count)
        XCTAssertEqual(before["node_rows"] as? Int, 3)
        XCTAssertGreaterThanOrEqual(before["recent_rows"] as? Int ?? 0, 1)
        XCTAssert(["down", "failed"].contains(out["page_state"] as? String ?? ""), r.out)
        let behind = try XCTUnwrap(out["page_behind_master_s"] as? Double)
        XCTAssertLessThanOrEqual(behind, 2.0, "the page showed the dead node \(behind) s after the master knew")
    }
}
