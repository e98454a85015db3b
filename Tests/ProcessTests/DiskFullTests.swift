import Foundation
import XCTest
import ChainClient
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A node whose disk fills up: it refuses writes with a clear error before RocksDB runs out of
/// space, keeps serving reads, does not crash, takes writes again once space is freed, and after
/// a restart every acknowledged write is there. Needs to mount a small tmpfs (root); skipped
/// otherwise.
final class DiskFullTests: ProcessTestCase {
    func testFullDiskRefusesWritesAndLosesNothingAcknowledged() throws {
        let mountPoint = Harness.tempDir("disk-full")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let m = try Harness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mountPoint])
        guard m.code == 0 else { throw XCTSkip("cannot mount a tmpfs here (not root?): \(m.err)") }
        defer { _ = try? Harness.run("/bin/umount", ["-l", mountPoint]) }
        // Room to free later.
        let filler = mountPoint + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: 24 << 20))
        let node = ServerProcess(dataDir: mountPoint + "/data", extraArgs: ["--durability", "fsync", "--min-free-disk-mb", "16"])
        track(node)
        try node.start()
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: 100_000)
        var acked: [[UInt8]] = []
        var waiting = false
        let writer = try node.client(timeoutMs: 2000)
        for i in 0..<600 {
            let key = Array("key\(i)".utf8)
            do {
                guard try writer.call([Array("SET".utf8), key, value]) == .simple("OK") else { break }
                acked.append(key)
            } catch RESPClient.Failure.timeout {
                // The write that met the reserve waits, unacknowledged, for room.
                waiting = true
                break
            }
        }
        XCTAssert(waiting, "the disk never reached the reserve")
        XCTAssertGreaterThan(acked.count, 10)
        // Another client's write is refused at once, with the reason — not held behind the
        // write that waits for room — and the connection stays usable.
        let other = try node.client(timeoutMs: 2000)
        let refused = try other.call("SET", "refused", "x")
        guard case let .error(e) = refused else { return XCTFail("a write during the wait got \(refused)") }
        XCTAssert(e.contains("writes are refused until the disk has room"), e)
        XCTAssertEqual(try other.call("PING"), .simple("PONG"))
        // RocksDB was never let near a full disk: the node is up and says why it is unhealthy.
        usleep(1_500_000)
        XCTAssert(node.process?.isRunning == true, "the node must not crash on a full disk: \(node.log(tail: 2000))")
        let health = try HTTPClient.get(host: "127.0.0.1", port: node.httpPort, path: "/healthz")
        XCTAssertEqual(health.status, 503)
        XCTAssert(health.text.contains("below the 16 MiB reserve"), health.text)
        XCTAssertEqual(try node.metric("chainstore_store_healthy"), 0)

        // Free space: the waiting write completes and new writes are taken, without a restart.
        try FileManager.default.removeItem(atPath: filler)
        let c = try node.client()
        XCTAssert(Harness.waitFor(10) { (try? c.call("SET", "after-space", "ok")) == .simple("OK") }, "writes resume once there is room")
        XCTAssertEqual(try node.metric("chainstore_store_healthy"), 1)
        XCTAssertEqual(try c.call([Array("GET".utf8), acked[0]]), .bulk(value))
        // Restart: every acknowledged write is there.
        node.signal(SIGTERM)
        XCTAssertNotNil(node.waitForExit(15), "the node stops on SIGTERM")
        try node.start()
        let after = try node.client()
        for k in acked { XCTAssertEqual(try after.call([Array("GET".utf8), k]), .bulk(value), String(decoding: k, as: UTF8.self)) }
        XCTAssertEqual(try after.call("SET", "after-restart", "ok"), .simple("OK"))
    }
}
