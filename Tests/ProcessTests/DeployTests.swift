import Foundation
import XCTest
import ChainClient

/// The files in deploy/ that are not exercised by the cluster tests: the systemd units must pass
/// `systemd-analyze verify` (run on copies that point at the built binaries), and the README's
/// secure local cluster (`SECURE=1 deploy/cluster.sh up`) must come up and refuse clients
/// without the password.
final class DeployTests: XCTestCase {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func testSystemdUnitsVerify() throws {
        let dir = Harness.tempDir("systemd")
        for (unit, as_) in [("chainmaster.service", "chainmaster.service"), ("chainserver@.service", "chainserver@n1.service")] {
            let text = try String(contentsOfFile: root + "/deploy/systemd/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/", with: URL(fileURLWithPath: Harness.binary("chainserver")).deletingLastPathComponent().path + "/")
            try text.write(toFile: dir + "/" + as_, atomically: true, encoding: .utf8)
            let r = try Harness.run("/usr/bin/env", ["systemd-analyze", "verify", "--man=no", dir + "/" + as_])
            XCTAssertEqual(r.code, 0, "\(unit): \(r.out) \(r.err)")
            XCTAssertEqual((r.out + r.err).trimmingCharacters(in: .whitespacesAndNewlines), "", "\(unit) has complaints")
        }
    }

    func testSecureLocalCluster() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { throw XCTSkip("openssl is not installed") }
        let dir = Harness.tempDir("secure-local")
        // A block of 40 ports below the ephemeral range where nothing listens.
        var base = 0
        for _ in 0..<20 {
            let b = 12_000 + Int.random(in: 0..<150) * 40
            if (b..<(b + 40)).allSatisfy({ (try? RESPClient(port: UInt16($0), timeoutMs: 200)) == nil }) { base = b; break }
        }
        guard base > 0 else { throw XCTSkip("no free block of ports") }
        let env = ["CHAIN_DIR=\(dir)", "CHAIN_BIN=" + URL(fileURLWithPath: Harness.binary("chainctl")).deletingLastPathComponent().path,
                   "MASTER_PORT=\(base)", "CLIENT_BASE=\(base + 10)", "PEER_BASE=\(base + 20)", "HTTP_BASE=\(base + 30)",
                   "CHAIN_DURABILITY=memory", "SECURE=1"]
        func script(_ args: String...) throws -> (code: Int32, out: String, err: String) {
            try Harness.run("/usr/bin/env", env + ["bash", root + "/deploy/cluster.sh"] + args, timeout: 120)
        }
        defer {
            _ = try? script("down")
            // Whatever `down` missed, by the PIDs the script recorded.
            for name in ["master", "n1", "n2", "n3"] {
                if let text = try? String(contentsOfFile: "\(dir)/\(name).pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    kill(pid, SIGKILL)
                }
            }
        }
        let up = try script("up")
        XCTAssertEqual(up.code, 0, up.out + up.err)
        XCTAssert(up.out.contains("HEALTHY"), up.out)
        XCTAssert(up.out.contains("set greeting hello\nOK"), up.out)
        XCTAssert(up.out.contains("get greeting\nhello"), up.out)
        XCTAssert(up.out.contains("NOAUTH"), "a client without the password is refused: \(up.out)")

        // Every link is TLS: plaintext to the master and to a node gets nothing.
        XCTAssertNil(try? HTTPClient.get(host: "127.0.0.1", port: UInt16(base), path: "/healthz", timeoutMs: 2000))
        XCTAssertNil(try? RESPClient(port: UInt16(base + 11), timeoutMs: 2000).call("PING"))
        // `env` gives chainctl what it needs; without it chainctl cannot reach the master.
        let exports = try script("env").out
        XCTAssert(exports.contains("CHAIN_TLS_CA_FILE=\(dir)/secure/ca.pem"), exports)
        let ctl = URL(fileURLWithPath: Harness.binary("chainctl")).path
        let withEnv = try Harness.run("/usr/bin/env", ["CHAIN_TLS_CA_FILE=\(dir)/secure/ca.pem", "CHAIN_PASSWORD_FILE=\(dir)/secure/password",
                                                       ctl, "--master", "127.0.0.1:\(base)", "get", "greeting"])
        XCTAssertEqual(withEnv.out.trimmingCharacters(in: .whitespacesAndNewlines), "hello", withEnv.err)
        let without = try Harness.run(ctl, ["--master", "127.0.0.1:\(base)", "status"])
        XCTAssertNotEqual(without.code, 0)
        XCTAssertEqual(try script("status").code, 0)

        // A clean stop and start: `down` drains the cluster first, `up` resumes it, and no node is
        // taken for a restarted one (which would copy its chains again).
        let down = try script("down")
        XCTAssert(down.out.contains("cluster stopped at epoch"), down.out + down.err)
        let again = try script("up")
        XCTAssertEqual(again.code, 0, again.out + again.err)
        XCTAssert(again.out.contains("cluster started and healthy"), again.out)
        XCTAssert(again.out.contains("get greeting\nhello"), again.out)
        let masterLog = try String(contentsOfFile: "\(dir)/master.log", encoding: .utf8)
        XCTAssertFalse(masterLog.contains("node restarted"), "a node was taken for a restarted one")
    }
}
