import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP

/// One connection's commands take effect in the order sent, through any node: a pipelined read
/// sees the writes before it although the write goes to the chain's head and the read to its
/// tail (regression: the read overtook the write 200 times out of 200).
final class SessionOrderTests: ClusterTestCase {
    private func start(_ label: String) throws -> LocalCluster {
        let c = try LocalCluster.start(label: label)
        cluster = c
        return c
    }

    /// `SET k vN` and `GET k` in one write to the socket, 200 times on every node; and
    /// `INCR c` + `GET c`.
    func testPipelinedWriteThenReadOnEveryNode() throws {
        let c = try start("order-basic")
        for n in ["n1", "n2", "n3"] {
            let cl = try c.client(n)
            for i in 0..<200 {
                let key = "k:\(n):\(i % 7)"
                let r = try cl.pipeline([[bytes("SET"), bytes(key), bytes("v\(i)")], [bytes("GET"), bytes(key)]])
                XCTAssertEqual(r, [.simple("OK"), .bulk(bytes("v\(i)"))], "via \(n), round \(i)")
            }
            for i in 1...100 {
                let r = try cl.pipeline([[bytes("INCR"), bytes("c:\(n)")], [bytes("GET"), bytes("c:\(n)")]])
                XCTAssertEqual(r, [.integer(Int64(i)), .bulk(bytes("\(i)"))], "via \(n)")
            }
            // A read before a write must not see it: GET, SET, GET on one key.
            for i in 0..<50 {
                let key = "rw:\(n)"
                let r = try cl.pipeline([[bytes("GET"), bytes(key)], [bytes("SET"), bytes(key), bytes("x\(i)")], [bytes("GET"), bytes(key)]])
                XCTAssertEqual(r[0], i == 0 ? .bulk(nil) : .bulk(bytes("x\(i - 1)")), "via \(n)")
                XCTAssertEqual(r[2], .bulk(bytes("x\(i)")), "via \(n)")
            }
        }
    }

    /// A tagged write (`CS.REQ`) that waits behind the connection's earlier read keeps its tag
    /// when it runs: a retry with that tag gets the recorded result and applies nothing.
    func testATaggedWriteThatWaitedKeepsItsTag() throws {
        let c = try start("order-tagged")
        let config = try JSONDecoder().decode(Configuration.self, from: Data(try c.ctl(["config", "--json"]).out.utf8))
        for (i, n) in ["n1", "n2", "n3"].enumerated() {
            // A key this node heads: its read goes on to the tail, and the write behind it waits.
            guard let key = (0..<10_000).lazy.map({ "tagged:\($0)" }).first(where: { config.chains[config.chain(forKey: bytes($0))].head == n }) else {
                return XCTFail("no key headed by \(n)")
            }
            let cl = try c.client(n)
            let r = try cl.pipeline([[bytes("GET"), bytes(key)], [bytes("CS.REQ"), bytes("91"), bytes("\(i)"), bytes("SET"), bytes(key), bytes("first")]])
            XCTAssertEqual(r, [.bulk(nil), .simple("OK")], "via \(n)")
            XCTAssertEqual(try cl.call("CS.RETRY", "91", "\(i)", "SET", key, "second"), .simple("OK"))
            XCTAssertEqual(try cl.call("GET", key), .bulk(bytes("first")), "the retry found the first try's record (via \(n))")
        }
    }

    /// Random pipelines of reads and writes over a few keys (several chains), through random
    /// nodes, checked reply by reply against a sequential model of this connection alone.
    func testRandomPipelinesMatchASequentialModel() throws {
        let c = try start("order-random")
        var rng = SeededRandom(seed: 20261204)
        let nodes = ["n1", "n2", "n3"]
        let clients = try nodes.map { try c.client($0) }
        var model: [String: String] = [:]
        let keys = (0..<6).map { "m:\($0)" } + ["{t}a", "{t}b"]
        for round in 0..<150 {
            let cl = clients[Int(rng.next() % 3)]
            var commands: [[[UInt8]]] = []
            var expected: [RESPValue] = []
            for _ in 0..<(1 + Int(rng.next() % 40)) {
                let key = keys[Int(rng.next() % UInt64(keys.count))]
                switch rng.next() % 7 {
                case 0, 1:
                    let v = "r\(round)-\(rng.next() % 1000)"
                    commands.append([bytes("SET"), bytes(key), bytes(v)])
                    expected.append(.simple("OK"))
                    model[key] = v
                case 2:
                    commands.append([bytes("GET"), bytes(key)])
                    expected.append(model[key].map { .bulk(bytes($0)) } ?? .bulk(nil))
                case 3:
                    commands.append([bytes("DEL"), bytes(key)])
                    expected.append(.integer(model.removeValue(forKey: key) == nil ? 0 : 1))
                case 4:
                    commands.append([bytes("APPEND"), bytes(key), bytes("+")])
                    model[key, default: ""] += "+"
                    expected.append(.integer(Int64(model[key]!.utf8.count)))
                case 5:
                    commands.append([bytes("EXISTS"), bytes(key)])
                    expected.append(.integer(model[key] == nil ? 0 : 1))
                default:
                    commands.append([bytes("MGET"), bytes("{t}a"), bytes("{t}b")])
                    expected.append(.array(["{t}a", "{t}b"].map { k in model[k].map { .bulk(bytes($0)) } ?? .bulk(nil) }))
                }
            }
            let replies = try cl.pipeline(commands)
            for (i, (got, want)) in zip(replies, expected).enumerated() where got != want {
                XCTFail("round \(round), command \(i) \(commands[i].map { String(decoding: $0, as: UTF8.self) }): got \(got), expected \(want)")
                return
            }
        }
    }

    /// redis-py's `pipeline(transaction=False)` (what the issue was found with), on every node.
    func testRedisPyPipeline() throws {
        let c = try start("order-redispy")
        guard FileManager.default.isExecutableFile(atPath: Harness.systemPython),
              try Harness.run(Harness.systemPython, ["-c", "import redis"]).code == 0 else {
            throw XCTSkip("redis-py (python3-redis) is not installed")
        }
        let script = """
        import sys, redis
        bad = 0
        for port in sys.argv[1:]:
            r = redis.Redis(port=int(port))
            for i in range(200):
                p = r.pipeline(transaction=False)
                p.set('py:k', 'v%d' % i)
                p.get('py:k')
                p.incr('py:c')
                p.get('py:c')
                ok, v, n, g = p.execute()
                if v != b'v%d' % i or g != str(n).encode():
                    bad += 1
        print('bad', bad)
        """
        let ports = ["n1", "n2", "n3"].map { "\(c.ports[$0]!.client)" }
        let r = try Harness.run(Harness.systemPython, ["-c", script] + ports, timeout: 60)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "bad 0")
    }

    /// A deep pipeline of writes followed by reads of the same keys through a node that is
    /// neither head nor tail of most of them: every read sees its write, and the writes keep
    /// flowing as a pipeline (they are not serialized one commit at a time).
    func testDeepPipelineThroughForwarding() throws {
        let c = try start("order-deep")
        let cl = try c.client("n2")
        var commands: [[[UInt8]]] = []
        for i in 0..<2000 { commands.append([bytes("SET"), bytes("deep:\(i % 300)"), bytes("v\(i)")]) }
        for i in 1700..<2000 { commands.append([bytes("GET"), bytes("deep:\(i % 300)")]) }
        let replies = try cl.pipeline(commands)
        XCTAssertEqual(replies.prefix(2000).filter { $0 != .simple("OK") }.count, 0)
        for (j, i) in (1700..<2000).enumerated() { XCTAssertEqual(replies[2000 + j], .bulk(bytes("v\(i)")), "deep:\(i % 300)") }
    }

    /// More than 1 MiB of requests behind a command that waits: the node stops reading the socket
    /// (TCP pushes back) and takes the rest once the write committed; every reply is right, in
    /// order, and nothing is taken for an oversized request.
    func testLargeBacklogBehindAWaitingCommand() throws {
        let c = try start("order-backlog")
        let cl = try c.client("n1", timeoutMs: 20_000)
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 512 << 10)
        var commands: [[[UInt8]]] = [[bytes("SET"), bytes("bl:k"), bytes("first")], [bytes("GET"), bytes("bl:k")]]
        for i in 0..<4 { commands.append([bytes("SET"), bytes("bl:big\(i)"), big]) }
        commands.append([bytes("GET"), bytes("bl:k")])
        commands.append([bytes("STRLEN"), bytes("bl:big3")])
        for round in 0..<5 {
            let replies = try cl.pipeline(commands)
            XCTAssertEqual(replies[0], .simple("OK"), "round \(round)")
            XCTAssertEqual(replies[1], .bulk(bytes("first")), "round \(round)")
            XCTAssertEqual(Array(replies[2..<6]), Array(repeating: .simple("OK"), count: 4), "round \(round)")
            XCTAssertEqual(replies[6], .bulk(bytes("first")), "round \(round)")
            XCTAssertEqual(replies[7], .integer(Int64(big.count)), "round \(round)")
        }
    }

    /// The smart client's pipelines (chainload's cluster driver, `--pipeline`) and a plain
    /// pipelining client through one node (its forwarding), each under `--check`, whose
    /// history carries every client's program order: a read that overtook the same client's
    /// write would be a violation.
    func testCheckedPipelinesKeepSessionOrder() throws {
        let c = try start("order-chainload")
        func run(_ target: [String], _ workload: String) throws -> String {
            let r = try Harness.run(Harness.binary("chainload"), target + ["--workload", workload, "--duration", "2", "--warmup", "0",
                                                                          "--clients", "3", "--pipeline", "4", "--keys", "6", "--check"], timeout: 120)
            XCTAssertEqual(r.code, 0, r.out + r.err)
            return r.out
        }
        for w in ["a", "f"] {
            let out = try run(["--master", c.masterAddress], w)
            XCTAssert(out.contains("check: linearizable"), "smart client, workload \(w): \(out)")
        }
        let out = try run(["--resp", "127.0.0.1:\(c.ports["n2"]!.client)"], "a")
        XCTAssert(out.contains("check: linearizable"), "through n2: \(out)")
    }
}
