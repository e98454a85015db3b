import Foundation
import XCTest
import ChainClient
#if canImport(Glibc)
import Glibc
#endif

/// The metrics behind the dashboards and alerts: per-chain series on the nodes, cluster series on
/// the leading master, and the shipped rules and dashboard naming only metrics that exist.
final class MonitoringTests: ClusterTestCase {
    private static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    private func samples(_ text: String, _ name: String) -> [(labels: String, value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(name + "{") || line.hasPrefix(name + " ") else { return nil }
            let parts = line.split(separator: " ")
            let labels = line.hasPrefix(name + "{") ? String(parts[0].dropFirst(name.count)) : ""
            return (labels, Double(parts.last!) ?? .nan)
        }
    }

    private func scrape(_ port: UInt16) throws -> String {
        try HTTPClient.get(host: "127.0.0.1", port: port, path: "/metrics").text
    }

    func testChainAndClusterSeriesAndTheShippedRules() throws {
        let c = try LocalCluster.start(label: "monitoring", nodes: 4)
        cluster = c
        let smart = try c.smartClient()
        for i in 0..<200 { _ = try smart.execute("SET", "m\(i)", "v") }
        _ = try c.client("n1").call("NOPE")  // error counters appear with the first error of their kind
        let chains = try c.status().chains.count
        var nodeText = ""
        var heads = 0.0, tails = 0.0
        for n in ["n1", "n2", "n3", "n4"] {
            let t = try scrape(c.ports[n]!.http)
            nodeText += t
            heads += samples(t, "chainstore_chain_head").map(\.value).reduce(0, +)
            tails += samples(t, "chainstore_chain_tail").map(\.value).reduce(0, +)
            XCTAssert(Harness.waitFor(5) { ((try? self.scrape(c.ports[n]!.http)).map { self.samples($0, "chainstore_chain_replication_lag_seconds") } ?? [])
                .allSatisfy { $0.value < 0.5 } }, "an idle cluster has no replication lag")
        }
        for n in ["n1", "n2", "n3", "n4"] {
            XCTAssert(Harness.waitFor(5) { ((try? self.scrape(c.ports[n]!.http)).map { self.samples($0, "chainstore_event_loop_lag_seconds_count") } ?? [])
                .contains { $0.value > 0 } }, "\(n) measures its loop's lag")
        }
        XCTAssertEqual(heads, Double(chains), "every chain has one head")
        XCTAssertEqual(tails, Double(chains), "every chain has one tail")
        XCTAssertEqual(samples(nodeText, "chainstore_chain_applied_seq").count, chains * 3, "one series per chain replica")

        // Latency by command, also for a pipeline mixing writes that wait for their chain's commit
        // with replies known at once (each is counted under its own command, once).
        let before = try scrape(c.ports["n2"]!.http)
        func count(_ text: String, _ command: String) -> Double {
            samples(text, "chainstore_command_duration_seconds_count").first { $0.labels == "{command=\"\(command)\"}" }?.value ?? 0
        }
        let pipe = try c.client("n2")
        var batch: [[[UInt8]]] = []
        for i in 0..<5 { batch += [["SET", "lat\(i)", "v"], ["PING"], ["GET", "lat\(i)"], ["ECHO", "x"]].map { $0.map { Array($0.utf8) } } }
        batch.append(["CS.NOPE"].map { Array($0.utf8) })
        _ = try pipe.pipeline(batch)
        let after = try scrape(c.ports["n2"]!.http)
        for (command, n) in [("set", 5.0), ("get", 5), ("ping", 5), ("echo", 5), ("other", 1)] {
            XCTAssertEqual(count(after, command) - count(before, command), n, command)
        }

        var masterText = try scrape(c.masterPort)
        XCTAssertEqual(samples(masterText, "chainmaster_cluster_healthy").first?.value, 1)
        XCTAssertEqual(samples(masterText, "chainmaster_chain_ok").filter { $0.value == 1 }.count, chains)
        XCTAssertEqual(samples(masterText, "chainmaster_node_up").filter { $0.value == 1 }.count, 4)
        XCTAssertEqual(samples(masterText, "chainmaster_chain_member_lag_updates").count, chains * 3)

        // Every metric the rules and the dashboard use is exported by a node or the master.
        let used = try metricNames(in: ["deploy/monitoring/chainstore-alerts.yml", "deploy/monitoring/grafana-dashboard.json"])
        XCTAssertGreaterThan(used.count, 15)
        for name in used {
            XCTAssert(nodeText.contains("\n\(name)") || masterText.contains("\n\(name)"), "\(name) is used by the rules or the dashboard but not exported")
        }

        // n4 dies: its node series reads 0, and once it is spliced out no chain series names it.
        c.nodes["n4"]!.stop(SIGKILL)
        XCTAssert(Harness.waitFor(15) {
            guard let t = try? self.scrape(c.masterPort) else { return false }
            masterText = t
            return self.samples(t, "chainmaster_node_up").contains { $0.labels.contains("\"n4\"") && $0.value == 0 }
                && !self.samples(t, "chainmaster_chain_member_lag_updates").contains { $0.labels.contains("\"n4\"") }
        }, masterText)
    }

    func testAlertRulesPassPromtool() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            return XCTFail("promtool is missing: deploy/install-deps.sh installs it (Debian's prometheus package)")
        }
        let r = try Harness.run("/usr/bin/promtool", ["check", "rules", Self.repo + "/deploy/monitoring/chainstore-alerts.yml"])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssert(r.out.contains("SUCCESS"), r.out)
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.repo + "/deploy/monitoring/grafana-dashboard.json"))) as? [String: Any]
        XCTAssertGreaterThan((dashboard?["panels"] as? [Any])?.count ?? 0, 10)
    }

    /// `chainstore_…` and `chainmaster_…` names in the files, histogram suffixes folded into their base.
    private func metricNames(in files: [String]) throws -> Set<String> {
        let re = try NSRegularExpression(pattern: "\\b(chainstore|chainmaster)_[a-z_]+\\b")
        var out = Set<String>()
        for f in files {
            let text = try String(contentsOfFile: Self.repo + "/" + f, encoding: .utf8)
            for m in re.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                out.insert(String(text[Range(m.range, in: text)!]))
            }
        }
        return out
    }
}
