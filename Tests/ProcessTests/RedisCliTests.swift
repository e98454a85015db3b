import Foundation
import XCTest
import ChainClient

/// Every command through the real `redis-cli`.
final class RedisCliTests: ProcessTestCase {
    func testEveryStringCommand() throws {
        let s = try makeServer("cli", extraArgs: ["--durability", "memory"])
        XCTAssertEqual(try s.cli("PING"), "PONG")
        XCTAssertEqual(try s.cli("PING", "hi"), "hi")
        XCTAssertEqual(try s.cli("ECHO", "hello world"), "hello world")
        XCTAssertEqual(try s.cli("SET", "a", "b"), "OK")
        XCTAssertEqual(try s.cli("GET", "a"), "b")
        XCTAssertEqual(try s.cli("GET", "missing"), "")
        XCTAssertEqual(try s.cli("SET", "a", "c", "NX"), "")
        XCTAssertEqual(try s.cli("SET", "a", "c", "XX", "GET"), "b")
        XCTAssertEqual(try s.cli("SET", "new", "v", "XX"), "")
        XCTAssertEqual(try s.cli("SET", "new", "v", "NX"), "OK")
        XCTAssertEqual(try s.cli("SET", "a", "x", "EX", "0"), "ERR invalid expire time in 'set' command")
        XCTAssertEqual(try s.cli("SET", "a", "x", "NX", "XX"), "ERR syntax error")
        XCTAssertEqual(try s.cli("EXISTS", "a", "new", "nope", "a"), "3")
        XCTAssertEqual(try s.cli("DEL", "new", "nope"), "1")
        XCTAssertEqual(try s.cli("MSET", "k1", "v1", "k2", "v2"), "OK")
        XCTAssertEqual(try s.cli("MGET", "k1", "nope", "k2"), "v1\n\nv2")
        XCTAssertEqual(try s.cli("INCR", "n"), "1")
        XCTAssertEqual(try s.cli("INCRBY", "n", "41"), "42")
        XCTAssertEqual(try s.cli("DECR", "n"), "41")
        XCTAssertEqual(try s.cli("DECRBY", "n", "50"), "-9")
        XCTAssertEqual(try s.cli("INCR", "a"), "ERR value is not an integer or out of range")
        XCTAssertEqual(try s.cli("SET", "big", "9223372036854775807"), "OK")
        XCTAssertEqual(try s.cli("INCR", "big"), "ERR increment or decrement would overflow")
        XCTAssertEqual(try s.cli("APPEND", "s", "foo"), "3")
        XCTAssertEqual(try s.cli("APPEND", "s", "bar"), "6")
        XCTAssertEqual(try s.cli("STRLEN", "s"), "6")
        XCTAssertEqual(try s.cli("STRLEN", "nope"), "0")
        XCTAssertEqual(try s.cli("GET", "s"), "foobar")
        XCTAssertEqual(try s.cli("DBSIZE"), "6", "a k1 k2 n big s")
        XCTAssertEqual(try s.cli("DBSIZE", "x"), "ERR wrong number of arguments for 'dbsize' command")
        XCTAssertEqual(try s.cli("TYPE", "s"), "string")
        XCTAssertEqual(try s.cli("TYPE", "nope"), "none")
        XCTAssertEqual(try s.cli("TOUCH", "s", "nope", "a"), "2")
        XCTAssertEqual(try s.cli("COPY", "s", "s2"), "1")
        XCTAssertEqual(try s.cli("COPY", "s", "s2"), "0", "the destination exists")
        XCTAssertEqual(try s.cli("COPY", "a", "s2", "REPLACE"), "1")
        XCTAssertEqual(try s.cli("GET", "s2"), "c")
        XCTAssertEqual(try s.cli("COPY", "s", "s2", "DB", "1"), "ERR Copying to another database is not allowed in cluster mode")
        XCTAssertEqual(try s.cli("COPY", "s", "s"), "ERR source and destination objects are the same")
        XCTAssertEqual(try s.cli("COPY", "nope", "x"), "0")
        XCTAssertEqual(try s.cli("RENAME", "s2", "s3"), "OK")
        XCTAssertEqual(try s.cli("EXISTS", "s2", "s3"), "1")
        XCTAssertEqual(try s.cli("RENAME", "nope", "x"), "ERR no such key")
        XCTAssertEqual(try s.cli("RENAMENX", "s3", "s"), "0", "the destination exists")
        XCTAssertEqual(try s.cli("RENAMENX", "s3", "s4"), "1")
        XCTAssertEqual(try s.cli("GET", "s4"), "c")
        XCTAssertEqual(try s.cli("UNLINK", "s4", "nope"), "1")
        XCTAssertEqual(try s.cli("RENAME", "s", "s"), "OK")
        XCTAssertEqual(try s.cli("GET", "s"), "foobar")
        // The rest of the string family (what resp-compatibility checks, and the error paths).
        XCTAssertEqual(try s.cli("SETNX", "sx", "1"), "1")
        XCTAssertEqual(try s.cli("SETNX", "sx", "2"), "0")
        XCTAssertEqual(try s.cli("GETSET", "sx", "3"), "1")
        XCTAssertEqual(try s.cli("GETDEL", "sx"), "3")
        XCTAssertEqual(try s.cli("GETDEL", "sx"), "")
        XCTAssertEqual(try s.cli("MSETNX", "m1", "a", "m2", "b"), "1")
        XCTAssertEqual(try s.cli("MSETNX", "m2", "x", "m3", "c"), "0")
        XCTAssertEqual(try s.cli("MGET", "m1", "m3", "m2"), "a\n\nb")
        XCTAssertEqual(try s.cli("SET", "r", "Hello World"), "OK")
        XCTAssertEqual(try s.cli("GETRANGE", "r", "-5", "-1"), "World")
        XCTAssertEqual(try s.cli("SUBSTR", "r", "0", "4"), "Hello")
        XCTAssertEqual(try s.cli("GETRANGE", "r", "5", "2"), "")
        XCTAssertEqual(try s.cli("SETRANGE", "r", "6", "Redis"), "11")
        XCTAssertEqual(try s.cli("SETRANGE", "pad", "3", "x"), "4")
        XCTAssertEqual(try s.cli("STRLEN", "pad"), "4")
        XCTAssertEqual(try s.cli("SETRANGE", "r", "-1", "x"), "ERR offset is out of range")
        XCTAssertEqual(try s.cli("SET", "f", "10.5"), "OK")
        XCTAssertEqual(try s.cli("INCRBYFLOAT", "f", "0.1"), "10.6")
        XCTAssertEqual(try s.cli("INCRBYFLOAT", "f", "-5.6"), "5")
        XCTAssertEqual(try s.cli("INCRBYFLOAT", "f", "abc"), "ERR value is not a valid float")
        XCTAssertEqual(try s.cli("INCRBYFLOAT", "r", "1"), "ERR value is not a valid float")
        XCTAssertEqual(try s.cli("MSET", "l1", "ohmytext", "l2", "mynewtext"), "OK")
        XCTAssertEqual(try s.cli("LCS", "l1", "l2"), "mytext")
        XCTAssertEqual(try s.cli("LCS", "l1", "l2", "LEN"), "6")
        XCTAssertEqual(try s.cli("LCS", "l1", "l2", "LEN", "IDX"), "ERR If you want both the length and indexes, please just use IDX.")
        XCTAssertEqual(try s.cli("DEL", "m1", "m2", "r", "pad", "f", "l1", "l2"), "7")
        XCTAssertEqual(Set(try s.cli("KEYS", "*").split(separator: "\n")), ["a", "big", "k1", "k2", "n", "s"])
        XCTAssertEqual(Set(try s.cli("KEYS", "k?").split(separator: "\n")), ["k1", "k2"])
        XCTAssertEqual(Set(try Harness.run(Harness.redisCLI, ["-p", "\(s.port)", "--scan"]).out.split(separator: "\n")), ["a", "big", "k1", "k2", "n", "s"])
        XCTAssertEqual(Set(try Harness.run(Harness.redisCLI, ["-p", "\(s.port)", "--scan", "--pattern", "k*"]).out.split(separator: "\n")), ["k1", "k2"])
        XCTAssert(["a", "big", "k1", "k2", "n", "s"].contains(try s.cli("RANDOMKEY")))
        XCTAssertEqual(try s.cli("SCAN", "abc"), "ERR invalid cursor")
        XCTAssertEqual(try s.cli("FLUSHALL", "NOW"), "ERR syntax error: FLUSHALL [ASYNC|SYNC]")
        XCTAssertEqual(try s.cli("DBSIZE"), "6", "a bad FLUSHALL changes nothing")
        // Commands chainstore lacks say which family is missing.
        XCTAssertEqual(try s.cli("lpush", "l", "v"), "ERR chainstore does not support lists yet: 'LPUSH' is not implemented (Docs/COMPATIBILITY.md)")
        XCTAssertEqual(try s.cli("SUBSCRIBE", "ch"), "ERR chainstore does not support publish/subscribe yet: 'SUBSCRIBE' is not implemented (Docs/COMPATIBILITY.md)")
        XCTAssertEqual(try s.cli("GET", "a"), "c", "nothing changed")
        XCTAssertEqual(try s.cli("SELECT", "0"), "OK")
        XCTAssert(try s.cli("INFO").contains("chainstore_version:"))
        XCTAssert(try s.cli("INFO", "keyspace").contains("db0:keys="))
        XCTAssertEqual(try s.cli("COMMAND", "COUNT"), "\(89)")
        XCTAssertEqual(try s.cli("CLUSTER", "SLOTS"), "ERR This instance has cluster support disabled")
        XCTAssert(try s.cli("COMMAND", "INFO", "get").contains("readonly"))
        // Redis 7's shape: ten fields, ACL categories and key specifications; DOCS with summaries.
        let client = try s.client()
        guard case let .array(infos?) = try client.call("COMMAND", "INFO", "mset", "eval", "nosuch"),
              case let .array(mset?) = infos[0], case let .array(eval?) = infos[1] else { return XCTFail("COMMAND INFO") }
        XCTAssertEqual(mset.count, 10)
        XCTAssertEqual(Array(mset[3...5]), [.integer(1), .integer(-1), .integer(2)])
        XCTAssertEqual(mset[6], .array([.simple("@string"), .simple("@write"), .simple("@slow")]))
        guard case let .array(specs?) = mset[8], case let .array(spec?) = specs.first else { return XCTFail("mset key specs") }
        XCTAssertEqual(spec, [.bulk(bytes("flags")), .array([.simple("RW"), .simple("UPDATE")]),
                              .bulk(bytes("begin_search")), .array([.bulk(bytes("type")), .bulk(bytes("index")), .bulk(bytes("spec")), .array([.bulk(bytes("index")), .integer(1)])]),
                              .bulk(bytes("find_keys")), .array([.bulk(bytes("type")), .bulk(bytes("range")), .bulk(bytes("spec")),
                                                                .array([.bulk(bytes("lastkey")), .integer(-1), .bulk(bytes("keystep")), .integer(2), .bulk(bytes("limit")), .integer(0)])])])
        XCTAssertEqual(eval.count, 10)
        XCTAssert(try s.cli("COMMAND", "INFO", "eval").contains("keynum"), "EVAL's keys follow numkeys")
        XCTAssert(infos[2].isNull)
        XCTAssertEqual(try s.cli("COMMAND", "DOCS", "hset"), "hset\nsummary\nCreates or modifies the value of a field in a hash.\nsince\n2.0.0\ngroup\nhash")
        XCTAssertEqual(try s.cli("COMMAND", "LIST").split(separator: "\n").count, 89)
        XCTAssert(try s.cli("-3", "HELLO", "3").contains("proto"))
        XCTAssertEqual(try s.cli("HELLO", "4"), "NOPROTO unsupported protocol version")
        XCTAssertEqual(try s.cli("CONFIG", "GET", "appendonly"), "appendonly\nno")
        XCTAssertEqual(try s.cli("CLIENT", "SETNAME", "me"), "OK")
        XCTAssertEqual(try s.cli("FLUSHDB", "ASYNC"), "OK")
        XCTAssertEqual(try s.cli("DBSIZE"), "0")
        XCTAssertEqual(try s.cli("RANDOMKEY"), "")
        XCTAssertEqual(try s.cli("GET", "s"), "")
        XCTAssertEqual(try s.cli("SET", "after", "1"), "OK")
        XCTAssertEqual(try s.cli("DBSIZE"), "1")
        XCTAssertEqual(try s.cli("QUIT"), "OK")
    }

    func testPipelinedSessionAndErrors() throws {
        let s = try makeServer("cli-pipe", extraArgs: ["--durability", "memory"])
        var script = ""
        for i in 0..<200 { script += "SET key:\(i) value:\(i)\n" }
        for i in 0..<200 { script += "GET key:\(i)\n" }
        script += "NOSUCHCMD x\n"
        let out = try Harness.run(Harness.redisCLI, ["-p", "\(s.port)"], stdin: script).out
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.filter { $0 == "OK" }.count, 200)
        for i in 0..<200 { XCTAssertEqual(lines[200 + i], "value:\(i)") }
        XCTAssertEqual(lines[400], "ERR unknown command 'NOSUCHCMD', with args beginning with: 'x'")
    }

    func testRedisCliPipeMode() throws {
        let s = try makeServer("cli-pipemode", extraArgs: ["--durability", "memory"])
        var w = ""
        for i in 0..<1000 { w += "*3\r\n$3\r\nSET\r\n$\(("p\(i)").utf8.count)\r\np\(i)\r\n$1\r\nx\r\n" }
        let r = try Harness.run(Harness.redisCLI, ["-p", "\(s.port)", "--pipe"], stdin: w)
        XCTAssert(r.out.contains("errors: 0, replies: 1000"), r.out + r.err)
        XCTAssertEqual(try s.cli("GET", "p999"), "x")
    }
}
