import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP
import LinCheck

/// Client workloads the cluster process tests run while they inject faults or change
/// membership: blind writers whose acknowledged writes are checked afterwards, and a mixed
/// read/write history checked for linearizability.
extension XCTestCase {
    func writeWhile(_ c: LocalCluster, _ body: () throws -> Void) throws -> [String: Int] {
        try writeWhile(master: c.masterAddress, body)
    }

    /// Three smart-client writers overwrite 900 keys with increasing values while `body` runs;
    /// none may see an error. Returns the last acknowledged value of each key.
    func writeWhile(master: String, _ body: () throws -> Void) throws -> [String: Int] {
        let acked = Locked<[String: Int]>([:])
        let stop = Locked(false)
        let errors = Locked(0)
        let group = DispatchGroup()
        for t in 0..<3 {
            DispatchQueue.global().async(group: group) {
                guard let client = try? ClusterClient(master: master) else { errors.mutate { $0 += 1 }; return }
                var i = 0
                while !stop.value && i < 50_000 {
                    let key = "r\(t):\(i % 300)"
                    if (try? client.execute("SET", key, "\(i)")) == .simple("OK") { acked.mutate { $0[key] = i } } else { errors.mutate { $0 += 1 } }
                    i += 1
                }
            }
        }
        XCTAssertTrue(Harness.waitFor(30) { acked.value.count >= 300 }, "the writers made progress before the fault")
        try body()
        stop.mutate { $0 = true }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(errors.value, 0)
        return acked.value
    }


    /// Every acknowledged write is readable with its value or a newer one from the same writer.
    func verifyAcked(master: String, _ acked: [String: Int]) throws {
        let reader = try ClusterClient(master: master)
        var lost: [String] = []
        for (k, v) in acked {
            guard case let .bulk(b?) = try reader.execute("GET", k), let got = Int(String(decoding: b, as: UTF8.self)), got >= v else {
                lost.append(k)
                continue
            }
        }
        XCTAssertEqual(lost, [], "acknowledged writes lost")
    }

    /// `verifyAcked`, and the members of every chain hold identical data (per-chain digests).
    func verify(_ c: LocalCluster, _ acked: [String: Int], nodes: [String]) throws {
        try verifyAcked(master: c.masterAddress, acked)
        let status = try c.status()
        var mismatch: [String] = []
        XCTAssert(Harness.waitFor(10) {
            mismatch = []
            guard let d = try? nodes.map({ (n: String) in (n, try c.digests(n)) }) else { return false }
            for ch in status.chains {
                let ds = ch.members.compactMap { m in d.first { $0.0 == m }?.1[ch.id] }
                if ds.count != ch.members.count || Set(ds.map(\.digest)).count != 1 { mismatch.append("chain \(ch.id): \(ds)") }
            }
            return mismatch.isEmpty
        }, "replicas differ after repair: \(mismatch.prefix(2))")
    }

    func checkHistory(_ c: LocalCluster, during fault: () throws -> Void) throws {
        let master = c.masterAddress
        let recorder = HistoryRecorder()
        let stop = Locked(false)
        let group = DispatchGroup()
        @Sendable func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        for t in 0..<3 {
            DispatchQueue.global().async(group: group) {
                guard let client = try? ClusterClient(master: master) else { return }
                client.retryBudgetMs = 4000
                var rng = SystemRandomNumberGenerator()
                var i = 0
                while !stop.value && i < 4000 {
                    let key = "lin:\(Int.random(in: 0..<3, using: &rng))"
                    let start = now()
                    if Bool.random(using: &rng) {
                        let value = "\(t)-\(i)"
                        let r = try? client.execute("SET", key, value)
                        recorder.record(HistoryOp(client: t, key: Array(key.utf8), kind: .write(Array(value.utf8)),
                                                  invoked: start, completed: r == .simple("OK") ? now() : nil))
                    } else {
                        switch try? client.execute("GET", key) {
                        case let .bulk(b)?:
                            recorder.record(HistoryOp(client: t, key: Array(key.utf8), kind: .read(b), invoked: start, completed: now()))
                        default:
                            break  // an unknown read outcome says nothing
                        }
                    }
                    i += 1
                }
            }
        }
        try fault()
        stop.mutate { $0 = true }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        let history = recorder.history
        XCTAssertGreaterThan(history.count, 100)
        // The slowest completed operation: how long the fault kept a client waiting (its chain
        // was unavailable at least that long minus one round trip).
        let longest = history.compactMap { op in op.completed.map { Double($0 - op.invoked) / 1e9 } }.max() ?? 0
        print("lincheck: \(history.count) operations recorded; longest operation \(String(format: "%.2f", longest)) s")
        let verdict = LinearizabilityChecker.check(history)
        guard verdict == .linearizable else {
            if case let .violation(key, ops, reason) = verdict {
                return XCTFail("not linearizable on \(String(decoding: key, as: UTF8.self)): \(reason)\n" + ops.map(\.description).joined(separator: "\n"))
            }
            return XCTFail("checker gave up: \(verdict)")
        }
    }
}
