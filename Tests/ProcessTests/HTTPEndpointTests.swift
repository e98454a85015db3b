import Foundation
import XCTest
import ChainClient

final class HTTPEndpointTests: ProcessTestCase {
    func testHealthStatusAndMetrics() throws {
        let s = try makeServer("http", extraArgs: ["--durability", "fsync", "--id", "node-7"])
        let c = try s.client()
        for i in 0..<10 { _ = try c.call("SET", "k\(i)", "v") }
        for i in 0..<4 { _ = try c.call("GET", "k\(i)") }
        _ = try c.call("NOPE")

        let health = try s.http("/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.text, "ok\n")

        let status = try s.http("/status")
        XCTAssertEqual(status.status, 200)
        let json = try JSONSerialization.jsonObject(with: Data(status.body)) as! [String: Any]
        XCTAssertEqual(json["node_id"] as? String, "node-7")
        XCTAssertEqual(json["durability"] as? String, "fsync")
        XCTAssertEqual(json["healthy"] as? Bool, true)
        XCTAssertEqual(json["connections"] as? Int, 1)
        XCTAssertEqual(json["persisted_seq"] as? Int, 10)

        XCTAssertEqual(try s.metric("chainstore_commands_total{cmd=\"set\"}"), 10)
        XCTAssertEqual(try s.metric("chainstore_commands_total{cmd=\"get\"}"), 4)
        XCTAssertEqual(try s.metric("chainstore_commands_total{cmd=\"unknown\"}"), 1)
        XCTAssertEqual(try s.metric("chainstore_connections"), 1)
        XCTAssertGreaterThan(try s.metric("chainstore_net_input_bytes_total"), 100)
        XCTAssertGreaterThan(try s.metric("chainstore_net_output_bytes_total"), 50)
        XCTAssertEqual(try s.metric("chainstore_command_duration_seconds_count"), 16, "15 commands and the harness's start-up PING")
        XCTAssertGreaterThanOrEqual(try s.metric("chainstore_wal_syncs_total"), 1)

        XCTAssertEqual(try s.http("/nope").status, 404)
    }
}
