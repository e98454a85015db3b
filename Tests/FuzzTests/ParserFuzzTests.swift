import ChainCore
import ChainWire
import Foundation
import RESP
import XCTest

/// Seeded fuzzing of everything that reads bytes from the network or JSON from a caller: the RESP
/// request and reply parsers, the peer frame decoder, and the master's JSON bodies fed through
/// its state machine. Each input must end in a value, a request for more bytes or a thrown
/// error — never a crash, a hang or memory beyond the limits. A short run is part of the test
/// suite; `CHAINSTORE_FUZZ_ITERATIONS=1000000 swift test --filter FuzzTests` runs a long one
/// (`CHAINSTORE_FUZZ_SEED` repeats a run). Inputs that once broke something are kept below as
/// regression cases.
final class ParserFuzzTests: XCTestCase {
    private func run(_ name: String, corpus: [[UInt8]], _ body: ([UInt8], inout Mutator) throws -> Void) rethrows {
        let seed = Mutator.seed
        print("fuzz \(name): seed \(seed), \(Mutator.iterations) inputs (CHAINSTORE_FUZZ_SEED=\(seed) repeats this run)")
        var m = Mutator(seed: seed)
        for input in corpus { try body(input, &m) }
        for _ in 0..<Mutator.iterations {
            let a = corpus[m.int(corpus.count)], b = corpus[m.int(corpus.count)]
            try body(m.mutate(a, other: b), &m)
        }
    }

    static let commands: [[UInt8]] = [
        RESPWriter.command([Array("SET".utf8), Array("key".utf8), Array("value".utf8)]),
        RESPWriter.command([Array("GET".utf8), Array("key".utf8)]),
        RESPWriter.command([Array("CS.REQ".utf8), Array("12".utf8), Array("34".utf8), Array("MSET".utf8), Array("a".utf8), Array("1".utf8)]),
        Array("PING\r\n".utf8), Array("SET \"a b\" 'c d'\r\n".utf8), Array("*0\r\n*-1\r\n$-1\r\n".utf8),
        Array("*2\r\n$3\r\nGET\r\n$999999999\r\n".utf8),
        Array("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n".utf8),
    ]

    /// Requests: no crash; what is buffered stays within the input plus the parser's limits.
    func testRequestParser() {
        let limits = RESPLimits(maxBulkBytes: 1 << 20, maxArgumentBytes: 4096, maxArrayLength: 1024)
        run("RESP requests", corpus: Self.commands) { input, m in
            var p = RESPCommandParser(limits: limits)
            var fed = 0
            outer: for piece in m.pieces(input) {
                p.append(contentsOf: piece)
                fed += piece.count
                for _ in 0..<10_000 {
                    do {
                        guard let cmd = try p.next() else { break }
                        XCTAssertLessThanOrEqual(cmd.args.count, limits.maxArrayLength)
                        XCTAssert(cmd.args.allSatisfy { $0.count <= limits.maxArgumentBytes })
                    } catch { break outer }
                }
                XCTAssertLessThanOrEqual(p.bufferedBytes, fed)
            }
        }
    }

    static let replies: [[UInt8]] = [
        Array("+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n".utf8),
        Array("%1\r\n+k\r\n~2\r\n#t\r\n,3.5\r\n(12345678901234567890\r\n=9\r\ntxt:hello\r\n_\r\n".utf8),
        Array(">2\r\n+push\r\n!5\r\nerror\r\n*-1\r\n".utf8),
        Array(String(repeating: "*1\r\n", count: 40).utf8) + Array(":1\r\n".utf8),
    ]

    /// Replies (what the smart client and the forwarder read from other nodes): no crash, depth
    /// bounded.
    func testReplyParser() {
        run("RESP replies", corpus: Self.replies) { input, m in
            var p = RESPReplyParser(limits: RESPLimits(maxBulkBytes: 1 << 20, maxArrayLength: 1024, maxDepth: 16))
            outer: for piece in m.pieces(input) {
                p.append(contentsOf: piece)
                for _ in 0..<10_000 {
                    do { guard try p.next() != nil else { break } } catch { break outer }
                }
            }
        }
    }

    static var frames: [[UInt8]] {
        let update = Update(seq: 7, mutations: [.put(key: Array("k".utf8), value: Array("v".utf8)), .delete(key: Array("d".utf8))],
                            tag: RequestTag(client: 1, request: 2), reply: Array("+OK\r\n".utf8))
        let all: [PeerFrame] = [
            .hello(node: "n1", nonce: Array(repeating: 1, count: 32)),
            .challenge(node: "n2", nonce: Array(repeating: 2, count: 32), proof: Array(repeating: 3, count: 32)),
            .auth(proof: Array(repeating: 4, count: 32)),
            .updates(epoch: 3, chain: 1, [update, update]),
            .ack(epoch: 3, chain: 1, seq: 9), .error("bye"), .syncRequest(epoch: 3, chain: 2, transfer: 5, have: LogPosition(seq: 4, epoch: 1)),
            .syncSuffix(epoch: 3, chain: 2, transfer: 5, after: 4, updates: [update], last: true),
            .syncChunk(epoch: 3, chain: 2, transfer: 5, snapshot: LogPosition(seq: 10, epoch: 3), entries: [(Array("a".utf8), Array("b".utf8))], last: true),
            .barrier(epoch: 3, chain: 1, seq: 4),
        ]
        return all.map { f in
            var w = ByteWriter()
            f.encode(into: &w)
            return w.bytes
        }
    }

    /// Peer frames: valid ones round-trip; broken ones end in an error, never a crash.
    func testPeerFrameDecoder() throws {
        for bytes in Self.frames {
            var d = PeerFrameDecoder()
            d.append(contentsOf: bytes)
            let f = try XCTUnwrap(try d.next())
            var w = ByteWriter()
            f.encode(into: &w)
            XCTAssertEqual(w.bytes, bytes, "\(f) round-trips")
        }
        run("peer frames", corpus: Self.frames) { input, m in
            var d = PeerFrameDecoder(maxFrameBytes: 1 << 20)
            outer: for piece in m.pieces(input) {
                d.append(contentsOf: piece)
                for _ in 0..<1000 {
                    do { guard try d.next() != nil else { break } } catch { break outer }
                }
            }
        }
    }

    static var bodies: [[UInt8]] {
        let n = NodeInfo(id: "n1", client: "127.0.0.1:1", peer: "127.0.0.1:2", http: "127.0.0.1:3")
        let c = Configuration(epoch: 5, replication: 2, nodes: [n, NodeInfo(id: "n2", client: "127.0.0.1:4", peer: "127.0.0.1:5", http: "127.0.0.1:6")],
                              chains: [ChainConfig(id: 0, members: ["n1", "n2"]), ChainConfig(id: 1, members: ["n2", "n1"], joining: "n1", frozen: 4)])
        let e = JSONEncoder()
        return [
            Array(try! e.encode(MasterAPI.Registration(n, lastConfig: c))),
            Array(try! e.encode(MasterAPI.Registration(n, lastConfig: nil))),
            Array(try! e.encode(MasterAPI.Heartbeat(id: "n1", epoch: 5, chains: [MasterAPI.ChainProgress(id: 0, role: "tail", applied: 3, committed: 3, linked: true,
                                                                                                   synced: false, transferred_bytes: 100)], store_bytes: 10))),
        ]
    }

    /// The master's JSON input: whatever decodes is fed to the master's state machine (register,
    /// recover from a node's table, converge, plan) — a hostile registration must be refused,
    /// never crash the master or leave it with a table it cannot use.
    func testMasterJSONThroughTheStateMachine() {
        run("master JSON", corpus: Self.bodies) { input, _ in
            let d = JSONDecoder()
            if let r = try? d.decode(MasterAPI.Registration.self, from: Data(input)) {
                var fresh = MasterState(replication: 2, chains: nil, initialNodes: 2)
                _ = try? fresh.register(r.node)
                if let last = r.last_config {
                    var recovering = MasterState(replication: 2, chains: nil, initialNodes: 2)
                    if case .recovered = recovering.recover(r.node, lastConfig: last, need: 1), let c = recovering.config {
                        XCTAssertNil(c.problem, "adopted a bad table")
                        let alive = Set(c.nodes.map(\.id))
                        _ = recovering.converge(alive: alive, maxJoinsPerNode: 2) { _ in true }
                        _ = recovering.plan(alive: alive, maxJoinsPerNode: 2)
                        _ = recovering.spliceOut([c.nodes.first?.id ?? "x"])
                    }
                }
            }
            if let hb = try? d.decode(MasterAPI.Heartbeat.self, from: Data(input)) {
                var s = MasterState(replication: 1, chains: 2, initialNodes: 1)
                _ = try? s.register(NodeInfo(id: "n1", client: "a", peer: "b", http: "c"))
                _ = s.heardFrom(hb.id)
            }
        }
    }

    /// Inputs that once broke something.
    func testRegressions() {
        // An adopted table whose epoch was near the top of the range overflowed when the
        // recovering master added its epoch gap.
        var s = MasterState(replication: 1, chains: nil, initialNodes: 1)
        let n = NodeInfo(id: "n1", client: "a", peer: "b", http: "c")
        let huge = Configuration(epoch: .max - 1, replication: 1, nodes: [n], chains: [ChainConfig(id: 0, members: ["n1"])])
        guard case .refused = s.recover(n, lastConfig: huge, need: 1) else { return XCTFail("a table with an epoch that cannot grow was adopted") }
        let unknownMember = Configuration(epoch: 3, replication: 1, nodes: [n], chains: [ChainConfig(id: 0, members: ["ghost"])])
        guard case .refused = s.recover(n, lastConfig: unknownMember, need: 1) else { return XCTFail("a table naming unknown nodes was adopted") }
        let misnumbered = Configuration(epoch: 3, replication: 1, nodes: [n], chains: [ChainConfig(id: 7, members: ["n1"])])
        guard case .refused = s.recover(n, lastConfig: misnumbered, need: 1) else { return XCTFail("a misnumbered table was adopted") }
        // Found by the fuzzer: a registering node with an invalid id got into the adopted table.
        let good = Configuration(epoch: 3, replication: 1, nodes: [n], chains: [ChainConfig(id: 0, members: ["n1"])])
        let badID = NodeInfo(id: "}n1", client: "a", peer: "b", http: "c")
        guard case .refused = s.recover(badID, lastConfig: good, need: 1) else { return XCTFail("a node with an invalid id was admitted") }
        guard case .recovered = s.recover(n, lastConfig: good, need: 1) else { return XCTFail("a valid table was refused") }
        XCTAssertNil(s.config?.problem)
    }
}
