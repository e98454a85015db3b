import Foundation
import XCTest
import ChainClient
import RESP

/// DUMP and RESTORE with Redis's payloads, on a standalone node and through a cluster's chains.
final class DumpRestoreTests: ClusterTestCase {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func hex(_ s: String) -> [UInt8] {
        stride(from: 0, to: s.count, by: 2).map { i in
            UInt8(s[s.index(s.startIndex, offsetBy: i)..<s.index(s.startIndex, offsetBy: i + 2)], radix: 16)!
        }
    }

    /// Runs the same checks through `call` (one node, or the smart client).
    private func exercise(_ call: ([[UInt8]]) throws -> RESPValue) throws {
        func ok(_ args: [[UInt8]], _ file: StaticString = #filePath, _ line: UInt = #line) throws {
            XCTAssertEqual(try call(args), .simple("OK"), "\(args.map { String(decoding: $0.prefix(20), as: UTF8.self) })", file: file, line: line)
        }
        func error(_ args: [[UInt8]], _ says: String, _ file: StaticString = #filePath, _ line: UInt = #line) throws {
            guard case let .error(e) = try call(args) else { return XCTFail("\(args.prefix(2)) was accepted", file: file, line: line) }
            XCTAssert(e.contains(says), e, file: file, line: line)
        }
        XCTAssertEqual(try call([b("DUMP"), b("nope")]), .bulk(nil))
        try ok([b("SET"), b("s"), [0, 1, 2, 255, 10]])
        guard case let .bulk(payload?) = try call([b("DUMP"), b("s")]) else { return XCTFail("DUMP of a string") }
        try error([b("RESTORE"), b("s"), b("0"), payload], "BUSYKEY")
        try ok([b("RESTORE"), b("s2"), b("0"), payload])
        XCTAssertEqual(try call([b("GET"), b("s2")]), .bulk([0, 1, 2, 255, 10]))
        XCTAssertEqual(try call([b("PTTL"), b("s2")]), .integer(-1))
        try ok([b("SET"), b("s"), b("other")])
        try ok([b("RESTORE"), b("s"), b("60000"), payload, b("REPLACE"), b("IDLETIME"), b("5")])
        XCTAssertEqual(try call([b("GET"), b("s")]), .bulk([0, 1, 2, 255, 10]))
        guard case let .integer(pttl) = try call([b("PTTL"), b("s")]) else { return XCTFail("PTTL") }
        XCTAssert(pttl > 50_000 && pttl <= 60_000, "\(pttl)")
        // An absolute expiry already past: the key is replaced by nothing.
        try ok([b("RESTORE"), b("s"), b("1000"), payload, b("REPLACE"), b("ABSTTL")])
        XCTAssertEqual(try call([b("EXISTS"), b("s")]), .integer(0))

        // A hash, and a payload Redis 7.0.15 wrote for a listpack hash {f1: v1, f2: 22, f3: -300}.
        XCTAssertEqual(try call([b("HSET"), b("h{1}"), b("a"), b("1"), b("b"), b("two")]), .integer(2))
        guard case let .bulk(hp?) = try call([b("DUMP"), b("h{1}")]) else { return XCTFail("DUMP of a hash") }
        try ok([b("RESTORE"), b("h{1}copy"), b("0"), hp])
        XCTAssertEqual(try call([b("HGET"), b("h{1}copy"), b("b")]), .bulk(b("two")))
        XCTAssertEqual(try call([b("HLEN"), b("h{1}copy")]), .integer(2))
        try ok([b("RESTORE"), b("fromredis"), b("0"), hex("101c1c0000000600826631038276310382663203160182663303ded402ff0a000cbf79b4e79e94d5")])
        XCTAssertEqual(try call([b("HGET"), b("fromredis"), b("f3")]), .bulk(b("-300")))
        XCTAssertEqual(try call([b("TYPE"), b("fromredis")]), .simple("hash"))

        // Bad input.
        var damaged = payload
        damaged[1] ^= 0x20
        try error([b("RESTORE"), b("x"), b("0"), damaged], "DUMP payload version or checksum are wrong")
        try error([b("RESTORE"), b("x"), b("0"), b("garbage")], "DUMP payload version or checksum are wrong")
        try error([b("RESTORE"), b("x"), b("-1"), payload], "Invalid TTL value")
        try error([b("RESTORE"), b("x"), b("ten"), payload], "not an integer")
        try error([b("RESTORE"), b("x"), b("0"), payload, b("IDLETIME"), b("-1")], "Invalid IDLETIME")
        try error([b("RESTORE"), b("x"), b("0"), payload, b("FREQ"), b("300")], "Invalid FREQ")
        try error([b("RESTORE"), b("x"), b("0"), payload, b("IDLETIME"), b("1"), b("FREQ"), b("1")], "syntax error")
        try error([b("RESTORE"), b("x"), b("0"), payload, b("SOON")], "syntax error")
        try error([b("RESTORE"), b("x"), b("0")], "wrong number of arguments")
        // A Redis list's payload: the family is named.
        try error([b("RESTORE"), b("x"), b("0"), hex("0100") + [0x09, 0x00] + crc([0x01, 0x00, 0x09, 0x00])], "does not support lists")
        XCTAssertEqual(try call([b("EXISTS"), b("x")]), .integer(0))
    }

    private func crc(_ bytes: [UInt8]) -> [UInt8] {
        // Redis's CRC-64 (Jones, reflected), computed bit by bit here to check the server's table.
        var c: UInt64 = 0
        for byte in bytes {
            c ^= UInt64(byte)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x95ac_9329_ac4b_c9b5 : c >> 1 }
        }
        return (0..<8).map { UInt8((c >> (8 * UInt64($0))) & 0xff) }
    }

    func testStandalone() throws {
        let s = try makeServer("dump")
        let c = try s.client()
        try exercise { try c.call($0) }
    }

    func testThroughTheChainsEveryReplicaTheSame() throws {
        let cluster = try LocalCluster.start(label: "dump")
        self.cluster = cluster
        let smart = try cluster.smartClient()
        try exercise { try smart.execute($0) }
        // The restored keys were replicated like any write: every member of each chain holds the same.
        XCTAssert(Harness.waitFor(10) {
            let all = ["n1", "n2", "n3"].compactMap { try? cluster.digests($0) }
            return all.count == 3 && Set(all.map { $0.mapValues(\.digest) }).count == 1
        }, "replicas differ after RESTORE")
    }
}
