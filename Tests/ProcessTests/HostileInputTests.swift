import Foundation
import XCTest
import ChainClient
import ChainCore
import ChainSecurity
import ChainWire
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Hostile input against a real cluster node, as a table: every case gets its documented answer,
/// the node stays up, its memory stays bounded, and a well-behaved client is served all along.
final class HostileInputTests: ClusterTestCase {
    private func rssMB(_ pid: Int32) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    private func raw(_ port: UInt16) throws -> RESPClient { try RESPClient(port: port, timeoutMs: 3000) }

    func testHostileClientInputTable() throws {
        let c = LocalCluster(label: "hostile")
        cluster = c
        let pass = c.dir + "-pass"
        try? "hostile-test-password\n".write(toFile: pass, atomically: true, encoding: .utf8)
        try c.startMaster(replication: 1, initialNodes: 1)
        let node = try c.startNode("n1", extra: ["--requirepass-file", pass, "--max-clients", "300", "--cache-bytes", "16777216",
                                                "--max-request-bytes", "8388608", "--max-output-bytes", "4194304",
                                                "--request-timeout-s", "2"])
        try c.waitHealthy()
        let port = c.ports["n1"]!.client
        let good = try RESPClient(port: port, credentials: Credentials(password: "hostile-test-password"))
        XCTAssertEqual(try good.call("SET", "canary", "alive"), .simple("OK"))
        let startRSS = rssMB(node.pid)

        // What is sent, whether to authenticate first, what the node answers and whether it then
        // closes the connection (protocol errors do; command errors do not).
        let nested = String(repeating: "*1\r\n", count: 10_000) + "$4\r\nPING\r\n"
        let table: [(name: String, input: [UInt8], auth: Bool, reply: String, closes: Bool)] = [
            ("negative bulk length", bytes("*2\r\n$3\r\nGET\r\n$-5\r\n"), true, "-ERR Protocol error: invalid bulk length\r\n", true),
            ("huge array length", bytes("*99999999999\r\n"), true, "-ERR Protocol error: invalid multibulk length\r\n", true),
            ("huge bulk length", bytes("*1\r\n$99999999999999\r\n"), true, "-ERR Protocol error: invalid bulk length\r\n", true),
            ("deep nesting", bytes(nested), true, "-ERR Protocol error: expected '$', got '*'\r\n", true),
            ("missing CRLF", bytes("*1\r\n$4\r\nPINGxx"), true, "-ERR Protocol error: expected CRLF after bulk data\r\n", true),
            ("binary junk", [0x00, 0xff, 0xfe, 0x0d, 0x0a], true, "-ERR unknown command", false),
            ("bad wrapper", bytes("*4\r\n$6\r\nCS.REQ\r\n$1\r\nx\r\n$1\r\ny\r\n$4\r\nPING\r\n"), true,
             "-ERR CS.REQ and CS.RETRY need a numeric client id, a numeric request id and a command\r\n", false),
            ("no AUTH", bytes("*2\r\n$3\r\nGET\r\n$6\r\ncanary\r\n"), false, "-NOAUTH Authentication required.\r\n", false),
            ("wrong AUTH", bytes("*2\r\n$4\r\nAUTH\r\n$5\r\nguess\r\n"), false, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", false),
            ("AUTH flood", Array(repeating: bytes("*2\r\n$4\r\nAUTH\r\n$5\r\nguess\r\n"), count: 200).flatMap { $0 }, false, "-WRONGPASS", false),
        ]
        for t in table {
            let conn = try raw(port)
            if t.auth { XCTAssertEqual(try conn.call("AUTH", "hostile-test-password"), .simple("OK"), t.name) }
            try conn.send(t.input)
            let got = String(decoding: t.closes ? try conn.readUntilClosed() : try conn.readAvailable(), as: UTF8.self)
            XCTAssert(got.hasPrefix(t.reply), "\(t.name): \(got.prefix(200).debugDescription)")
            if !t.closes && t.name != "AUTH flood" { XCTAssertEqual(try conn.call("PING"), .simple("PONG"), "\(t.name): the connection stays usable") }
            conn.close()
            XCTAssertEqual(try good.call("GET", "canary"), .bulk(bytes("alive")), "served after \(t.name)")
        }

        // Half-open connections: 100 requests started and never finished are cut off by the
        // request timeout; meanwhile the node serves.
        var halfOpen: [RESPClient] = []
        for _ in 0..<100 {
            let h = try raw(port)
            try h.send(bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly-part"))
            halfOpen.append(h)
        }
        XCTAssertEqual(try good.call("GET", "canary"), .bulk(bytes("alive")))
        XCTAssert(Harness.waitFor(10) { (try? c.metric("n1", "chainstore_client_closes_total{reason=\"request_timeout\"}")) ?? 0 >= 100 })
        halfOpen.forEach { $0.close() }

        // A flood of connections past --max-clients: the extra ones are told and closed; the
        // node keeps serving its clients.
        var flood: [RESPClient] = []
        for _ in 0..<400 { if let f = try? raw(port) { flood.append(f) } }
        XCTAssertGreaterThan(try c.metric("n1", "chainstore_connections_rejected_total"), 50)
        XCTAssertEqual(try good.call("GET", "canary"), .bulk(bytes("alive")))
        flood.forEach { $0.close() }

        // A client that pipelines big replies and never reads them is cut off at
        // --max-output-bytes (4 MiB) instead of growing the node's memory.
        let value = String(repeating: "v", count: 1 << 20)
        XCTAssertEqual(try good.call("SET", "big", value), .simple("OK"))
        let hog = try raw(port)
        XCTAssertEqual(try hog.call("AUTH", "hostile-test-password"), .simple("OK"))
        let gets = Array(repeating: RESPWriter.command([bytes("GET"), bytes("big")]), count: 64).flatMap { $0 }
        for _ in 0..<4 { try? hog.send(gets) }
        XCTAssert(Harness.waitFor(10) { (try? c.metric("n1", "chainstore_client_closes_total{reason=\"output_buffer_limit\"}")) ?? 0 >= 1 })
        hog.close()

        XCTAssert(node.isRunning, "the node survived every case")
        XCTAssertEqual(try good.call("GET", "canary"), .bulk(bytes("alive")))
        let endRSS = rssMB(node.pid)
        XCTAssertLessThan(endRSS, startRSS + 200, "memory stayed bounded: \(startRSS) MB at the start, \(endRSS) MB at the end")
    }

    /// The peer port: a wrong secret, a replayed handshake, truncated and corrupted frames are all
    /// refused and counted; the chain keeps replicating.
    func testHostilePeerInput() throws {
        let c = try LocalCluster.start(label: "hostile-peer", nodes: 3)
        cluster = c
        let peerPort = c.ports["n1"]!.peer
        let secret = Array("test-cluster-secret-0123456789".utf8)
        func frame(_ f: PeerFrame) -> [UInt8] {
            var w = ByteWriter()
            f.encode(into: &w)
            return w.bytes
        }
        func readFrames(_ conn: RESPClient) -> [PeerFrame] {
            var d = PeerFrameDecoder()
            d.append(contentsOf: (try? conn.readUntilClosed()) ?? [])
            var out: [PeerFrame] = []
            while let f = try? d.next() { out.append(f) }
            return out
        }
        let before = try c.metric("n1", "chainstore_peer_auth_failures_total")

        // 1. Wrong secret: the node's challenge arrives, our proof is refused.
        let nonce = Secrets.randomBytes(32)
        let wrong = try raw(peerPort)
        try wrong.send(frame(.hello(node: "intruder", nonce: nonce)))
        var d = PeerFrameDecoder()
        var challenge: PeerFrame?
        XCTAssert(Harness.waitFor(5) {
            d.append(contentsOf: (try? wrong.readAvailable()) ?? [])
            challenge = try? d.next()
            return challenge != nil
        })
        guard case let .challenge(server, serverNonce, _) = challenge else { return XCTFail("no challenge: \(String(describing: challenge))") }
        try wrong.send(frame(.auth(proof: PeerHandshake.clientProof(secret: Array("not-the-secret-at-all".utf8), clientNonce: nonce,
                                                                     serverNonce: serverNonce, client: "intruder"))))
        _ = readFrames(wrong)

        // 2. Replay: a proof that was right for one connection is worthless on the next (the
        // node's nonce is fresh every time).
        let recorded = PeerHandshake.clientProof(secret: secret, clientNonce: nonce, serverNonce: serverNonce, client: "intruder")
        let replay = try raw(peerPort)
        try replay.send(frame(.hello(node: "intruder", nonce: nonce)) + frame(.auth(proof: recorded)))
        XCTAssert(readFrames(replay).contains { if case .error = $0 { return true }; return false }, "the replayed proof is refused")
        _ = server

        // 3. Updates before any handshake, 4. a truncated frame then EOF, 5. a corrupted frame
        // (unknown type), 6. an absurd length.
        let early = try raw(peerPort)
        try early.send(frame(.updates(epoch: 1, chain: 0, [Update(seq: 1, mutations: [.put(key: bytes("x"), value: bytes("y"))])])))
        _ = readFrames(early)
        let truncated = try raw(peerPort)
        try truncated.send(Array(frame(.hello(node: "n9", nonce: nonce)).prefix(10)))
        truncated.close()
        let corrupt = try raw(peerPort)
        try corrupt.send([0, 0, 0, 3, PeerFrame.version, 0xee, 0x01])
        _ = readFrames(corrupt)
        let absurd = try raw(peerPort)
        try absurd.send([0x7f, 0xff, 0xff, 0xff, 1, 1])
        _ = readFrames(absurd)

        XCTAssert(Harness.waitFor(10) { ((try? c.metric("n1", "chainstore_peer_auth_failures_total")) ?? 0) >= before + 4 },
                  "refusals counted")
        // The chain still replicates: a write through the smart client commits on every member.
        let client = try ClusterClient(master: HostPort(c.masterAddress)!)
        XCTAssertEqual(try client.execute("SET", "after-the-attack", "ok"), .simple("OK"))
        XCTAssertEqual(try client.execute("GET", "after-the-attack"), .bulk(bytes("ok")))
        for n in ["n1", "n2", "n3"] { XCTAssert(c.nodes[n]!.isRunning, "\(n) survived") }
    }

    /// A client pipelining requests that a node must forward cannot make it hold more than
    /// --max-forwarded of them: the rest get TRYAGAIN at once, and are counted.
    func testForwardedRequestsAreBounded() throws {
        let c = LocalCluster(label: "forward-limit")
        cluster = c
        try c.startMaster(replication: 3, initialNodes: 3)
        for i in 1...3 { try c.startNode("n\(i)", extra: ["--max-forwarded", "2"]) }
        try c.waitHealthy()
        let config = try XCTUnwrap(try ClusterClient(master: HostPort(c.masterAddress)!).config)
        // A key whose chain's tail is not n1: n1 forwards every GET of it.
        let key = try XCTUnwrap((0..<1000).map { "k\($0)" }.first { config.chains[config.chain(forKey: Array($0.utf8))].tail != "n1" })
        let client = try c.client("n1")
        let replies = try client.pipeline(Array(repeating: [bytes("GET"), bytes(key)], count: 50))
        let refused = replies.filter { if case let .error(e) = $0 { return e.contains("--max-forwarded") }; return false }.count
        XCTAssertGreaterThan(refused, 0, "\(replies.prefix(5))")
        XCTAssertLessThan(refused, 50, "some were forwarded")
        XCTAssertEqual(replies.count, 50)
        XCTAssertGreaterThanOrEqual(try c.metric("n1", "chainstore_errors_total{kind=\"forward_limit\"}"), Double(refused))
        XCTAssertEqual(try client.call("PING"), .simple("PONG"))
    }
}
