import Foundation
import XCTest
import ChainClient
import RESP

/// Key expiry: Redis's commands and replies on a standalone node, and, in a 3-node cluster,
/// expiry times decided by the head and replicated, expired keys invisible on every node,
/// deleted by the head's sweep, and kept across a restart.
final class ExpiryTests: ProcessTestCase {
    func testExpiryCommandsAndTheirErrors() throws {
        let s = try makeServer("expiry", extraArgs: ["--durability", "memory"])
        XCTAssertEqual(try s.cli("SET", "a", "1", "EX", "100"), "OK")
        XCTAssertEqual(try s.cli("TTL", "a"), "100")
        XCTAssert((99_000...100_000).contains(Int(try s.cli("PTTL", "a")) ?? 0))
        XCTAssertEqual(try s.cli("TTL", "missing"), "-2")
        XCTAssertEqual(try s.cli("SET", "plain", "v"), "OK")
        XCTAssertEqual(try s.cli("TTL", "plain"), "-1")
        XCTAssertEqual(try s.cli("EXPIRETIME", "plain"), "-1")
        XCTAssertEqual(try s.cli("EXPIRETIME", "missing"), "-2")
        let now = Int(Date().timeIntervalSince1970)
        XCTAssert(abs((Int(try s.cli("EXPIRETIME", "a")) ?? 0) - (now + 100)) <= 2)
        // Writing a new value forgets the expiry; modifying in place keeps it.
        XCTAssertEqual(try s.cli("SET", "a", "2"), "OK")
        XCTAssertEqual(try s.cli("TTL", "a"), "-1")
        XCTAssertEqual(try s.cli("EXPIRE", "a", "50"), "1")
        XCTAssertEqual(try s.cli("INCR", "a"), "3")
        XCTAssertEqual(try s.cli("APPEND", "a", "0"), "2")
        XCTAssertEqual(try s.cli("SETRANGE", "a", "0", "4"), "2")
        XCTAssertEqual(try s.cli("INCRBYFLOAT", "a", "1"), "41")
        XCTAssertEqual(try s.cli("TTL", "a"), "50")
        XCTAssertEqual(try s.cli("SET", "a", "x", "KEEPTTL"), "OK")
        XCTAssertEqual(try s.cli("TTL", "a"), "50")
        XCTAssertEqual(try s.cli("GETSET", "a", "y"), "x")
        XCTAssertEqual(try s.cli("TTL", "a"), "-1")
        // EXPIRE's conditions: a key without a time to live expires never.
        XCTAssertEqual(try s.cli("EXPIRE", "a", "10", "XX"), "0")
        XCTAssertEqual(try s.cli("EXPIRE", "a", "10", "GT"), "0")
        XCTAssertEqual(try s.cli("EXPIRE", "a", "10", "LT"), "1")
        XCTAssertEqual(try s.cli("EXPIRE", "a", "20", "NX"), "0")
        XCTAssertEqual(try s.cli("EXPIRE", "a", "20", "GT"), "1")
        XCTAssertEqual(try s.cli("PEXPIRE", "a", "5000", "LT"), "1")
        XCTAssertEqual(try s.cli("TTL", "a"), "5")
        XCTAssertEqual(try s.cli("PERSIST", "a"), "1")
        XCTAssertEqual(try s.cli("PERSIST", "a"), "0")
        XCTAssertEqual(try s.cli("PERSIST", "missing"), "0")
        XCTAssertEqual(try s.cli("EXPIRE", "missing", "10"), "0")
        XCTAssertEqual(try s.cli("EXPIREAT", "a", "\(now + 1000)"), "1")
        XCTAssert((998...1000).contains(Int(try s.cli("TTL", "a")) ?? 0))
        XCTAssertEqual(try s.cli("PEXPIREAT", "a", "\((now + 2000) * 1000)"), "1")
        XCTAssertEqual(try s.cli("PEXPIRETIME", "a"), "\((now + 2000) * 1000)")
        // A time already past deletes the key.
        XCTAssertEqual(try s.cli("EXPIRE", "a", "-1"), "1")
        XCTAssertEqual(try s.cli("EXISTS", "a"), "0")
        XCTAssertEqual(try s.cli("SET", "b", "v", "EXAT", "1"), "OK")
        XCTAssertEqual(try s.cli("EXISTS", "b"), "0")
        // SETEX, PSETEX, GETEX, GETDEL.
        XCTAssertEqual(try s.cli("SETEX", "c", "30", "v"), "OK")
        XCTAssertEqual(try s.cli("TTL", "c"), "30")
        XCTAssertEqual(try s.cli("PSETEX", "d", "30000", "w"), "OK")
        XCTAssertEqual(try s.cli("TTL", "d"), "30")
        XCTAssertEqual(try s.cli("GETEX", "c", "PERSIST"), "v")
        XCTAssertEqual(try s.cli("TTL", "c"), "-1")
        XCTAssertEqual(try s.cli("GETEX", "c", "EX", "70"), "v")
        XCTAssertEqual(try s.cli("TTL", "c"), "70")
        XCTAssertEqual(try s.cli("GETEX", "c"), "v")
        XCTAssertEqual(try s.cli("GETEX", "missing", "EX", "5"), "")
        XCTAssertEqual(try s.cli("GETDEL", "d"), "w")
        XCTAssertEqual(try s.cli("TTL", "d"), "-2")
        // RENAME and COPY carry the expiry.
        XCTAssertEqual(try s.cli("RENAME", "c", "c2"), "OK")
        XCTAssertEqual(try s.cli("TTL", "c2"), "70")
        XCTAssertEqual(try s.cli("COPY", "c2", "c3"), "1")
        XCTAssertEqual(try s.cli("TTL", "c3"), "70")
        // Bad input: clear errors, nothing changed.
        XCTAssertEqual(try s.cli("SET", "e", "v", "EX", "0"), "ERR invalid expire time in 'set' command")
        XCTAssertEqual(try s.cli("SET", "e", "v", "PX", "-5"), "ERR invalid expire time in 'set' command")
        XCTAssertEqual(try s.cli("SET", "e", "v", "EX", "ten"), "ERR value is not an integer or out of range")
        XCTAssertEqual(try s.cli("SET", "e", "v", "EX", "9223372036854775807"), "ERR invalid expire time in 'set' command")
        XCTAssertEqual(try s.cli("SET", "e", "v", "EX", "10", "PX", "10"), "ERR syntax error")
        XCTAssertEqual(try s.cli("SET", "e", "v", "EX", "10", "KEEPTTL"), "ERR syntax error")
        XCTAssertEqual(try s.cli("SET", "e", "v", "EX"), "ERR syntax error")
        XCTAssertEqual(try s.cli("SETEX", "e", "0", "v"), "ERR invalid expire time in 'setex' command")
        XCTAssertEqual(try s.cli("PSETEX", "e", "x", "v"), "ERR value is not an integer or out of range")
        XCTAssertEqual(try s.cli("GETEX", "c2", "EX", "0"), "ERR invalid expire time in 'getex' command")
        XCTAssertEqual(try s.cli("GETEX", "c2", "EX", "5", "PERSIST"), "ERR syntax error")
        XCTAssertEqual(try s.cli("GETEX", "c2", "SOON"), "ERR syntax error")
        XCTAssertEqual(try s.cli("EXPIRE", "c2", "5", "NX", "GT"), "ERR NX and XX, GT or LT options at the same time are not compatible")
        XCTAssertEqual(try s.cli("EXPIRE", "c2", "5", "GT", "LT"), "ERR GT and LT options at the same time are not compatible")
        XCTAssertEqual(try s.cli("EXPIRE", "c2", "5", "SOMETIME"), "ERR Unsupported option SOMETIME")
        XCTAssertEqual(try s.cli("EXPIRE", "c2", "x"), "ERR value is not an integer or out of range")
        XCTAssertEqual(try s.cli("TTL"), "ERR wrong number of arguments for 'ttl' command")
        XCTAssertEqual(try s.cli("EXISTS", "e"), "0")
        XCTAssert((68...70).contains(Int(try s.cli("TTL", "c2")) ?? 0))
    }

    /// Expired keys are gone for every command at once, and the sweep deletes them from the store.
    func testExpiredKeysVanishAndAreSwept() throws {
        let s = try makeServer("expiry-sweep", extraArgs: ["--durability", "memory"])
        var script = ""
        for i in 0..<200 { script += "SET short:\(i) v PX 300\n" }
        for i in 0..<20 { script += "SET long:\(i) v EX 600\n" }
        script += "SET plain v\n"
        _ = try s.cli(stdin: script)
        XCTAssertEqual(try s.cli("DBSIZE"), "221")
        XCTAssert(Harness.waitFor(5) { (try? s.cli("DBSIZE")) == "21" }, "expired keys still counted")
        XCTAssertEqual(try s.cli("GET", "short:7"), "")
        XCTAssertEqual(try s.cli("EXISTS", "short:1", "short:2", "long:3"), "1")
        XCTAssertEqual(try s.cli("KEYS", "short:*"), "")
        XCTAssertEqual(try s.cli("SCAN", "0", "MATCH", "short:*", "COUNT", "1000"), "0")
        XCTAssertEqual(try s.cli("RANDOMKEY").hasPrefix("short:"), false)
        XCTAssert(Harness.waitFor(10) { (try? s.metricFromInfo("expired_keys")) == 200 }, "the sweep deleted \((try? s.metricFromInfo("expired_keys")) ?? -1) keys")
        // A key set again after expiring is a new key, without the old expiry.
        XCTAssertEqual(try s.cli("SET", "short:7", "again"), "OK")
        XCTAssertEqual(try s.cli("TTL", "short:7"), "-1")
    }

    /// `INFO keyspace` counts keys and keys with a time to live (not RocksDB's estimate, which
    /// counted request records and metadata too).
    func testInfoKeyspaceCountsKeysAndExpires() throws {
        let s = try makeServer("expiry-info", extraArgs: ["--durability", "memory"])
        _ = try s.cli(stdin: "SET a 1\nSET b 2 EX 100\nSET c 3 PX 100000\nHSET h f v\nSET d 4\n")
        XCTAssert(Harness.waitFor(5) { (try? s.cli("INFO", "keyspace"))?.contains("db0:keys=5,expires=2,") ?? false },
                  (try? s.cli("INFO", "keyspace")) ?? "")
    }

    /// The head stamps the expiry; every node answers from the tail's copy; the head's sweep
    /// deletes expired keys by replicated updates; expiry survives restarts of every node.
    func testExpiryInACluster() throws {
        let c = try LocalCluster.start(label: "expiry-cluster")
        defer { c.shutdown() }
        let smart = try c.smartClient()
        for i in 0..<100 {
            XCTAssertEqual(try smart.execute([bytes("SET"), bytes("ttl:\(i)"), bytes("v\(i)"), bytes("PX"), bytes("1500")]), .simple("OK"))
        }
        XCTAssertEqual(try smart.execute([bytes("SET"), bytes("keep"), bytes("v"), bytes("EX"), bytes("3600")]), .simple("OK"))
        for n in ["n1", "n2", "n3"] {
            let cl = try c.client(n)
            guard case let .integer(ttl) = try cl.call("PTTL", "ttl:5") else { return XCTFail("PTTL at \(n)") }
            XCTAssert((1...1500).contains(ttl), "\(n): \(ttl)")
            XCTAssertEqual(try cl.call("TTL", "keep"), .integer(3600))
        }
        // DBSIZE counts the chains a node tails, so the three add up to the whole keyspace.
        XCTAssert(Harness.waitFor(10) {
            ["n1", "n2", "n3"].reduce(Int64(0)) { sum, n in
                if case let .integer(k)? = try? c.client(n).call("DBSIZE") { return sum + k }
                return sum + 1000
            } == 1
        }, "expired keys still counted")
        for n in ["n1", "n2", "n3"] { XCTAssertEqual(try c.client(n).call("EXISTS", "ttl:5"), .integer(0)) }
        let gone = try smart.execute([bytes("GET"), bytes("ttl:42")])
        XCTAssert(gone.isNull, "\(gone)")
        // Every chain's head deletes its expired keys; counted once, at the heads.
        XCTAssert(Harness.waitFor(15) {
            ["n1", "n2", "n3"].reduce(0) { $0 + ((try? self.infoStat(c.client($1), "expired_keys")) ?? 0) } == 100
        }, "swept: \(["n1", "n2", "n3"].map { (try? self.infoStat(c.client($0), "expired_keys")) ?? -1 })")
        // The replicas agree (the sweep's deletes went down every chain).
        XCTAssert(Harness.waitFor(10) { (try? c.digests("n1")) == (try? c.digests("n2")) && (try? c.digests("n2")) == (try? c.digests("n3")) })
        // Restart every node: the expiry is in the stored value.
        for n in ["n1", "n2", "n3"] {
            c.nodes[n]!.stop()
            try c.startNode(n)
        }
        try c.waitHealthy(timeout: 30)
        // The Lock script below uses plain connections too, which do not retry the TRYAGAIN of a
        // request forwarded while the chains are reordered after the restarts.
        XCTAssert(c.waitSettled(), "settled after the restarts")
        guard case let .integer(ttl) = try smart.execute([bytes("TTL"), bytes("keep")]) else { return XCTFail("TTL after restart") }
        XCTAssert((3500...3600).contains(ttl), "\(ttl)")
        // redis-py's Lock, through the cluster client and through plain connections to every
        // node: SET NX PX to take it, its release/extend/reacquire scripts (recognised and run
        // natively at the key's head), refused while held, free once expired.
        guard try Harness.run(Harness.systemPython, ["-c", "import redis.cluster"]).code == 0 else { throw XCTSkip("redis-py is not installed") }
        let script = """
        import sys, time, redis
        from redis.cluster import RedisCluster
        from redis.exceptions import LockNotOwnedError
        ports = [int(p) for p in sys.argv[1:]]
        out = []
        for client in [RedisCluster(host='127.0.0.1', port=ports[0])] + [redis.Redis(port=p) for p in ports]:
            a = client.lock('lock:a', timeout=5)
            b = client.lock('lock:a', timeout=5)
            ok = a.acquire(blocking=False) and not b.acquire(blocking=False)
            ok = ok and a.extend(10) and 14000 < client.pttl('lock:a') <= 15000
            ok = ok and a.reacquire() and 4000 < client.pttl('lock:a') <= 5000
            a.release()
            ok = ok and client.exists('lock:a') == 0 and b.acquire(blocking=False)
            b.release()
            short = client.lock('lock:b', timeout=0.3)
            short.acquire()
            time.sleep(0.6)
            try:
                short.release()
                ok = False
            except LockNotOwnedError:
                pass
            with client.lock('lock:c', timeout=5, blocking_timeout=5):
                ok = ok and client.exists('lock:c') == 1
            out.append(ok and client.exists('lock:c') == 0)
        print(out)
        """
        let r = try Harness.run(Harness.systemPython, ["-c", script] + ["n1", "n2", "n3"].map { "\(c.ports[$0]!.client)" }, timeout: 60)
        // (The end of stderr: redis-py logs each first EVALSHA's NOSCRIPT before loading the script.)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "[True, True, True, True]", String(r.err.suffix(1500)))
        // Any other script is refused, and nothing changes.
        let cl = try c.client("n1")
        XCTAssertEqual(try cl.call("EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "k"),
                       .error("ERR chainstore does not run Lua scripts; it recognises only the scripts of redis-py's Lock (Docs/COMPATIBILITY.md)"))
        XCTAssertEqual(try cl.call("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "1", "k"), .error("NOSCRIPT No matching script. Please use EVAL."))
        XCTAssertEqual(try cl.call("EVAL", "return 1", "0"), .error("ERR chainstore runs scripts only on keys: numkeys must be at least 1"))
        XCTAssertEqual(try cl.call("EVAL", "return 1", "2", "k"), .error("ERR Number of keys can't be greater than number of args"))
        XCTAssertEqual(try cl.call("SCRIPT", "LOAD", "return 1"),
                       .error("ERR chainstore does not run Lua scripts; it recognises only the scripts of redis-py's Lock (Docs/COMPATIBILITY.md)"))
        XCTAssertEqual(try cl.call("EXISTS", "k"), .integer(0))
    }

    private func infoStat(_ cl: RESPClient, _ field: String) throws -> Int {
        let text = try cl.call("INFO", "stats").string ?? ""
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1)) ?? -1
        }
        return -1
    }
}

extension ServerProcess {
    /// A number from `INFO` (`field:value`).
    func metricFromInfo(_ field: String) throws -> Int {
        let text = try cli("INFO", "everything")
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces)) ?? -1
        }
        return -1
    }
}
