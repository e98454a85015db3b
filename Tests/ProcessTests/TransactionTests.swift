import Foundation
import XCTest
import ChainClient
import RESP

/// MULTI/EXEC/DISCARD/WATCH/UNWATCH: Redis's replies on a standalone node, and in a 3-node
/// cluster a transaction run at its chain's head as one update, from any node, with WATCH
/// judged by that head — checked by concurrent optimistic increments that must add up.
final class TransactionTests: ProcessTestCase {
    func testTransactionRepliesAndErrors() throws {
        let s = try makeServer("tx", extraArgs: ["--durability", "memory"])
        let script = """
        MULTI
        SET a 1
        INCR a
        GET a
        EXPIRE a 100
        TTL a
        INCR counter
        EXEC
        GET a
        EXEC
        DISCARD
        MULTI
        MULTI
        PING
        SET b 2
        EXEC
        EXISTS b
        MULTI
        INCR a b
        EXEC
        MULTI
        NOSUCHCOMMAND
        EXEC
        MULTI
        EXEC
        MULTI
        SET c 3
        DISCARD
        EXISTS c
        MULTI
        WATCH a
        DISCARD
        """
        // (redis-cli prints an empty line after each error reply.)
        var out: [String] = []
        for line in try s.cli(stdin: script + "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.isEmpty, let last = out.last, last.hasPrefix("ERR") || last.hasPrefix("EXECABORT") { continue }
            out.append(line)
        }
        XCTAssertEqual(out, [
            "OK", "QUEUED", "QUEUED", "QUEUED", "QUEUED", "QUEUED", "QUEUED",
            "OK", "2", "2", "1", "100", "1", "2",
            "ERR EXEC without MULTI", "ERR DISCARD without MULTI",
            "OK", "ERR MULTI calls can not be nested", "ERR 'PING' is not allowed inside a chainstore transaction (key commands only)", "QUEUED",
            "EXECABORT Transaction discarded because of previous errors.", "0",
            "OK", "ERR wrong number of arguments for 'incr' command", "EXECABORT Transaction discarded because of previous errors.",
            "OK", "ERR unknown command 'NOSUCHCOMMAND'", "EXECABORT Transaction discarded because of previous errors.",
            "OK", "",
            "OK", "QUEUED", "OK", "0",
            "OK", "ERR WATCH inside MULTI is not allowed", "OK",
        ].map { $0 }, out.joined(separator: "\n"))
        // The runtime error of INCR on a non-number is its own element of EXEC's array.
        // The internal request form, sent by hand, is checked like any input.
        for bad in [["CS.EXEC", "1", "2"], ["CS.EXEC", "-", "0", "0", "1", "2", "WATCH", "k"], ["CS.EXEC", "-", "0", "0", "1", "1", "GET"],
                    ["CS.EXEC", "x:y", "0", "0", "1", "2", "GET", "k"], ["CS.EXEC", "-", "2", "0", "1", "2", "GET", "k"],
                    ["CS.EXEC", "-", "0", "5", "1", "2", "GET", "k"], ["CS.EXEC", "-", "0", "0", "1", "2", "GET", "k", "extra"]] {
            XCTAssertEqual(try Harness.run(Harness.redisCLI, ["-p", "\(s.port)"] + bad).out.trimmingCharacters(in: .whitespacesAndNewlines),
                           "ERR malformed CS.EXEC (internal: sent by nodes at EXEC)", "\(bad)")
        }
        XCTAssertEqual(try s.cli("CS.EXEC", "-", "0", "0", "1", "2", "GET", "a"), "2")
        XCTAssertEqual(try s.cli("CS.WATCH", "a"), "ERR CS.WATCH needs keys (cluster mode only)")
        XCTAssertEqual(try s.cli("CS.EXEC", "-", "0", "0", "1", "4", "EVALSHA", "abc", "1", "k"), "NOSCRIPT No matching script. Please use EVAL.")
        XCTAssertEqual(try s.cli(stdin: "MULTI\nEVALSHA abc 1 k\nEXEC\n").replacingOccurrences(of: "\n\n", with: "\n"),
                       "OK\nNOSCRIPT No matching script. Please use EVAL.\nEXECABORT Transaction discarded because of previous errors.")
        XCTAssertEqual(try s.cli("PING"), "PONG")
        XCTAssertEqual(try s.cli("SET", "t", "x"), "OK")
        XCTAssertEqual(try s.cli(stdin: "MULTI\nINCR t\nSET t y\nEXEC\nGET t\n").replacingOccurrences(of: "\n\n", with: "\n"),
                       "OK\nQUEUED\nQUEUED\nERR value is not an integer or out of range\nOK\ny")
    }

    func testWatchAbortsWhenAWatchedKeyChanges() throws {
        let s = try makeServer("tx-watch", extraArgs: ["--durability", "memory"])
        let a = try s.client(), b = try s.client()
        _ = try a.call("SET", "k", "1")
        XCTAssertEqual(try a.call("WATCH", "k", "other"), .simple("OK"))
        _ = try b.call("SET", "k", "2")
        XCTAssertEqual(try a.call("MULTI"), .simple("OK"))
        XCTAssertEqual(try a.call("SET", "k", "3"), .simple("QUEUED"))
        XCTAssert(try a.call("EXEC").isNull, "a watched key changed: EXEC runs nothing")
        XCTAssertEqual(try a.call("GET", "k"), .bulk(Array("2".utf8)))
        // EXEC unwatched: the next transaction runs.
        _ = try b.call("SET", "k", "4")
        XCTAssertEqual(try a.call("MULTI"), .simple("OK"))
        _ = try a.call("SET", "k", "5")
        XCTAssertEqual(try a.call("EXEC"), .array([.simple("OK")]))
        // UNWATCH forgets, and a write to an unwatched key does not abort.
        _ = try a.call("WATCH", "k")
        _ = try a.call("UNWATCH")
        _ = try b.call("SET", "k", "6")
        _ = try a.call("WATCH", "j")
        _ = try b.call("SET", "unrelated", "x")
        _ = try a.call("MULTI")
        _ = try a.call("GET", "k")
        XCTAssertEqual(try a.call("EXEC"), .array([.bulk(Array("6".utf8))]))
        // Expiry by the sweep and FLUSHALL count as writes.
        _ = try a.call("WATCH", "k")
        _ = try b.call("FLUSHALL")
        _ = try a.call("MULTI")
        _ = try a.call("SET", "k", "7")
        XCTAssert(try a.call("EXEC").isNull)
    }

    /// Any node takes MULTI…EXEC; the transaction runs at the head of its keys' chain as one
    /// update. Concurrent WATCH/GET/MULTI/SET/EXEC increments from every node must add up to
    /// exactly the number of EXECs that succeeded, and every replica must agree afterwards.
    func testClusterTransactionsAndOptimisticIncrements() throws {
        let c = try LocalCluster.start(label: "tx-cluster")
        defer { c.shutdown() }
        for n in ["n1", "n2", "n3"] {
            let cl = try c.client(n)
            XCTAssertEqual(try cl.call("MULTI"), .simple("OK"))
            XCTAssertEqual(try cl.call("SET", "{acct}\(n)", "10"), .simple("QUEUED"))
            XCTAssertEqual(try cl.call("INCRBY", "{acct}\(n)", "5"), .simple("QUEUED"))
            XCTAssertEqual(try cl.call("GET", "{acct}\(n)"), .simple("QUEUED"))
            XCTAssertEqual(try cl.call("EXEC"), .array([.simple("OK"), .integer(15), .bulk(Array("15".utf8))]), n)
            // Keys in two chains cannot form one update.
            _ = try cl.call("MULTI")
            _ = try cl.call("SET", "a", "1")
            _ = try cl.call("SET", "b", "1")
            guard case let .error(e) = try cl.call("EXEC") else { return XCTFail("EXEC across chains") }
            XCTAssert(e.hasPrefix("CROSSSLOT"), e)
            XCTAssertEqual(try cl.call("EXISTS", "a"), .integer(0), "nothing ran")
        }
        guard try Harness.run(Harness.systemPython, ["-c", "import redis"]).code == 0 else { throw XCTSkip("redis-py is not installed") }
        let script = """
        import sys, threading, redis
        ports = [int(p) for p in sys.argv[1:]]
        redis.Redis(port=ports[0]).set('{ctr}n', 0)
        done = [0] * 6
        aborted = [0] * 6
        def worker(i):
            r = redis.Redis(port=ports[i % 3])
            while done[i] < 25:
                with r.pipeline() as p:
                    try:
                        p.watch('{ctr}n')
                        v = int(p.get('{ctr}n'))
                        p.multi()
                        p.set('{ctr}n', v + 1)
                        p.execute()
                        done[i] += 1
                    except redis.WatchError:
                        aborted[i] += 1
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        final = [int(redis.Redis(port=p).get('{ctr}n')) for p in ports]
        print(sum(done), final, sum(aborted) > 0)
        """
        let r = try Harness.run(Harness.systemPython, ["-c", script] + ["n1", "n2", "n3"].map { "\(c.ports[$0]!.client)" }, timeout: 120)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "150 [150, 150, 150] True", r.err)
        XCTAssert(Harness.waitFor(10) { (try? c.digests("n1")) == (try? c.digests("n2")) && (try? c.digests("n2")) == (try? c.digests("n3")) })
    }
}
