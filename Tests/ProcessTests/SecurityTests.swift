import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP

/// Client authentication (passwords, read-only users) and the master's API token, against real
/// processes: what an unauthenticated or under-privileged client gets, that real clients
/// (redis-cli, the smart client, chainctl, chainload) get through with the right secrets, and
/// that no secret shows in a log.
final class SecurityTests: ClusterTestCase {
    private func write(_ text: String, _ path: String) -> String {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    func testPasswordsAndReadOnlyUsers() throws {
        let dir = Harness.tempDir("auth-standalone")
        let pass = write("s3cret-default\n", dir + "-pass")
        let users = write("# name permission password\nwriter rw writer-pw\nreader ro reader pw with spaces\n", dir + "-users")
        let n = try makeServer("auth", extraArgs: ["--requirepass-file", pass, "--users-file", users])
        let c = try RESPClient(port: n.port)
        // Before AUTH: only PING, HELLO, AUTH and QUIT.
        XCTAssertEqual(try c.call("GET", "k"), .error("NOAUTH Authentication required."))
        XCTAssertEqual(try c.call("CS.SCAN", "0", "0", "10"), .error("NOAUTH Authentication required."))
        // Wrappers the parser takes off before the command is seen: still refused, even around
        // a command allowed before authentication.
        XCTAssertEqual(try c.call("CS.REQ", "1", "2", "PING"), .error("NOAUTH Authentication required."))
        XCTAssertEqual(try c.call("CS.FWD", "PING"), .error("NOAUTH Authentication required."))
        XCTAssertEqual(try c.call("PING"), .simple("PONG"))
        XCTAssertEqual(try c.call("PING"), .simple("PONG"))
        guard case .map = try c.call("HELLO", "3") else { return XCTFail("HELLO before AUTH") }
        XCTAssertEqual(try c.call("AUTH", "wrong"), .error("WRONGPASS invalid username-password pair or user is disabled."))
        XCTAssertEqual(try c.call("AUTH", "nosuch", "s3cret-default"), .error("WRONGPASS invalid username-password pair or user is disabled."))
        XCTAssertEqual(try c.call("AUTH", "a", "b", "c"), .error("ERR syntax error"))
        XCTAssertEqual(try c.call("GET", "k"), .error("NOAUTH Authentication required."), "a failed AUTH authenticates nobody")
        XCTAssertEqual(try c.call("AUTH", "s3cret-default"), .simple("OK"))
        XCTAssertEqual(try c.call("SET", "k", "v"), .simple("OK"))

        // A read-only user reads and cannot write; HELLO … AUTH authenticates in one step.
        let r = try RESPClient(port: n.port, credentials: Credentials(user: "reader", password: "reader pw with spaces"))
        XCTAssertEqual(try r.call("GET", "k"), .bulk(Array("v".utf8)))
        XCTAssertEqual(try r.call("SET", "k", "x"), .error("NOPERM User reader has no permissions to run the 'set' command"))
        XCTAssertEqual(try r.call("CS.REQ", "1", "1", "SET", "k", "x"), .error("NOPERM User reader has no permissions to run the 'set' command"))
        let h = try RESPClient(port: n.port)
        guard case .map = try h.call("HELLO", "3", "AUTH", "writer", "writer-pw") else { return XCTFail("HELLO AUTH") }
        XCTAssertEqual(try h.call("SET", "k", "w"), .simple("OK"))
        let bad = try RESPClient(port: n.port)
        guard case .error(let e) = try bad.call("HELLO", "3", "AUTH", "writer", "nope") else { return XCTFail("HELLO with a wrong password") }
        XCTAssert(e.hasPrefix("WRONGPASS"), e)
        XCTAssertThrowsError(try RESPClient(port: n.port, credentials: Credentials(password: "nope")))

        // redis-cli, as users run it.
        XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(n.port)", "--no-auth-warning", "-a", "s3cret-default", "GET", "k"]).out
            .trimmingCharacters(in: .whitespacesAndNewlines), "w")
        XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(n.port)", "--no-auth-warning", "--user", "reader", "--pass", "reader pw with spaces", "SET", "k", "z"]).out
            .trimmingCharacters(in: .whitespacesAndNewlines), "NOPERM User reader has no permissions to run the 'set' command")

        XCTAssertGreaterThanOrEqual(try n.metric("chainstore_errors_total{kind=\"auth_failed\"}"), 3)
        XCTAssertGreaterThanOrEqual(try n.metric("chainstore_errors_total{kind=\"noauth\"}"), 3)
        XCTAssertGreaterThanOrEqual(try n.metric("chainstore_errors_total{kind=\"noperm\"}"), 2)
        let log = (try? String(contentsOfFile: n.logPath, encoding: .utf8)) ?? ""
        for secret in ["s3cret-default", "writer-pw", "reader pw"] { XCTAssertFalse(log.contains(secret), "\(secret) in the log") }
    }

    func testBadUserFilesAreRefusedAtStart() throws {
        let dir = Harness.tempDir("auth-bad")
        for (text, message) in [("alice rw\n", "three fields needed"), ("alice admin pw\n", "permission must be rw or ro"),
                                ("a rw x\na ro y\n", "defined twice"), ("chainstore-node rw x\n", "reserved")] {
            let f = write(text, dir + "-users")
            let r = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", dir, "--users-file", f])
            XCTAssertEqual(r.code, 64, text)
            XCTAssert(r.err.contains(message), "\(text): \(r.err)")
        }
        let r = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", dir, "--requirepass-file", dir + "-missing"])
        XCTAssertEqual(r.code, 64)
        XCTAssert(r.err.contains("not readable"), r.err)
    }

    /// A cluster with a password on every node and a token on the master: nodes register with the
    /// token, forward to each other as the internal user, and every tool works with the secrets
    /// and fails clearly without them.
    func testClusterWithPasswordsAndAPIToken() throws {
        let c = LocalCluster(label: "auth-cluster")
        cluster = c
        let token = write("master-token-0123456789\n", c.dir + "-token")
        let pass = write("cluster-pw\n", c.dir + "-pass")
        try c.startMaster(replication: 3, initialNodes: 3, extra: ["--api-token-file", token])
        for i in 1...3 { try c.startNode("n\(i)", extra: ["--master-token-file", token, "--requirepass-file", pass]) }
        try c.waitHealthy(timeout: 30)
        // A node without the token is refused by the master (and says so in its log).
        let intruder = try c.startNode("n4", extra: ["--requirepass-file", pass])
        XCTAssert(Harness.waitFor(10) { (try? String(contentsOfFile: intruder.log, encoding: .utf8))?.contains("refused this node's API token") == true })
        XCTAssertFalse(try c.status().nodes.contains { $0.id == "n4" })
        intruder.stop()

        // Requests that land on the wrong node are forwarded with the internal credentials.
        let config = try XCTUnwrap(try? ClusterClient(master: HostPort(c.masterAddress)!, credentials: Credentials(password: "cluster-pw")).config)
        let key = "forwarded-key"
        let chain = config.chains[config.chain(forKey: Array(key.utf8))]
        // The middle member is neither head nor tail: its writes and its reads are both forwarded.
        let notHead = chain.members[1]
        let cli = { (node: String, args: [String]) in
            try Harness.run(Harness.redisCLI, ["-p", "\(c.ports[node]!.client)", "--no-auth-warning", "-a", "cluster-pw"] + args).out
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try cli(notHead, ["SET", key, "v1"]), "OK")
        XCTAssertEqual(try cli(notHead, ["GET", key]), "v1")
        XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(c.ports[notHead]!.client)", "GET", key]).out
            .trimmingCharacters(in: .whitespacesAndNewlines), "NOAUTH Authentication required.")

        // chainctl: reads are open; changes need the token; data commands need the password.
        XCTAssertEqual(try c.ctl(["status"]).code, 0)
        let noToken = try c.ctl(["drain", "n3", "--dry-run"])
        XCTAssertEqual(noToken.code, 1)
        XCTAssert(noToken.err.contains("missing or wrong API token"), noToken.err)
        let wrongToken = write("not-the-token\n", c.dir + "-wrong")
        XCTAssertEqual(try c.ctl(["--token-file", wrongToken, "drain", "n3", "--dry-run"]).code, 1)
        let dry = try c.ctl(["--token-file", token, "drain", "n3", "--dry-run"])
        XCTAssert(dry.code == 0 || dry.err.contains("replication"), dry.err)
        XCTAssertEqual(try c.ctl(["--password-file", pass, "get", key]).out.trimmingCharacters(in: .whitespacesAndNewlines), "v1")
        let noPass = try c.ctl(["get", key])
        XCTAssertEqual(noPass.code, 1)
        XCTAssert(noPass.err.contains("NOAUTH"), noPass.err)
        // Backups read through the client port: they need the password too.
        let refusedBackup = try c.ctl(["backup", c.dir + "/backup-nopass"])
        XCTAssertEqual(refusedBackup.code, 1)
        XCTAssert(refusedBackup.err.contains("authentication refused") || refusedBackup.err.contains("NOAUTH"), refusedBackup.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.dir + "/backup-nopass"), "a refused backup leaves nothing")
        let backup = try c.ctl(["--password-file", pass, "backup", c.dir + "/backup"])
        XCTAssertEqual(backup.code, 0, backup.err)
        let check = try c.ctl(["--password-file", pass, "restore", c.dir + "/backup"])
        XCTAssertEqual(check.code, 1, "the cluster is not empty")
        XCTAssert(check.err.contains("not empty"), check.err)

        // chainload with the password: no errors; without it, every operation fails with noauth.
        let json = c.dir + "/run.json"
        let ok = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--password-file", pass, "--workload", "a",
                                                              "--duration", "1", "--warmup", "0", "--clients", "4", "--json", json], timeout: 60)
        XCTAssertEqual(ok.code, 0, ok.err)
        let rep = try JSONDecoder().decode(ChainLoadReportSummary.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(rep.total_errors, 0)
        XCTAssertGreaterThan(rep.total_ops, 0)
        let refused = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress, "--workload", "a", "--duration", "1",
                                                                    "--warmup", "0", "--clients", "2", "--json", json], timeout: 60)
        XCTAssertEqual(refused.code, 0, refused.err)
        let rep2 = try JSONDecoder().decode(ChainLoadReportSummary.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(rep2.total_ops, 0)
        XCTAssertGreaterThan(rep2.total_errors, 0)

        for node in ["n1", "n2", "n3"] {
            let log = (try? String(contentsOfFile: c.nodes[node]!.log, encoding: .utf8)) ?? ""
            XCTAssertFalse(log.contains("cluster-pw") || log.contains("master-token-0123456789"), "a secret in \(node)'s log")
        }
    }

    /// With `--protect-reads`, even the status needs the token; the health check does not.
    func testProtectedReads() throws {
        let c = LocalCluster(label: "auth-reads")
        cluster = c
        let token = write("read-token-0123456789\n", c.dir + "-token")
        try c.startMaster(replication: 1, initialNodes: 1, extra: ["--api-token-file", token, "--protect-reads"])
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/healthz").status, 200)
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/v1/status").status, 401)
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/v1/status", token: "read-token-0123456789").status, 200)
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/metrics", token: "nope").status, 401)
        let ctl = try c.ctl(["status"])
        XCTAssertEqual(ctl.code, 1)
        XCTAssert(ctl.err.contains("missing or wrong API token"), ctl.err)
        XCTAssertEqual(try c.ctl(["--token-file", token, "status"]).code, 0)
        let bad = try Harness.run(Harness.binary("chainmaster"), ["--listen", "127.0.0.1:1", "--data-dir", c.dir + "/m2", "--protect-reads"])
        XCTAssertEqual(bad.code, 64)
        XCTAssert(bad.err.contains("--protect-reads needs --api-token-file"), bad.err)
    }
}

/// The two report fields these tests read (the full schema is tested in ChainLoadTests).
private struct ChainLoadReportSummary: Decodable {
    var total_ops: UInt64
    var total_errors: UInt64
}
