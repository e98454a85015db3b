import Foundation
import XCTest
import ChainClient
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Bad input gets a clear error and loses nothing; the server keeps serving.
final class BadInputTests: ProcessTestCase {
    func testMalformedRESPGetsProtocolErrorAndClose() throws {
        let s = try makeServer("malformed", extraArgs: ["--durability", "memory"])
        let cases: [(String, String)] = [
            ("*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
            ("*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
            ("*1\r\n:12\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"),
            ("*1\r\n$3\r\nabcdef\r\n", "-ERR Protocol error: expected CRLF after bulk data\r\n"),
            ("set \"open\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
            ("*1\r\n$999999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        ]
        for (input, expected) in cases {
            let c = try s.client()
            try c.send(bytes("PING\r\n") + bytes(input))
            let got = String(decoding: try c.readUntilClosed(), as: UTF8.self)
            XCTAssertEqual(got, "+PONG\r\n" + expected, "input \(input.debugDescription)")
        }
        XCTAssertEqual(try s.client().call("PING"), .simple("PONG"), "server still serves")
        XCTAssertGreaterThanOrEqual(try s.metric("chainstore_client_closes_total{reason=\"protocol_error\"}"), Double(cases.count))
    }

    func testInlineLineTooLongIsRefused() throws {
        let s = try makeServer("inline-long", extraArgs: ["--durability", "memory"])
        let c = try s.client()
        try c.send([UInt8](repeating: UInt8(ascii: "a"), count: 70_000))
        XCTAssertEqual(String(decoding: try c.readUntilClosed(), as: UTF8.self), "-ERR Protocol error: too big inline request\r\n")
    }

    func testOversizedValueIsRefusedAndNothingStored() throws {
        let s = try makeServer("oversized", extraArgs: ["--durability", "memory", "--max-value-bytes", "1024"])
        let c = try s.client()
        XCTAssertEqual(try c.call("SET", "k", "small"), .simple("OK"))
        let big = [UInt8](repeating: 7, count: 5000)
        guard case let .error(msg) = try c.call([bytes("SET"), bytes("k"), big]) else { return XCTFail("must be refused") }
        XCTAssert(msg.hasPrefix("ERR value too large"), msg)
        XCTAssertEqual(try c.call("GET", "k"), .bulk(bytes("small")), "nothing stored, connection still usable")
        guard case .error = try c.call([bytes("APPEND"), bytes("k"), [UInt8](repeating: 1, count: 1020)]) else {
            return XCTFail("APPEND past the limit must be refused")
        }
        XCTAssertEqual(try c.call("STRLEN", "k"), .integer(5))
        // Also through redis-cli, which users will try first.
        XCTAssert(try s.cli("SET", "k2", String(repeating: "x", count: 3000)).hasPrefix("ERR value too large"))
        XCTAssertEqual(try s.cli("EXISTS", "k2"), "0")
    }

    func testUnknownCommandAndWrongArity() throws {
        let s = try makeServer("unknown", extraArgs: ["--durability", "memory"])
        let c = try s.client()
        XCTAssertEqual(try c.call("FLUBBER", "a", "b"), .error("ERR unknown command 'FLUBBER', with args beginning with: 'a' 'b'"))
        XCTAssertEqual(try c.call("GET"), .error("ERR wrong number of arguments for 'get' command"))
        XCTAssertEqual(try c.call("SET", "k"), .error("ERR wrong number of arguments for 'set' command"))
        XCTAssertEqual(try c.call("MSET", "a", "1", "b"), .error("ERR wrong number of arguments for 'mset' command"))
        XCTAssertEqual(try c.call("INCRBY", "n", "x"), .error("ERR value is not an integer or out of range"))
        XCTAssertEqual(try c.call("PING"), .simple("PONG"))
        XCTAssertEqual(try s.metric("chainstore_errors_total{kind=\"unknown_command\"}"), 1)
    }

    func testMaxClientsRefusesExtraConnections() throws {
        let s = try makeServer("maxclients", extraArgs: ["--durability", "memory", "--max-clients", "2"])
        let a = try s.client(), b = try s.client()
        XCTAssertEqual(try a.call("PING"), .simple("PONG"))
        XCTAssertEqual(try b.call("PING"), .simple("PONG"))
        let extra = try s.client()
        XCTAssertEqual(String(decoding: try extra.readUntilClosed(), as: UTF8.self), "-ERR max number of clients reached\r\n")
        a.close()
        XCTAssert(Harness.waitFor(5) { (try? s.client().call("PING")) == .simple("PONG") }, "a freed slot is usable again")
        XCTAssertGreaterThanOrEqual(try s.metric("chainstore_connections_rejected_total"), 1)
    }

    func testClientThatNeverReadsIsCutOff() throws {
        let s = try makeServer("slowreader", extraArgs: ["--durability", "memory", "--max-output-bytes", "1000000"])
        let c = try s.client()
        XCTAssertEqual(try c.call([bytes("SET"), bytes("big"), [UInt8](repeating: 1, count: 100_000)]), .simple("OK"))
        let hog = try s.client(timeoutMs: 2000)
        // 2000 GETs of 100 kB = 200 MB of replies, never read.
        var w = RESPWriter()
        for _ in 0..<2000 { w.command([bytes("GET"), bytes("big")]) }
        try? hog.send(w.bytes)
        XCTAssert(Harness.waitFor(10) { ((try? s.metric("chainstore_client_closes_total{reason=\"output_buffer_limit\"}")) ?? 0) >= 1 },
                  "the server disconnects a client whose replies pile up")
        XCTAssertEqual(try s.client().call("GET", "missing"), .bulk(nil), "other clients are still served")
    }

    /// A slow-loris client (a request started and never finished) is cut off after
    /// --request-timeout-s; with --idle-timeout-s an idle one is too; a busy client is not.
    func testSlowAndIdleClientsAreCutOff() throws {
        let s = try makeServer("timeouts", extraArgs: ["--request-timeout-s", "1", "--idle-timeout-s", "2"])
        let loris = try s.client(timeoutMs: 5000)
        try loris.send(Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc".utf8))  // and nothing more
        let idle = try s.client(timeoutMs: 5000)
        XCTAssertEqual(try idle.call("PING"), .simple("PONG"))
        let busy = try s.client(timeoutMs: 5000)
        let deadline = Date().addingTimeInterval(4)
        while Date() < deadline {
            XCTAssertEqual(try busy.call("PING"), .simple("PONG"), "a client that keeps sending stays")
            usleep(200_000)
        }
        XCTAssertEqual(try s.metric("chainstore_client_closes_total{reason=\"request_timeout\"}"), 1)
        XCTAssertEqual(try s.metric("chainstore_client_closes_total{reason=\"idle_timeout\"}"), 1)
        XCTAssertNil(try? loris.call("PING"), "the slow-loris connection is closed")
        XCTAssertEqual(try s.client().call("GET", "k"), .bulk(nil), "nothing of the partial request was stored")
    }

    func testBadFlagsExitWithMessage() throws {
        let bin = Harness.binary("chainserver")
        let dir = Harness.tempDir("flags")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r1 = try Harness.run(bin, ["--standalone", "--data-dir", dir, "--durability", "sometimes"])
        XCTAssertEqual(r1.code, 64)
        XCTAssert(r1.err.contains("--durability must be fsync or memory"), r1.err)
        let r2 = try Harness.run(bin, ["--standalone", "--data-dir", dir, "--listen", "nonsense"])
        XCTAssertEqual(r2.code, 64)
        XCTAssert(r2.err.contains("invalid address"), r2.err)
        let r3 = try Harness.run(bin, ["--data-dir", dir])
        XCTAssertEqual(r3.code, 64)
        XCTAssert(r3.err.contains("--standalone"), r3.err)
        for (args, message) in [(["--catchup-backlog-mb=-1"], "--catchup-backlog-mb must be between"),
                                (["--http-tls"], "--http-tls needs"),
                                (["--master-tls"], "--master-tls is for cluster nodes")] {
            let r = try Harness.run(bin, ["--standalone", "--data-dir", dir] + args)
            XCTAssertEqual(r.code, 64, "\(args)")
            XCTAssert(r.err.contains(message), "\(args) should say '\(message)': \(r.err)")
        }
        // Advertised addresses (cluster mode) are checked like listen addresses.
        try "0123456789abcdef0123\n".write(toFile: dir + "/secret", atomically: true, encoding: .utf8)
        let cluster = ["--master", "127.0.0.1:1", "--cluster-secret-file", dir + "/secret", "--data-dir", dir, "--peer-listen", "127.0.0.1:0"]
        for (args, message) in [(["--advertise-client", "::1:6380"], "--advertise-client: invalid address"),
                                (["--advertise-peer", "host"], "--advertise-peer: invalid address"),
                                (["--advertise-host", "bad host"], "--advertise-host: invalid host")] {
            let r = try Harness.run(bin, cluster + args)
            XCTAssertEqual(r.code, 64, "\(args)")
            XCTAssert(r.err.contains(message), "\(args) should say '\(message)': \(r.err)")
        }
        // The client tools refuse half a client certificate before contacting anything.
        for tool in ["chainctl", "chainload"] {
            let args = tool == "chainctl" ? ["status", "--tls-cert-file", dir + "/c.pem"] : ["--resp", "127.0.0.1:1", "--tls-cert-file", dir + "/c.pem"]
            let r = try Harness.run(Harness.binary(tool), args)
            XCTAssertNotEqual(r.code, 0, tool)
            XCTAssert(r.err.contains("--tls-cert-file and --tls-key-file go together"), "\(tool): \(r.err)")
        }
        let m = try Harness.run(Harness.binary("chainmaster"), ["--listen", "127.0.0.1:1", "--data-dir", dir + "/m", "--tls-client-auth"])
        XCTAssertEqual(m.code, 64)
        XCTAssert(m.err.contains("the --tls-* flags need --tls-cert-file"), m.err)
    }

    func testUnwritableDataDirExitsCleanly() throws {
        let dir = Harness.tempDir("notadir")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/file"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let r = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", file + "/data", "--listen", "127.0.0.1:\(Harness.freePort())"])
        XCTAssertEqual(r.code, 2)
        XCTAssert(r.err.contains("is not usable"), r.err)
    }

    func testSecondProcessOnSameDataDirIsRefused() throws {
        let s = try makeServer("locked", extraArgs: ["--durability", "memory"])
        let r = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", s.dataDir, "--listen", "127.0.0.1:\(Harness.freePort())"])
        XCTAssertEqual(r.code, 2)
        XCTAssert(r.err.contains("in use by another process"), r.err)
        XCTAssertEqual(try s.client().call("PING"), .simple("PONG"), "the first server is unaffected")
    }

    func testPortInUseExitsWithCode3() throws {
        let s = try makeServer("portbusy", extraArgs: ["--durability", "memory"])
        let dir = Harness.tempDir("portbusy2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--data-dir", dir, "--listen", "127.0.0.1:\(s.port)"])
        XCTAssertEqual(r.code, 3)
        XCTAssert(r.err.contains("listen on 127.0.0.1:\(s.port)"), r.err)
    }
}
