import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP

/// The standard Redis Cluster tools and clients, unmodified, against a 3-node cluster:
/// `CLUSTER NODES/MYID/KEYSLOT/COUNTKEYSINSLOT/GETKEYSINSLOT`, `redis-cli --cluster check|info`,
/// `redis-benchmark --cluster`, redis-py's `RedisCluster(read_from_replicas=True)`, and the
/// connection commands they send (`CLIENT SETINFO|LIST|INFO|KILL`, `READONLY`, `TIME`, `INFO`).
final class ClusterToolsTests: ClusterTestCase {
    private func start(_ label: String) throws -> LocalCluster {
        let c = try LocalCluster.start(label: label)
        cluster = c
        return c
    }

    private func text(_ r: RESPValue) -> String { r.string ?? "" }

    func testClusterNodesDescribesEveryNodeAndCoversEverySlotOnce() throws {
        let c = try start("tools-nodes")
        let status = try c.status()
        var ids: [String: String] = [:]
        for n in ["n1", "n2", "n3"] {
            let myID = text(try c.client(n).call("CLUSTER", "MYID"))
            XCTAssertEqual(myID.count, 40, myID)
            XCTAssert(myID.allSatisfy(\.isHexDigit), myID)
            ids[n] = myID
        }
        XCTAssertEqual(Set(ids.values).count, 3, "distinct ids")
        for n in ["n1", "n2", "n3"] {
            let table = text(try c.client(n).call("CLUSTER", "NODES"))
            let lines = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            XCTAssertEqual(lines.count, 3, table)
            var covered = [Int](repeating: 0, count: 16384)
            for f in lines {
                XCTAssertGreaterThanOrEqual(f.count, 8, "\(f)")
                let node = ids.first { $0.value == f[0] }?.key
                XCTAssertNotNil(node, "unknown id \(f[0])")
                XCTAssertEqual(f[1].split(separator: "@").first.map(String.init), "127.0.0.1:\(c.ports[node ?? ""]?.client ?? 0)")
                XCTAssertEqual(f[2], node == n ? "myself,master" : "master")
                XCTAssertEqual(f[6], String(status.epoch))
                for r in f.dropFirst(8) {
                    let b = r.split(separator: "-").compactMap { Int($0) }
                    for s in b[0]...(b.count > 1 ? b[1] : b[0]) { covered[s] += 1 }
                }
                // Its slots are those of the chains it heads.
                XCTAssertEqual(f.count - 8, status.chains.filter { $0.members.first == node }.count)
            }
            XCTAssertEqual(covered.filter { $0 != 1 }.count, 0, "every slot exactly once")
        }
        // CLUSTER SLOTS names heads by the same ids.
        guard case let .array(slots?) = try c.client("n1").call("CLUSTER", "SLOTS"),
              case let .array(first?) = slots[0], case let .array(master?) = first[2] else { return XCTFail("CLUSTER SLOTS") }
        XCTAssertEqual(master[2], .bulk(Array(ids[status.chains[0].members[0]]!.utf8)))
    }

    func testKeySlotAndKeysInSlot() throws {
        let c = try start("tools-slots")
        let cl = try c.client("n1")
        XCTAssertEqual(try cl.call("CLUSTER", "KEYSLOT", "foo"), .integer(12182), "Redis's own example")
        XCTAssertEqual(try cl.call("CLUSTER", "KEYSLOT", "{user1}.a"), try cl.call("CLUSTER", "KEYSLOT", "user1"))
        for i in 0..<25 { XCTAssertEqual(try cl.call("SET", "{grp}k\(i)", "v"), .simple("OK")) }
        let slot = Int(HashSlot.of("grp"))
        let status = try c.status()
        let chain = status.chains[slot * status.chains.count / 16384]
        // Every member of the slot's chain holds the keys; a node outside it holds none.
        let tail = try c.client(chain.members.last!)
        XCTAssertTrue(Harness.waitFor(10) { (try? tail.call("CLUSTER", "COUNTKEYSINSLOT", "\(slot)")) == .integer(25) })
        guard case let .array(keys?) = try tail.call("CLUSTER", "GETKEYSINSLOT", "\(slot)", "10") else { return XCTFail("GETKEYSINSLOT") }
        XCTAssertEqual(keys.count, 10)
        XCTAssert(keys.allSatisfy { ($0.string ?? "").hasPrefix("{grp}k") }, "\(keys)")
        XCTAssertEqual(try tail.call("CLUSTER", "GETKEYSINSLOT", "\(slot)", "0"), .array([]))
        // DBSIZE: each node counts the chains it is the tail of, so the answers add up to every key once
        // (user keys only: the request records and metadata do not count).
        func total() throws -> Int64 {
            try ["n1", "n2", "n3"].reduce(0) { n, node in
                guard case let .integer(k) = try c.client(node).call("DBSIZE") else { XCTFail("DBSIZE"); return n }
                return n + k
            }
        }
        XCTAssertEqual(try total(), 25)
        // A pipelined DBSIZE sees the same connection's write before it (at the slot's tail,
        // which counts that chain).
        guard case let .integer(before) = try tail.call("DBSIZE") else { return XCTFail("DBSIZE") }
        let replies = try tail.pipeline([["SET", "{grp}new", "v"], ["DBSIZE"]].map { $0.map { Array($0.utf8) } })
        XCTAssertEqual(replies, [.simple("OK"), .integer(before + 1)])
        XCTAssertEqual(try total(), 26)
        // Bad input.
        for bad in [["CLUSTER", "COUNTKEYSINSLOT", "16384"], ["CLUSTER", "COUNTKEYSINSLOT", "x"], ["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
                    ["CLUSTER", "GETKEYSINSLOT", "1"], ["CLUSTER", "KEYSLOT"]] {
            guard case .error = try cl.call(bad.map { Array($0.utf8) }) else { return XCTFail("accepted \(bad)") }
        }
        guard case let .error(e) = try cl.call("CLUSTER", "FAILOVER") else { return XCTFail("unknown subcommand accepted") }
        XCTAssert(e.contains("NODES"), e)
    }

    /// Two-key commands are one update at the chain's head, through any node; keys on two
    /// chains are refused.
    func testRenameAndCopyWithinAChain() throws {
        let c = try start("tools-rename")
        for n in ["n1", "n2", "n3"] {
            let cl = try c.client(n)
            XCTAssertEqual(try cl.call("SET", "{r\(n)}a", "1"), .simple("OK"))
            XCTAssertEqual(try cl.call("RENAME", "{r\(n)}a", "{r\(n)}b"), .simple("OK"))
            XCTAssertEqual(try cl.call("COPY", "{r\(n)}b", "{r\(n)}c"), .integer(1))
            XCTAssertEqual(try cl.call("MGET", "{r\(n)}a", "{r\(n)}b", "{r\(n)}c"), .array([.bulk(nil), .bulk(Array("1".utf8)), .bulk(Array("1".utf8))]))
            XCTAssertEqual(try cl.call("TYPE", "{r\(n)}c"), .simple("string"))
            XCTAssertEqual(try cl.call("UNLINK", "{r\(n)}b", "{r\(n)}c"), .integer(2))
        }
        let status = try c.status()
        let config = Configuration(epoch: 1, replication: 3, nodes: [], chains: status.chains.map { ChainConfig(id: $0.id, members: $0.members) })
        let other = (0..<1000).map { "x\($0)" }.first { config.chain(forKey: Array($0.utf8)) != config.chain(forKey: Array("y".utf8)) }!
        guard case let .error(e) = try c.client("n1").call("RENAME", "y", other) else { return XCTFail("keys on two chains") }
        XCTAssert(e.hasPrefix("CROSSSLOT"), e)
    }

    /// FLUSHALL through any node empties every chain on every replica, as one update per chain;
    /// what is written afterwards stays; a pipelined write before it is flushed, one after it kept.
    func testFlushAllEmptiesEveryChain() throws {
        let c = try start("tools-flush")
        let writers = try ["n1", "n2", "n3"].map { try c.client($0) }
        for i in 0..<300 { XCTAssertEqual(try writers[i % 3].call("SET", "f:\(i)", "v"), .simple("OK")) }
        func total() throws -> Int64 {
            try writers.reduce(0) { n, cl in
                guard case let .integer(k) = try cl.call("DBSIZE") else { XCTFail("DBSIZE"); return n }
                return n + k
            }
        }
        XCTAssertEqual(try total(), 300)
        let replies = try writers[1].pipeline([["SET", "f:late", "1"], ["FLUSHALL"], ["SET", "f:after", "2"], ["GET", "f:late"]].map { $0.map { Array($0.utf8) } })
        XCTAssertEqual(replies, [.simple("OK"), .simple("OK"), .simple("OK"), .bulk(nil)])
        XCTAssertEqual(try total(), 1)
        for cl in writers {
            XCTAssertEqual(try cl.call("GET", "f:7"), .bulk(nil))
            XCTAssertEqual(try cl.call("GET", "f:after"), .bulk(Array("2".utf8)))
        }
        // Every replica of every chain agrees.
        XCTAssertTrue(Harness.waitFor(10) {
            let views = ["n1", "n2", "n3"].compactMap { try? c.digests($0) }
            guard views.count == 3 else { return false }
            var byChain: [Int: Set<String>] = [:]
            for v in views { for (id, d) in v { byChain[id, default: []].insert("\(d.keys)/\(d.digest)") } }
            return byChain.values.allSatisfy { $0.count == 1 } && byChain.values.reduce(0) { $0 + Int($1.first!.split(separator: "/")[0])! } == 1
        }, "replicas differ after FLUSHALL: \(["n1", "n2", "n3"].map { ((try? c.digests($0)) ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.keys)/\($0.value.applied)" } })")
        XCTAssertEqual(try writers[2].call("FLUSHDB", "ASYNC"), .simple("OK"))
        XCTAssertEqual(try total(), 0)
        guard case .error = try writers[0].call("FLUSHALL", "NOW") else { return XCTFail("bad FLUSHALL accepted") }
    }

    /// SCAN, KEYS and DBSIZE on every node: each key of the cluster on exactly one node (the
    /// tail of its chain); SCAN's cursor walks in bounded steps; RANDOMKEY finds one.
    func testScanAndKeysCoverEveryKeyOnce() throws {
        let c = try start("tools-scan")
        let nodes = ["n1", "n2", "n3"]
        let clients = try nodes.map { try c.client($0) }
        for i in 0..<500 { XCTAssertEqual(try clients[i % 3].call("SET", "sc:\(i)", "v"), .simple("OK")) }
        XCTAssertEqual(try clients[0].call("SET", "other", "v"), .simple("OK"))
        var scanned: [String: Int] = [:], listed: [String: Int] = [:]
        var sizes: Int64 = 0
        for cl in clients {
            var cursor = "0"
            var calls = 0
            repeat {
                guard case let .array(r?) = try cl.call("SCAN", cursor, "MATCH", "sc:*", "COUNT", "50"), r.count == 2,
                      case let .array(keys?) = r[1] else { return XCTFail("SCAN reply") }
                XCTAssertLessThanOrEqual(keys.count, 60, "about COUNT keys per call")
                for k in keys { scanned[k.string ?? "", default: 0] += 1 }
                cursor = r[0].string ?? "0"
                calls += 1
            } while cursor != "0" && calls < 1000
            XCTAssertGreaterThan(calls, 1, "a multi-step scan")
            guard case let .array(keys?) = try cl.call("KEYS", "sc:*") else { return XCTFail("KEYS") }
            for k in keys { listed[k.string ?? "", default: 0] += 1 }
            guard case let .integer(n) = try cl.call("DBSIZE") else { return XCTFail("DBSIZE") }
            sizes += n
            guard case let .bulk(random?) = try cl.call("RANDOMKEY") else { return XCTFail("RANDOMKEY on a node with keys") }
            XCTAssertNotEqual(try cl.call("EXISTS", String(decoding: random, as: UTF8.self)), .integer(0))
        }
        let all = Set((0..<500).map { "sc:\($0)" })
        XCTAssertEqual(Set(scanned.keys), all)
        XCTAssertEqual(Set(listed.keys), all)
        XCTAssertEqual(listed.values.filter { $0 != 1 }.count, 0, "KEYS lists each key on one node")
        XCTAssertEqual(sizes, 501)
        XCTAssertEqual(try clients[1].call("SCAN", "0", "TYPE", "hash", "COUNT", "1000"), .array([.bulk(Array("0".utf8)), .array([])]), "only strings here")
        for bad in [["SCAN", "x"], ["SCAN", "0", "COUNT", "0"], ["SCAN", "0", "MATCH"], ["SCAN", "0", "LIMIT", "3"], ["KEYS"]] {
            guard case .error = try clients[0].call(bad.map { Array($0.utf8) }) else { return XCTFail("accepted \(bad)") }
        }
    }

    func testConnectionCommandsClientsSend() throws {
        let c = try start("tools-client")
        let a = try c.client("n1"), b = try c.client("n1")
        XCTAssertEqual(try a.call("READONLY"), .simple("OK"))
        XCTAssertEqual(try a.call("READWRITE"), .simple("OK"))
        guard case let .array(t?) = try a.call("TIME"), t.count == 2, let secs = Int(t[0].string ?? "") else { return XCTFail("TIME") }
        XCTAssertLessThan(abs(secs - Int(Date().timeIntervalSince1970)), 5)
        XCTAssertEqual(try a.call("CLIENT", "SETINFO", "LIB-NAME", "tests"), .simple("OK"))
        guard case .error = try a.call("CLIENT", "SETINFO", "COLOR", "red") else { return XCTFail("bad SETINFO accepted") }
        guard case let .integer(aID) = try a.call("CLIENT", "ID"), case let .integer(bID) = try b.call("CLIENT", "ID") else { return XCTFail("ID") }
        let info = text(try a.call("CLIENT", "INFO"))
        XCTAssert(info.hasPrefix("id=\(aID) addr=127.0.0.1:") && info.contains("lib-name=tests"), info)
        let list = text(try a.call("CLIENT", "LIST"))
        XCTAssert(list.contains("id=\(aID) ") && list.contains("id=\(bID) "), list)
        XCTAssertEqual(try a.call("CLIENT", "KILL", "ID", "\(bID)"), .integer(1))
        XCTAssertThrowsError(try b.call("PING"), "the killed connection is closed")
        XCTAssertEqual(try a.call("CLIENT", "KILL", "ID", "999999"), .integer(0))
        guard case .error = try a.call("CLIENT", "KILL", "ADDR"), case .error = try a.call("CLIENT", "KILL", "1.2.3.4:5") else {
            return XCTFail("bad CLIENT KILL accepted")
        }
        XCTAssertEqual(try a.call("SET", "mem:k", String(repeating: "x", count: 1000)), .simple("OK"))
        guard case let .integer(usage) = try a.call("MEMORY", "USAGE", "mem:k") else { return XCTFail("MEMORY USAGE") }
        XCTAssert(usage > 1000 && usage < 1200, "\(usage)")
        XCTAssertEqual(try a.call("MEMORY", "USAGE", "mem:absent", "SAMPLES", "5"), .bulk(nil))
        for bad in [["MEMORY", "STATS"], ["MEMORY", "USAGE", "k", "SAMPLES"], ["MEMORY", "USAGE", "k", "x", "5"]] {
            guard case .error = try a.call(bad.map { Array($0.utf8) }) else { return XCTFail("accepted \(bad)") }
        }
        let server = text(try a.call("INFO"))
        for field in ["redis_version:", "mode:cluster", "cluster_enabled:1", "used_memory:"] { XCTAssert(server.contains(field), field) }
    }

    func testRedisCliClusterCheckAndInfo() throws {
        let c = try start("tools-cli")
        let addr = "127.0.0.1:\(c.ports["n2"]!.client)"
        let check = try Harness.run(Harness.redisCLI, ["--cluster", "check", addr], timeout: 30)
        XCTAssertEqual(check.code, 0, check.out + check.err)
        XCTAssert(check.out.contains("[OK] All 16384 slots covered"), check.out)
        XCTAssert(check.out.contains("[OK] All nodes agree about slots configuration"), check.out)
        let info = try Harness.run(Harness.redisCLI, ["--cluster", "info", addr], timeout: 30)
        XCTAssertEqual(info.code, 0, info.out + info.err)
        XCTAssert(info.out.contains("3 masters"), info.out)
    }

    func testRedisBenchmarkCluster() throws {
        let c = try start("tools-bench")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-benchmark") else { throw XCTSkip("redis-benchmark is not installed") }
        let r = try Harness.run("/usr/bin/redis-benchmark", ["--cluster", "-p", "\(c.ports["n1"]!.client)", "-t", "set,get", "-n", "3000", "-c", "8", "-q"],
                                timeout: 120)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssert(r.out.contains("SET:") && r.out.contains("GET:"), r.out + r.err)
        XCTAssertFalse((r.out + r.err).contains("Error"), r.out + r.err)
    }

    func testRedisPyRedisClusterReadingFromReplicas() throws {
        let c = try start("tools-redispy")
        guard try Harness.run(Harness.systemPython, ["-c", "import redis.cluster"]).code == 0 else { throw XCTSkip("redis-py is not installed") }
        let script = """
        import sys
        from redis.cluster import RedisCluster
        rc = RedisCluster(host='127.0.0.1', port=int(sys.argv[1]), read_from_replicas=True)
        bad = 0
        if len(rc.get_primaries()) != 3:
            bad += 100
        for i in range(300):
            rc.set('rp:%d' % i, 'v%d' % i)
            if rc.get('rp:%d' % i) != b'v%d' % i:
                bad += 1
        p = rc.pipeline()
        for i in range(300):
            p.get('rp:%d' % i)
        if p.execute() != [b'v%d' % i for i in range(300)]:
            bad += 1
        if set(rc.scan_iter(match='rp:*', count=40)) != set(b'rp:%d' % i for i in range(300)):
            bad += 1
        print('bad', bad, 'nodes', len(rc.get_nodes()))
        """
        let r = try Harness.run(Harness.systemPython, ["-c", script, "\(c.ports["n3"]!.client)"], timeout: 90)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "bad 0 nodes 3", r.err)
    }
}
