import Foundation
import XCTest
import ChainClient
import RESP

/// OBJECT and SORT on a standalone node and through a cluster's chains.
final class ObjectSortTests: ClusterTestCase {
    private func exercise(_ call: ([String]) throws -> RESPValue) throws {
        func expect(_ args: [String], _ want: RESPValue, _ line: UInt = #line) throws {
            XCTAssertEqual(try call(args), want, "\(args)", line: line)
        }
        func error(_ args: [String], _ says: String, _ line: UInt = #line) throws {
            guard case let .error(e) = try call(args) else { return XCTFail("\(args) was accepted", line: line) }
            XCTAssert(e.contains(says), "\(args): \(e)", line: line)
        }
        try expect(["SET", "n", "12345"], .simple("OK"))
        try expect(["SET", "short", "hello"], .simple("OK"))
        try expect(["SET", "long", String(repeating: "x", count: 45)], .simple("OK"))
        try expect(["HSET", "small", "f", "v"], .integer(1))
        try expect(["HSET", "wide", "f", String(repeating: "v", count: 65)], .integer(1))
        try expect(["OBJECT", "ENCODING", "n"], .bulk(Array("int".utf8)))
        try expect(["OBJECT", "ENCODING", "short"], .bulk(Array("embstr".utf8)))
        try expect(["OBJECT", "ENCODING", "long"], .bulk(Array("raw".utf8)))
        try expect(["OBJECT", "ENCODING", "small"], .bulk(Array("listpack".utf8)))
        try expect(["OBJECT", "ENCODING", "wide"], .bulk(Array("hashtable".utf8)))
        try expect(["OBJECT", "ENCODING", "missing"], .bulk(nil))
        try expect(["OBJECT", "REFCOUNT", "short"], .integer(1))
        try expect(["OBJECT", "IDLETIME", "short"], .integer(0))
        try error(["OBJECT", "FREQ", "short"], "LFU maxmemory policy is not selected")
        try error(["OBJECT", "NOPE", "short"], "unknown subcommand")
        try error(["OBJECT", "ENCODING"], "wrong number of arguments")
        guard case let .array(help?) = try call(["OBJECT", "HELP"]) else { return XCTFail("OBJECT HELP") }
        XCTAssertGreaterThan(help.count, 5)

        try expect(["SORT", "missing"], .array([]))
        try expect(["SORT_RO", "missing", "DESC", "ALPHA", "LIMIT", "0", "10"], .array([]))
        try error(["SORT", "short"], "WRONGTYPE")
        try error(["SORT_RO", "small"], "WRONGTYPE")
        try error(["SORT", "missing", "LIMIT", "a", "1"], "not an integer")
        try error(["SORT", "missing", "SIDEWAYS"], "syntax error")
        try error(["SORT_RO", "missing", "STORE", "{missing}d"], "syntax error")
        // STORE of nothing deletes the destination.
        try expect(["SET", "{missing}dest", "x"], .simple("OK"))
        try expect(["SORT", "missing", "STORE", "{missing}dest"], .integer(0))
        try expect(["EXISTS", "{missing}dest"], .integer(0))
    }

    func testStandalone() throws {
        let c = try makeServer("object").client()
        try exercise { try c.call($0.map { Array($0.utf8) }) }
    }

    func testInACluster() throws {
        let cluster = try LocalCluster.start(label: "object")
        self.cluster = cluster
        let smart = try cluster.smartClient()
        try exercise { try smart.execute($0.map { Array($0.utf8) }) }
        // The destination of STORE must share the key's chain.
        guard case let .error(e) = try cluster.client("n1").call("SORT", "missing", "STORE", "elsewhere-7") else {
            return XCTFail("a STORE into another chain was accepted")
        }
        XCTAssert(e.hasPrefix("CROSSSLOT") || e.hasPrefix("MOVED") || e.hasPrefix("TRYAGAIN"), e)
    }
}
