import Foundation
import XCTest
import ChainClient
import ChainCore
import ChainSecurity
import ChainWire

/// TLS on the client port, with certificates made for the test by the openssl tool: redis-cli
/// and chainload get through with the right CA and are refused with a wrong one; mutual TLS
/// refuses clients without a certificate; nodes forward to each other over TLS.
final class TLSTests: ClusterTestCase {
    struct Certificates {
        let dir: String
        var ca: String { dir + "/ca.pem" }
        var wrongCA: String { dir + "/wrong-ca.pem" }
        var serverCert: String { dir + "/server.pem" }
        var serverKey: String { dir + "/server.key" }
        var clientCert: String { dir + "/client.pem" }
        var clientKey: String { dir + "/client.key" }
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and an
    /// unrelated CA.
    private func makeCertificates(_ label: String) throws -> Certificates {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { throw XCTSkip("openssl is not installed") }
        let c = Certificates(dir: Harness.tempDir(label))
        try FileManager.default.createDirectory(atPath: c.dir, withIntermediateDirectories: true)
        func openssl(_ args: [String]) throws {
            let r = try Harness.run("/usr/bin/openssl", args, timeout: 30)
            guard r.code == 0 else { throw NSError(domain: "openssl", code: Int(r.code), userInfo: [NSLocalizedDescriptionKey: r.err]) }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "/CN=chainstore test CA"), ("wrong-ca", "/CN=someone else")] {
            try openssl(["req", "-x509"] + ec + ["-keyout", "\(c.dir)/\(name).key", "-out", "\(c.dir)/\(name).pem", "-days", "2", "-subj", subject])
        }
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: c.dir + "/san.ext", atomically: true, encoding: .utf8)
        for name in ["server", "client"] {
            try openssl(["req"] + ec + ["-keyout", "\(c.dir)/\(name).key", "-out", "\(c.dir)/\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(c.dir)/\(name).csr", "-CA", c.ca, "-CAkey", c.dir + "/ca.key", "-CAcreateserial",
                         "-out", "\(c.dir)/\(name).pem", "-days", "2", "-extfile", c.dir + "/san.ext"])
        }
        return c
    }

    private func cli(_ port: UInt16, _ tls: [String], _ args: String...) throws -> (code: Int32, out: String) {
        let r = try Harness.run(Harness.redisCLI, ["-p", "\(port)", "--tls"] + tls + args, timeout: 10)
        return (r.code, (r.out + r.err).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func testClientPortTLS() throws {
        let certs = try makeCertificates("tls")
        let n = try makeServer("tls-node", extraArgs: ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey])
        XCTAssertEqual(try cli(n.port, ["--cacert", certs.ca], "SET", "k", "over tls").out, "OK")
        XCTAssertEqual(try cli(n.port, ["--cacert", certs.ca], "GET", "k").out, "over tls")
        // A client that trusts another CA refuses the server; a plaintext client gets nothing.
        let wrong = try cli(n.port, ["--cacert", certs.wrongCA], "PING")
        XCTAssertNotEqual(wrong.out, "PONG")
        XCTAssert(wrong.out.lowercased().contains("certificate verify failed") || wrong.out.contains("SSL"), wrong.out)
        let plain = try Harness.run(Harness.redisCLI, ["-p", "\(n.port)", "PING"], timeout: 10)
        XCTAssertFalse(plain.out.contains("PONG"), plain.out)
        XCTAssertEqual(try cli(n.port, ["--cacert", certs.ca], "PING").out, "PONG", "the node still serves TLS clients")

        // chainload over TLS: no errors with the right CA, nothing but errors with a wrong one.
        let json = certs.dir + "/run.json"
        let ok = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(n.port)", "--tls-ca-file", certs.ca, "--workload", "a",
                                                              "--duration", "1", "--warmup", "0", "--clients", "4", "--pipeline", "4", "--json", json], timeout: 60)
        XCTAssertEqual(ok.code, 0, ok.err)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        XCTAssertEqual(report?["total_errors"] as? Int, 0)
        XCTAssertGreaterThan(report?["total_ops"] as? Int ?? 0, 100)
        // A wrong CA: chainload's first check fails with the reason, before any load.
        let refused = try Harness.run(Harness.binary("chainload"), ["--resp", "127.0.0.1:\(n.port)", "--tls-ca-file", certs.wrongCA,
                                                                    "--duration", "1", "--warmup", "0", "--clients", "2", "--json", json], timeout: 60)
        XCTAssertNotEqual(refused.code, 0)
        XCTAssert(refused.err.contains("certificate verify failed"), refused.err)

        // Bad TLS flags are refused at start with the reason.
        for (args, message) in [(["--tls-cert-file", certs.serverCert], "needs --tls-key-file"),
                                (["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.clientKey], "key"),
                                (["--tls-ca-file", certs.ca], "need --tls-cert-file"),
                                (["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey, "--tls-client-auth"], "CA file")] {
            let r = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", certs.dir + "/bad"] + args)
            XCTAssertEqual(r.code, 64, "\(args): \(r.err)")
            XCTAssert(r.err.contains(message), "\(args) should say '\(message)': \(r.err)")
        }
    }

    /// `--http-tls`: the node's HTTP endpoint speaks HTTPS with the client port's certificate.
    func testHTTPEndpointOverTLS() throws {
        let certs = try makeCertificates("http-tls")
        let n = try makeServer("http-tls-node", extraArgs: ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey, "--http-tls"])
        let tls = try TLSContext(role: .client, certificateFile: nil, keyFile: nil, caFile: certs.ca)
        let health = try HTTPClient.get(host: "127.0.0.1", port: n.httpPort, path: "/healthz", tls: tls)
        XCTAssertEqual(health.status, 200)
        let metrics = try HTTPClient.get(host: "127.0.0.1", port: n.httpPort, path: "/metrics", tls: tls)
        XCTAssert(metrics.text.contains("chainstore_commands_total"), metrics.text.prefix(200).description)
        XCTAssertNil(try? HTTPClient.get(host: "127.0.0.1", port: n.httpPort, path: "/healthz", timeoutMs: 2000), "plaintext gets no answer")
        let wrong = try TLSContext(role: .client, certificateFile: nil, keyFile: nil, caFile: certs.wrongCA)
        XCTAssertThrowsError(try HTTPClient.get(host: "127.0.0.1", port: n.httpPort, path: "/healthz", tls: wrong))
        let bad = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", certs.dir + "/bad", "--http-tls"])
        XCTAssertEqual(bad.code, 64)
        XCTAssert(bad.err.contains("--http-tls needs"), bad.err)
    }

    func testMutualTLSRefusesClientsWithoutACertificate() throws {
        let certs = try makeCertificates("mtls")
        let n = try makeServer("mtls-node", extraArgs: ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey,
                                                        "--tls-ca-file", certs.ca, "--tls-client-auth"])
        XCTAssertNotEqual(try cli(n.port, ["--cacert", certs.ca], "PING").out, "PONG")
        XCTAssertEqual(try cli(n.port, ["--cacert", certs.ca, "--cert", certs.clientCert, "--key", certs.clientKey], "PING").out, "PONG")
    }

    /// The whole cluster on TLS: the master's API is HTTPS and wants client certificates, nodes
    /// reach it with `--master-tls`, every client port and peer link speaks TLS (chains replicate
    /// over mutual TLS, a request to a node that does not serve the key is forwarded over TLS),
    /// and chainctl, the smart client and chainload work with the CA, while plaintext, a wrong CA
    /// or a missing client certificate are refused; a plaintext peer gets no handshake.
    func testWholeClusterOverTLS() throws {
        let certs = try makeCertificates("tls-cluster")
        let c = LocalCluster(label: "tls-cluster")
        cluster = c
        c.masterTLS = try TLSContext(role: .client, certificateFile: certs.clientCert, keyFile: certs.clientKey, caFile: certs.ca)
        let clientTLS = ["--tls-ca-file", certs.ca, "--tls-cert-file", certs.clientCert, "--tls-key-file", certs.clientKey]
        c.ctlTLSArgs = clientTLS
        try c.startMaster(replication: 3, initialNodes: 3, extra: ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey,
                                                                   "--tls-ca-file", certs.ca, "--tls-client-auth"])
        let tls = ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey, "--tls-ca-file", certs.ca, "--peer-tls", "--master-tls"]
        for i in 1...3 { try c.startNode("n\(i)", extra: tls) }
        try c.waitHealthy(timeout: 30)

        // The master's API: chainctl with the CA and a certificate; refused otherwise.
        let status = try c.ctl(["status", "--json"])
        XCTAssertEqual(status.code, 0, status.err)
        XCTAssertEqual(try c.status().nodes.count, 3)
        for (args, reason) in [([String](), "plaintext"), (["--tls-ca-file", certs.wrongCA, "--tls-cert-file", certs.clientCert, "--tls-key-file", certs.clientKey], "certificate verify failed"),
                               (["--tls-ca-file", certs.ca], "no client certificate")] {
            let r = try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress] + args + ["status"], timeout: 20)
            XCTAssertNotEqual(r.code, 0, "\(reason): \(r.out)")
            XCTAssert(r.err.contains("cannot reach the master"), "\(reason): \(r.err)")
            if reason == "certificate verify failed" { XCTAssert(r.err.contains(reason), r.err) }
        }
        XCTAssertNil(try? HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/healthz", timeoutMs: 2000).status,
                     "plaintext HTTP gets no answer from an HTTPS master")

        // Data through chainctl and the smart client over TLS.
        XCTAssertEqual(try c.ctl(["set", "ctl-key", "ctl-value"]).code, 0)
        XCTAssertEqual(try c.ctl(["get", "ctl-key"]).out.trimmingCharacters(in: .whitespacesAndNewlines), "ctl-value")
        let smart = try ClusterClient(master: HostPort(c.masterAddress)!, tls: c.masterTLS)
        XCTAssertEqual(try smart.execute("SET", "smart-key", "v1"), .simple("OK"))
        XCTAssertEqual(try smart.execute("GET", "ctl-key"), .bulk(Array("ctl-value".utf8)))
        let config = try XCTUnwrap(smart.config)
        let key = "tls-forwarded"
        let middle = config.chains[config.chain(forKey: Array(key.utf8))].members[1]
        let port = c.ports[middle]!.client
        XCTAssertEqual(try cli(port, ["--cacert", certs.ca], "SET", key, "v").out, "OK")
        XCTAssertEqual(try cli(port, ["--cacert", certs.ca], "GET", key).out, "v")
        let json = c.dir + "/run.json"
        let r = try Harness.run(Harness.binary("chainload"), ["--master", c.masterAddress] + clientTLS + ["--workload", "a",
                                                             "--duration", "1", "--warmup", "0", "--clients", "4", "--json", json], timeout: 60)
        XCTAssertEqual(r.code, 0, r.err)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        XCTAssertEqual(report?["total_errors"] as? Int, 0)
        XCTAssertGreaterThan(report?["total_ops"] as? Int ?? 0, 50)
        // Writes committed means every member acknowledged over the peer links.
        XCTAssertGreaterThan(try ["n1", "n2", "n3"].map { try c.metric($0, "chainstore_writes_committed_total") }.reduce(0, +), 0)

        // A backup and a restore speak TLS to the master and the nodes (the nodes' HTTP port is
        // plaintext here: nothing of the restore's check goes through it).
        let backupDir = c.dir + "/backup"
        let backup = try c.ctl(["backup", backupDir])
        XCTAssertEqual(backup.code, 0, backup.err)
        XCTAssertEqual(try smart.execute("FLUSHALL"), .simple("OK"))
        let restore = try c.ctl(["restore", backupDir])
        XCTAssertEqual(restore.code, 0, restore.out + restore.err)
        XCTAssert(restore.out.contains("restored cluster matches the backup"), restore.out)
        XCTAssertEqual(try smart.execute("GET", "ctl-key"), .bulk(Array("ctl-value".utf8)))
        let plainBackup = try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress, "backup", c.dir + "/plain"])
        XCTAssertEqual(plainBackup.code, 1, "a backup without TLS reaches nothing")

        // A plaintext peer: its hello is not TLS, so no challenge comes back.
        let raw = try RESPClient(port: c.ports["n1"]!.peer, timeoutMs: 2000)
        var w = ByteWriter()
        PeerFrame.hello(node: "plain", nonce: Array(repeating: 7, count: 32)).encode(into: &w)
        try raw.send(w.bytes)
        var d = PeerFrameDecoder()
        d.append(contentsOf: (try? raw.readUntilClosed()) ?? [])
        XCTAssertNil(try? d.next(), "no peer frame answers a plaintext hello")

        let bad = try Harness.run(Harness.binary("chainserver"), ["--master", c.masterAddress, "--cluster-secret-file", c.secretFile,
                                                                  "--data-dir", c.dir + "/bad", "--peer-tls", "--tls-cert-file", certs.serverCert,
                                                                  "--tls-key-file", certs.serverKey])
        XCTAssertEqual(bad.code, 64)
        XCTAssert(bad.err.contains("--peer-tls needs"), bad.err)
        let noCA = try Harness.run(Harness.binary("chainserver"), ["--master", c.masterAddress, "--cluster-secret-file", c.secretFile,
                                                                   "--data-dir", c.dir + "/bad", "--master-tls"])
        XCTAssertEqual(noCA.code, 64)
        XCTAssert(noCA.err.contains("--master-tls needs --tls-ca-file"), noCA.err)
        let badMaster = try Harness.run(Harness.binary("chainmaster"), ["--listen", "127.0.0.1:1", "--data-dir", c.dir + "/bad-master",
                                                                        "--tls-cert-file", certs.serverCert])
        XCTAssertEqual(badMaster.code, 64)
        XCTAssert(badMaster.err.contains("--tls-cert-file needs --tls-key-file"), badMaster.err)
    }

    /// A server whose certificate does not name the address the client dialled is refused, even
    /// when the CA signed it.
    func testCertificateMustNameTheServer() throws {
        let certs = try makeCertificates("tls-name")
        try "subjectAltName=IP:10.9.9.9\n".write(toFile: certs.dir + "/other.ext", atomically: true, encoding: .utf8)
        let args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", certs.dir + "/other.key",
                    "-out", certs.dir + "/other.csr", "-subj", "/CN=other"]
        XCTAssertEqual(try Harness.run("/usr/bin/openssl", ["req"] + args, timeout: 30).code, 0)
        XCTAssertEqual(try Harness.run("/usr/bin/openssl", ["x509", "-req", "-in", certs.dir + "/other.csr", "-CA", certs.ca, "-CAkey", certs.dir + "/ca.key",
                                                            "-CAcreateserial", "-out", certs.dir + "/other.pem", "-days", "2",
                                                            "-extfile", certs.dir + "/other.ext"], timeout: 30).code, 0)
        let n = try makeServer("tls-other", extraArgs: ["--tls-cert-file", certs.dir + "/other.pem", "--tls-key-file", certs.dir + "/other.key"])
        let tls = try TLSContext(role: .client, certificateFile: nil, keyFile: nil, caFile: certs.ca)
        XCTAssertThrowsError(try RESPClient(port: n.port, timeoutMs: 3000, tls: tls)) { error in
            XCTAssert("\(error)".contains("certificate verify failed"), "\(error)")
        }
        // The right name passes (the same server, a certificate for 127.0.0.1).
        let good = try makeServer("tls-good", extraArgs: ["--tls-cert-file", certs.serverCert, "--tls-key-file", certs.serverKey])
        let client = try RESPClient(port: good.port, timeoutMs: 3000, tls: tls)
        XCTAssertEqual(try client.call("PING"), .simple("PONG"))
    }
}
