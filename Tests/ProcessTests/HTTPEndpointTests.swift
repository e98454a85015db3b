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
        // Latency by command: 10 SETs, 4 GETs, the unknown one and the harness's start-up PING.
        XCTAssertEqual(try s.metric("chainstore_command_duration_seconds_count{command=\"set\"}"), 10)
        XCTAssertEqual(try s.metric("chainstore_command_duration_seconds_count{command=\"get\"}"), 4)
        XCTAssertEqual(try s.metric("chainstore_command_duration_seconds_count{command=\"ping\"}"), 1)
        XCTAssertEqual(try s.metric("chainstore_command_duration_seconds_count{command=\"other\"}"), 1)
        XCTAssertGreaterThan(try s.metric("chainstore_command_duration_seconds_bucket{command=\"set\",le=\"1.0\"}"), 0)
        XCTAssertGreaterThanOrEqual(try s.metric("chainstore_wal_syncs_total"), 1)

        XCTAssertEqual(try s.http("/nope").status, 404)
    }
}

/// The blocking HTTP client against a server that misbehaves: a body cut short of its
/// Content-Length is an error, never a short answer.
final class HTTPClientTests: XCTestCase {
    /// Serves `response` to one connection on a free loopback port, then closes it.
    private func serveOnce(_ response: String) throws -> UInt16 {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(s, 1) == 0 else { throw XCTSkip("cannot listen on loopback") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        let bytes = Array(response.utf8)
        Thread.detachNewThread {
            let c = accept(s, nil, nil)
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = recv(c, &buf, buf.count, 0)
            _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(c)
            close(s)
        }
        return UInt16(bigEndian: sin.sin_port)
    }

    func testTruncatedBodyIsAnError() throws {
        let short = try serveOnce("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertThrowsError(try HTTPClient.get(host: "127.0.0.1", port: short, path: "/", timeoutMs: 2000)) { error in
            XCTAssert("\(error)".contains("Content-Length 10"), "\(error)")
        }
        let whole = try serveOnce("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: whole, path: "/", timeoutMs: 2000).text, "abc")
        let garbage = try serveOnce("not http at all")
        XCTAssertThrowsError(try HTTPClient.get(host: "127.0.0.1", port: garbage, path: "/", timeoutMs: 2000))
    }
}
