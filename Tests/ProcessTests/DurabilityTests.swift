import Foundation
import XCTest
import ChainClient
#if canImport(Glibc)
import Glibc
#endif

/// Data survives restarts, graceful or not.
final class DurabilityTests: ProcessTestCase {
    func testGracefulRestartKeepsData() throws {
        for mode in ["fsync", "memory"] {
            let s = try makeServer("restart-\(mode)", extraArgs: ["--durability", mode])
            let c = try s.client()
            for i in 0..<500 { XCTAssertEqual(try c.call("SET", "k\(i)", "v\(i)"), .simple("OK")) }
            XCTAssertEqual(try c.call("DEL", "k0"), .integer(1))
            s.signal(SIGTERM)
            XCTAssertEqual(s.waitForExit(10), 0, "SIGTERM is a clean exit; log:\n\(s.log(tail: 1000))")
            try s.start()
            let c2 = try s.client()
            XCTAssertEqual(try c2.call("GET", "k0"), .bulk(nil), mode)
            for i in 1..<500 { XCTAssertEqual(try c2.call("GET", "k\(i)"), .bulk(bytes("v\(i)")), mode) }
        }
    }

    /// Writers hammer the server; it is SIGKILLed mid-stream; after restart every write that was
    /// acknowledged is there with its value.
    func testSIGKILLKeepsEveryAcknowledgedWriteUnderFsync() throws {
        let s = try makeServer("kill9", extraArgs: ["--durability", "fsync"])
        let port = s.port
        let acked = Locked<[String: String]>([:])
        let stop = Locked(false)
        let group = DispatchGroup()
        for t in 0..<4 {
            DispatchQueue.global().async(group: group) {
                guard let c = try? RESPClient(port: port, timeoutMs: 3000) else { return }
                var i = 0
                // Bounded: at most 100k writes per writer, and the server is killed long before.
                while !stop.value && i < 100_000 {
                    let k = "w\(t):\(i % 500)", v = "\(t)-\(i)"
                    guard let r = try? c.call("SET", k, v) else { return }
                    if r == .simple("OK") { acked.mutate { $0[k] = v } }
                    i += 1
                }
            }
        }
        // Killed while the writers are busy: once they have 1,500 writes acknowledged.
        XCTAssertTrue(Harness.waitFor(30) { acked.value.count >= 1500 }, "the writers made progress before the kill")
        s.kill9()
        stop.mutate { $0 = true }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        let expected = acked.value
        XCTAssertGreaterThan(expected.count, 100, "the writers made progress before the kill")
        try s.start()
        let c = try s.client()
        var lost: [String] = []
        for (k, v) in expected {
            // A later write to the same key may have been applied without its reply arriving, so
            // the value must be the acknowledged one or a newer one from the same writer.
            guard case let .bulk(got?) = try c.call("GET", k) else { lost.append(k); continue }
            let gotSeq = Int(String(decoding: got, as: UTF8.self).split(separator: "-")[1])!
            let wantSeq = Int(v.split(separator: "-")[1])!
            if gotSeq < wantSeq { lost.append(k) }
        }
        XCTAssertEqual(lost, [], "acknowledged writes lost after SIGKILL")
    }
}
