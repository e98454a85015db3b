import Foundation
import XCTest
import ChainClient
import RESP

/// Hashes: Redis's replies and errors on a standalone node; in a 3-node cluster, fields written
/// one by one, replicated, carried to a joining node, expired with their key, and kept across
/// restarts.
final class HashTests: ProcessTestCase {
    func testHashCommandsAndErrors() throws {
        let s = try makeServer("hash", extraArgs: ["--durability", "memory"])
        XCTAssertEqual(try s.cli("HSET", "h", "a", "1", "b", "2"), "2")
        XCTAssertEqual(try s.cli("HSET", "h", "b", "3", "c", "4"), "1")
        XCTAssertEqual(try s.cli("HSET", "h", "d", "5", "d", "6"), "1", "a field named twice counts once")
        XCTAssertEqual(try s.cli("HGET", "h", "d"), "6")
        XCTAssertEqual(try s.cli("HLEN", "h"), "4")
        XCTAssertEqual(try s.cli("HGETALL", "h"), "a\n1\nb\n3\nc\n4\nd\n6")
        XCTAssertEqual(try s.cli("HKEYS", "h"), "a\nb\nc\nd")
        XCTAssertEqual(try s.cli("HVALS", "h"), "1\n3\n4\n6")
        XCTAssertEqual(try s.cli("HMGET", "h", "a", "zz", "c"), "1\n\n4")
        XCTAssertEqual(try s.cli("HEXISTS", "h", "a"), "1")
        XCTAssertEqual(try s.cli("HEXISTS", "h", "zz"), "0")
        XCTAssertEqual(try s.cli("HSTRLEN", "h", "a"), "1")
        XCTAssertEqual(try s.cli("HSETNX", "h", "a", "9"), "0")
        XCTAssertEqual(try s.cli("HSETNX", "h", "e", "9"), "1")
        XCTAssertEqual(try s.cli("HMSET", "h", "f", "x"), "OK")
        XCTAssertEqual(try s.cli("HINCRBY", "h", "a", "10"), "11")
        XCTAssertEqual(try s.cli("HINCRBY", "h", "new", "-3"), "-3")
        XCTAssertEqual(try s.cli("HINCRBYFLOAT", "h", "a", "0.5"), "11.5")
        XCTAssertEqual(try s.cli("HLEN", "h"), "7")
        XCTAssertEqual(try s.cli("HDEL", "h", "a", "a", "zz", "b"), "2")
        XCTAssertEqual(try s.cli("HLEN", "h"), "5")
        XCTAssertEqual(try s.cli("HSCAN", "h", "0", "MATCH", "[cd]"), "0\nc\n4\nd\n6")
        XCTAssertEqual(try s.cli("HSCAN", "h", "0", "MATCH", "e", "NOVALUES"), "0\ne")
        XCTAssert(["c", "d", "e", "f", "new"].contains(try s.cli("HRANDFIELD", "h")))
        XCTAssertEqual(try s.cli("HRANDFIELD", "h", "10").split(separator: "\n").sorted(), ["c", "d", "e", "f", "new"])
        XCTAssertEqual(try s.cli("HRANDFIELD", "h", "-7").split(separator: "\n").count, 7)
        XCTAssertEqual(try s.cli("HRANDFIELD", "h", "-1", "WITHVALUES").split(separator: "\n").count, 2)
        XCTAssertEqual(try s.cli("HRANDFIELD", "nohash"), "")
        XCTAssertEqual(try s.cli("HRANDFIELD", "h", "2", "WITHSCORES"), "ERR syntax error")
        XCTAssertEqual(try s.cli("TYPE", "h"), "hash")
        XCTAssertEqual(try s.cli("SCAN", "0", "TYPE", "hash"), "0\nh")
        // Errors: clear, and nothing changed.
        XCTAssertEqual(try s.cli("HSET", "h", "a"), "ERR wrong number of arguments for 'hset' command")
        XCTAssertEqual(try s.cli("HSET", "h", "a", "1", "b"), "ERR wrong number of arguments for 'hset' command")
        XCTAssertEqual(try s.cli("HINCRBY", "h", "f", "1"), "ERR hash value is not an integer")
        XCTAssertEqual(try s.cli("HINCRBY", "h", "c", "x"), "ERR value is not an integer or out of range")
        XCTAssertEqual(try s.cli("HINCRBY", "h", "c", "9223372036854775807"), "ERR increment or decrement would overflow")
        XCTAssertEqual(try s.cli("HINCRBYFLOAT", "h", "f", "1"), "ERR hash value is not a float")
        XCTAssertEqual(try s.cli("HINCRBYFLOAT", "h", "c", "nan"), "ERR value is not a valid float")
        XCTAssertEqual(try s.cli("HSCAN", "h", "x"), "ERR invalid cursor")
        XCTAssertEqual(try s.cli("HLEN", "h"), "5")
        // Types: string commands on a hash and hash commands on a string say WRONGTYPE.
        XCTAssertEqual(try s.cli("SET", "s", "v"), "OK")
        let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value"
        for cmd in [["GET", "h"], ["INCR", "h"], ["APPEND", "h", "x"], ["STRLEN", "h"], ["GETDEL", "h"], ["SET", "h", "v", "GET"],
                    ["HGET", "s", "a"], ["HSET", "s", "a", "1"], ["HGETALL", "s"], ["HLEN", "s"], ["GETEX", "h"]] {
            XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(s.port)"] + cmd).out.trimmingCharacters(in: .whitespacesAndNewlines), wrong, "\(cmd)")
        }
        XCTAssertEqual(try s.client().call("MGET", "h", "s"), .array([.bulk(nil), .bulk(Array("v".utf8))]), "MGET: nil for a hash")
        // Whole-key commands: expiry, rename, copy, delete, overwrite.
        XCTAssertEqual(try s.cli("EXPIRE", "h", "100"), "1")
        XCTAssertEqual(try s.cli("HSET", "h", "g", "7"), "1")
        XCTAssertEqual(try s.cli("TTL", "h"), "100", "a field write keeps the hash's expiry")
        XCTAssertEqual(try s.cli("RENAME", "h", "h2"), "OK")
        XCTAssertEqual(try s.cli("HGETALL", "h"), "")
        XCTAssertEqual(try s.cli("HGET", "h2", "g"), "7")
        XCTAssertEqual(try s.cli("COPY", "h2", "h3"), "1")
        XCTAssertEqual(try s.cli("HDEL", "h3", "g"), "1")
        XCTAssertEqual(try s.cli("HEXISTS", "h2", "g"), "1", "the copy's fields are its own")
        XCTAssertEqual(try s.cli("SET", "h3", "now a string"), "OK")
        XCTAssertEqual(try s.cli("HSET", "h4", "x", "1"), "1")
        XCTAssertEqual(try s.cli("DEL", "h4", "h2"), "2")
        XCTAssertEqual(try s.cli("HSET", "h4", "y", "2"), "1")
        XCTAssertEqual(try s.cli("HGETALL", "h4"), "y\n2", "no field of the deleted hash came back")
        XCTAssertEqual(try s.cli("HDEL", "h4", "y"), "1")
        XCTAssertEqual(try s.cli("EXISTS", "h4"), "0", "a hash without fields is gone")
        // An expired hash is gone, fields included; a write starts a new one.
        XCTAssertEqual(try s.cli("HSET", "t", "old", "1"), "1")
        XCTAssertEqual(try s.cli("PEXPIRE", "t", "100"), "1")
        XCTAssert(Harness.waitFor(5) { (try? s.cli("EXISTS", "t")) == "0" })
        XCTAssertEqual(try s.cli("HSET", "t", "new", "2"), "1")
        XCTAssertEqual(try s.cli("HGETALL", "t"), "new\n2")
        XCTAssertEqual(try s.cli("TTL", "t"), "-1")
        // Transactions take hash commands.
        XCTAssertEqual(try s.cli(stdin: "MULTI\nHSET tx f 1\nHINCRBY tx f 2\nHGET tx f\nEXEC\n"), "OK\nQUEUED\nQUEUED\nQUEUED\n1\n3\n3")
    }

    /// A large hash is scanned in pages of COUNT fields: every field present for the whole scan
    /// comes at least once though fields are added and deleted between calls, a cursor may be
    /// repeated, an unknown cursor is refused rather than ending the scan, and redis-py's
    /// `hscan_iter` walks it.
    func testLargeHashScansInPagesUnderWrites() throws {
        let s = try makeServer("hash-scan", extraArgs: ["--durability", "memory"])
        let c = try s.client()
        let names = (0..<1000).map { String(format: "f%04d", $0) }
        for chunk in stride(from: 0, to: names.count, by: 100) {
            XCTAssertEqual(try c.call((["HSET", "big"] + names[chunk..<(chunk + 100)].flatMap { [$0, "v" + $0] }).map { Array($0.utf8) }), .integer(100))
        }
        var seen: [String: Int] = [:]
        var cursor = "0"
        var calls = 0
        var deleted: Set<String> = []
        repeat {
            guard case let .array(reply?) = try c.call("HSCAN", "big", cursor, "COUNT", "100"), reply.count == 2,
                  case let .bulk(next?) = reply[0], case let .array(flat?) = reply[1] else { return XCTFail("malformed HSCAN reply") }
            XCTAssertLessThanOrEqual(flat.count, 200, "no more than COUNT fields per call")
            if calls == 1 {
                guard case let .array(again?) = try c.call("HSCAN", "big", cursor, "COUNT", "100"), again.count == 2 else { return XCTFail("a cursor was refused the second time") }
                XCTAssert(again[1] == reply[1], "a cursor used again gives the same page")
            }
            for i in stride(from: 0, to: flat.count, by: 2) {
                guard case let .bulk(f?) = flat[i], case let .bulk(v?) = flat[i + 1] else { return XCTFail("malformed field") }
                let name = String(decoding: f, as: UTF8.self)
                XCTAssertEqual(String(decoding: v, as: UTF8.self), "v" + name)
                seen[name, default: 0] += 1
            }
            // Between calls: a field from the end goes, new ones arrive on both sides.
            let victim = names[999 - calls]
            XCTAssertEqual(try c.call("HDEL", "big", victim), .integer(1))
            deleted.insert(victim)
            XCTAssertEqual(try c.call("HSET", "big", "a-new\(calls)", "va-new\(calls)", "z-new\(calls)", "vz-new\(calls)"), .integer(2))
            cursor = String(decoding: next, as: UTF8.self)
            calls += 1
        } while cursor != "0" && calls < 100
        XCTAssertEqual(cursor, "0", "the scan ends")
        XCTAssertGreaterThanOrEqual(calls, 10)
        for name in names where !deleted.contains(name) {
            XCTAssertGreaterThanOrEqual(seen[name] ?? 0, 1, "\(name) was present throughout but never returned")
        }
        // A small hash comes whole; cursors are refused when unknown or of another key.
        XCTAssertEqual(try c.call("HSET", "small", "a", "1"), .integer(1))
        XCTAssertEqual(try s.cli("HSCAN", "small", "0", "COUNT", "1"), "0\na\n1")
        guard case let .error(e) = try c.call("HSCAN", "big", "12345") else { return XCTFail("an unknown cursor was accepted") }
        XCTAssert(e.contains("unknown HSCAN cursor"), e)
        guard case let .array(first?) = try c.call("HSCAN", "big", "0", "COUNT", "10"), case let .bulk(k?) = first[0] else { return XCTFail("no cursor") }
        guard case .error = try c.call("HSCAN", "small", String(decoding: k, as: UTF8.self)) else { return XCTFail("another key's cursor was accepted") }
        XCTAssertEqual(try s.cli("HSCAN", "big", "0", "COUNT", "0"), "ERR syntax error")
        // redis-py walks it with the cursors it is given.
        guard try Harness.run(Harness.systemPython, ["-c", "import redis"]).code == 0 else { throw XCTSkip("redis-py is not installed") }
        let script = """
        import redis, sys
        r = redis.Redis(port=int(sys.argv[1]))
        fields = dict(r.hscan_iter("big", count=50))
        assert len(fields) == r.hlen("big"), (len(fields), r.hlen("big"))
        print(len(fields))
        """
        let py = try Harness.run(Harness.systemPython, ["-c", script, "\(s.port)"], timeout: 60)
        XCTAssertEqual(py.code, 0, py.err)
        XCTAssertEqual(py.out.trimmingCharacters(in: .whitespacesAndNewlines), "\(1000 - deleted.count + 2 * calls)")
    }

    /// Fields are replicated one by one, read from every node, carried to a node that joins,
    /// deleted with their expired key by the head's sweep, and kept across restarts.
    func testHashesInACluster() throws {
        let c = try LocalCluster.start(label: "hash-cluster")
        defer { c.shutdown() }
        let smart = try c.smartClient()
        for i in 0..<50 {
            XCTAssertEqual(try smart.execute([bytes("HSET"), bytes("user:\(i)"), bytes("name"), bytes("u\(i)"), bytes("visits"), bytes("0")]), .integer(2))
            XCTAssertEqual(try smart.execute([bytes("HINCRBY"), bytes("user:\(i)"), bytes("visits"), bytes("\(i)")]), .integer(Int64(i)))
        }
        XCTAssertEqual(try smart.execute([bytes("HSET"), bytes("brief"), bytes("f"), bytes("v")]), .integer(1))
        XCTAssertEqual(try smart.execute([bytes("PEXPIRE"), bytes("brief"), bytes("300")]), .integer(1))
        for n in ["n1", "n2", "n3"] {
            let cl = try c.client(n)
            XCTAssertEqual(try cl.call("HGET", "user:7", "visits"), .bulk(Array("7".utf8)), n)
            XCTAssertEqual(try cl.call("HLEN", "user:9"), .integer(2), n)
        }
        XCTAssert(Harness.waitFor(10) {
            ["n1", "n2", "n3"].allSatisfy { (try? c.client($0).call("EXISTS", "brief")) == .integer(0) }
        })
        XCTAssert(Harness.waitFor(10) { (try? c.digests("n1")) == (try? c.digests("n2")) && (try? c.digests("n2")) == (try? c.digests("n3")) },
                  "replicas differ")
        // A fourth node joins: it receives the fields with the chains it takes.
        try c.startNode("n4")
        XCTAssert(Harness.waitFor(10) { (try? c.status())?.nodes.first { $0.id == "n4" }?.state == "spare" })
        let add = try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress, "add", "n4", "--wait", "--timeout", "90"], timeout: 100)
        XCTAssertEqual(add.code, 0, add.err + add.out)
        XCTAssertGreaterThan(try c.metric("n4", "chainstore_chain_joins_total"), 0)
        try c.waitHealthy(timeout: 60)
        for i in [3, 17, 41] {
            XCTAssertEqual(try smart.execute([bytes("HGETALL"), bytes("user:\(i)")]),
                           .array([.bulk(Array("name".utf8)), .bulk(Array("u\(i)".utf8)), .bulk(Array("visits".utf8)), .bulk(Array("\(i)".utf8))]))
        }
        // Restarts keep them.
        for n in ["n1", "n2", "n3", "n4"] {
            c.nodes[n]!.stop()
            try c.startNode(n)
        }
        try c.waitHealthy(timeout: 60)
        XCTAssertEqual(try smart.execute([bytes("HGET"), bytes("user:33"), bytes("visits")]), .bulk(Array("33".utf8)))
        // Each node counts the chains it tails; the restarts leave role rotations to come, and a
        // tail that moves between two nodes' answers is counted twice. Count within one epoch.
        var total: Int64 = 0
        XCTAssert(Harness.waitFor(60) {
            guard let before = try? c.status(), (before.plan ?? []).isEmpty else { return false }
            total = 0
            for n in ["n1", "n2", "n3", "n4"] {
                guard case let .integer(k)? = try? c.client(n).call("DBSIZE") else { return false }
                total += k
            }
            return (try? c.status())?.epoch == before.epoch
        }, "no quiet epoch to count in")
        XCTAssertEqual(total, 50, "hashes count once each; fields are not keys")
    }
}
