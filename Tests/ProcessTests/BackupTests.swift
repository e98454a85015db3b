import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// `chainctl backup` and `chainctl restore` against real clusters: a backup taken under writes
/// restores into a fresh cluster of another layout with every key, field and expiry; bad backups
/// and non-empty targets are refused before anything is written; a full disk, a vanished
/// directory and a dead tail each end the way an operator needs.
final class BackupTests: ClusterTestCase {
    private func write(_ smart: ClusterClient, _ args: String...) throws {
        let r = try smart.execute(args.map { Array($0.utf8) })
        if case let .error(e) = r { XCTFail("\(args): \(e)") }
    }

    private func backup(_ c: LocalCluster, _ args: [String], timeout: Double = 60) throws -> (code: Int32, out: String, err: String) {
        try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress, "backup"] + args, timeout: timeout)
    }

    private func restore(_ c: LocalCluster, _ args: [String], timeout: Double = 90) throws -> (code: Int32, out: String, err: String) {
        try Harness.run(Harness.binary("chainctl"), ["--master", c.masterAddress, "restore"] + args, timeout: timeout)
    }

    private func liveKeys(_ c: LocalCluster) throws -> Int {
        var total = 0
        for n in c.nodes.keys {
            let r = try HTTPClient.get(host: "127.0.0.1", port: c.ports[n]!.http, path: "/digests")
            let list = try JSONDecoder().decode([LocalCluster.Digest].self, from: Data(r.body))
            let tails = try c.status().chains.filter { $0.members.last == n }.map(\.id)
            total += list.filter { tails.contains($0.id) }.reduce(0) { $0 + $1.keys }
        }
        return total
    }

    func testBackupUnderWritesRestoresIntoAnotherLayout() throws {
        let a = try LocalCluster.start(label: "backup-a")
        cluster = a
        let smart = try a.smartClient()
        for i in 0..<400 { try write(smart, "SET", "k\(i)", "value-\(i)") }
        try write(smart, "SET", "ttl", "soon-gone-later", "PX", "600000")
        try write(smart, "SET", "expired", "x", "PX", "1")
        for h in 0..<10 { for f in 0..<(h + 1) { try write(smart, "HSET", "h\(h)", "f\(f)", "\(h)-\(f)") } }
        try write(smart, "PEXPIRE", "h3", "900000")
        XCTAssertEqual(try smart.execute([Array("SET".utf8), Array("bin".utf8), [0, 1, 2, 255, 13, 10]]), .simple("OK"))

        // A writer keeps going through the whole backup; every write it had acknowledged before
        // the backup started must be in it.
        let stop = Locked(false)
        let acked = Locked<[Int]>([])
        let master = a.masterAddress
        let writer = Thread {
            guard let w = try? ClusterClient(master: master) else { return }
            var i = 0
            while !stop.value {
                if (try? w.execute("SET", "live\(i)", "x")) == .simple("OK") { acked.mutate { $0.append(i) } }
                i += 1
            }
        }
        writer.start()
        XCTAssert(Harness.waitFor(10) { acked.value.count > 20 })
        let before = acked.value
        let dir = Harness.tempDir("backup") + "/b1"
        let b = try backup(a, [dir])
        stop.mutate { $0 = true }
        XCTAssertEqual(b.code, 0, b.err + a.logs())
        XCTAssert(b.out.contains("backup of 12 chains"), b.out)
        let manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
        XCTAssertEqual(manifest.chains.count, 12)
        XCTAssertNil(manifest.problem)
        XCTAssertEqual(Set(manifest.chains.map(\.epoch)), [try a.status().epoch])
        let check = try restore(a, [dir, "--check-only"])
        XCTAssertEqual(check.code, 0, check.err)
        XCTAssert(check.out.contains("every file matches its manifest"), check.out)

        // Into a fresh cluster of 5 chains.
        let fresh = try LocalCluster.start(label: "backup-b", chains: 5)
        defer { fresh.shutdown() }
        let r = try restore(fresh, [dir])
        XCTAssertEqual(r.code, 0, r.out + r.err + fresh.logs())
        XCTAssert(r.out.contains("restored cluster matches the backup"), r.out)
        let c = try fresh.smartClient()
        for i in 0..<400 { XCTAssertEqual(try c.execute("GET", "k\(i)"), .bulk(Array("value-\(i)".utf8)), "k\(i)") }
        for i in before { XCTAssertEqual(try c.execute("GET", "live\(i)"), .bulk(Array("x".utf8)), "live\(i) was acknowledged before the backup") }
        XCTAssertEqual(try c.execute("GET", "expired"), .bulk(nil))
        XCTAssertEqual(try c.execute("GET", "bin"), .bulk([0, 1, 2, 255, 13, 10]))
        guard case let .integer(ttl) = try c.execute("PTTL", "ttl") else { return XCTFail("PTTL") }
        XCTAssert(ttl > 500_000 && ttl <= 600_000, "ttl \(ttl)")
        guard case let .integer(httl) = try c.execute("PTTL", "h3") else { return XCTFail("PTTL") }
        XCTAssert(httl > 800_000 && httl <= 900_000, "h3 ttl \(httl)")
        guard case let .integer(nottl) = try c.execute("PTTL", "h4") else { return XCTFail("PTTL") }
        XCTAssertEqual(nottl, -1)
        for h in 0..<10 {
            XCTAssertEqual(try c.execute("HLEN", "h\(h)"), .integer(Int64(h + 1)))
            XCTAssertEqual(try c.execute("HGET", "h\(h)", "f\(h)"), .bulk(Array("\(h)-\(h)".utf8)))
        }
        // Restoring again is refused: the cluster is not empty any more.
        let again = try restore(fresh, [dir])
        XCTAssertEqual(again.code, 1)
        XCTAssert(again.err.contains("not empty"), again.err)
    }

    func testCorruptBackupsAndBadTargetsAreRefusedBeforeAnyWrite() throws {
        let c = try LocalCluster.start(label: "backup-bad")
        cluster = c
        let smart = try c.smartClient()
        for i in 0..<200 { try write(smart, "SET", "k\(i)", "v\(i)") }
        let root = Harness.tempDir("backup-bad")
        let good = root + "/good"
        XCTAssertEqual(try backup(c, [good]).code, 0)

        // --json prints the manifest written.
        let asJSON = try backup(c, [root + "/json", "--json"])
        XCTAssertEqual(asJSON.code, 0, asJSON.err)
        let printed = try JSONDecoder().decode(BackupManifest.self, from: Data(asJSON.out.utf8))
        XCTAssertEqual(printed, try JSONDecoder().decode(BackupManifest.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/json/manifest.json"))))
        XCTAssertEqual(printed.chains.reduce(0) { $0 + $1.keys }, 200)

        // Where a backup may not go.
        let notEmpty = try backup(c, [good])
        XCTAssertEqual(notEmpty.code, 1)
        XCTAssert(notEmpty.err.contains("is not empty"), notEmpty.err)
        _ = FileManager.default.createFile(atPath: root + "/plain", contents: Data("x".utf8))
        let file = try backup(c, [root + "/plain"])
        XCTAssertEqual(file.code, 1)
        XCTAssert(file.err.contains("not a directory"), file.err)
        XCTAssertEqual(try backup(c, [root + "/x", "--max-rate", "-1"]).code, 64)

        // Into the cluster that still holds the keys.
        let full = try restore(c, [good])
        XCTAssertEqual(full.code, 1)
        XCTAssert(full.err.contains("not empty (it holds 200 keys)"), full.err)

        XCTAssertEqual(try smart.execute("FLUSHALL"), .simple("OK"))
        XCTAssert(Harness.waitFor(10) { (try? self.liveKeys(c)) == 0 })
        func corrupted(_ name: String, _ damage: (String) throws -> Void, says: String) throws {
            let dir = root + "/" + name
            try FileManager.default.copyItem(atPath: good, toPath: dir)
            try damage(dir)
            let r = try restore(c, [dir])
            XCTAssertEqual(r.code, 1, name)
            XCTAssert(r.err.contains(says), "\(name): \(r.err)")
            XCTAssertEqual(try liveKeys(c), 0, "\(name): nothing may be written")
        }
        let chain3 = "/" + BackupFormat.chainFileName(3)
        try corrupted("flipped", { dir in
            var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + chain3))
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: dir + chain3))
        }, says: "SHA-256")
        try corrupted("truncated", { dir in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + chain3))
            try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: dir + chain3))
        }, says: "bytes, the manifest says")
        try corrupted("missing", { try FileManager.default.removeItem(atPath: $0 + chain3) }, says: "is missing")
        try corrupted("no-manifest", { try FileManager.default.removeItem(atPath: $0 + "/manifest.json") }, says: "no manifest.json")
        try corrupted("bad-manifest", { try Data("{\"format\": 1,".utf8).write(to: URL(fileURLWithPath: $0 + "/manifest.json")) }, says: "does not parse")
        // A file swapped for another chain's, manifest entry and all: the keys are in the wrong chain.
        try corrupted("swapped", { dir in
            let chain4 = "/" + BackupFormat.chainFileName(4)
            try FileManager.default.removeItem(atPath: dir + chain3)
            try FileManager.default.copyItem(atPath: dir + chain4, toPath: dir + chain3)
            var m = try JSONDecoder().decode(BackupManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
            let four = m.chains[4]
            m.chains[3] = BackupManifest.Chain(id: 3, file: BackupFormat.chainFileName(3), node: four.node, epoch: four.epoch,
                                               applied_seq: four.applied_seq, applied_epoch: four.applied_epoch, taken_at_ms: four.taken_at_ms,
                                               keys: four.keys, records: four.records, bytes: four.bytes, sha256: four.sha256, digest: four.digest)
            try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        }, says: "outside chain 3")

        // CS.BACKUP itself refuses bad requests with clear errors.
        let n1 = try c.client("n1")
        let mine = try c.status().chains.filter { $0.members.last == "n1" }.map(\.id)
        guard case let .array(opened?) = try n1.call((["CS.BACKUP", "OPEN"] + mine.map(String.init)).map { Array($0.utf8) }), case let .bulk(id?) = opened[0] else {
            return XCTFail("n1 did not open a snapshot of the chains it tails")
        }
        let snapshot = String(decoding: id, as: UTF8.self)
        let other = try c.status().chains.first { $0.members.last != "n1" }!.id
        for (args, says) in [(["CS.BACKUP"], "CS.BACKUP OPEN chain"), (["CS.BACKUP", "OPEN", "x"], "needs chain numbers"),
                             (["CS.BACKUP", "OPEN", "99"], "no chain 99"),
                             (["CS.BACKUP", "READ", "nope", "0", "", "65536"], "no backup snapshot"),
                             (["CS.BACKUP", "READ", snapshot, "\(other)", "", "65536"], "was not opened for chain"),
                             (["CS.BACKUP", "READ", snapshot, "\(mine[0])", "", "12"], "max-bytes"),
                             (["CS.BACKUP", "READ", snapshot, "\(mine[0])", "zz", "65536"], "invalid CS.BACKUP cursor"),
                             (["CS.DIGEST", "LIVE"], "CS.DIGEST ALL|LIVE"), (["CS.DIGEST", "SOME", "0"], "CS.DIGEST ALL|LIVE"),
                             (["CS.DIGEST", "LIVE", "x"], "needs chain numbers"), (["CS.DIGEST", "ALL", "\(other)"], "TRYAGAIN")] {
            guard case let .error(e) = try n1.call(args.map { Array($0.utf8) }) else { XCTFail("\(args) was accepted"); continue }
            XCTAssert(e.contains(says), "\(args): \(e)")
        }
        // A chain this node does not tail answers TRYAGAIN, also among chains it does.
        guard case let .error(e) = try n1.call("CS.BACKUP", "OPEN", String(mine[0]), String(other)) else { return XCTFail("a non-tail opened a backup") }
        XCTAssert(e.hasPrefix("TRYAGAIN"), e)
        XCTAssertEqual(try n1.call("CS.BACKUP", "CLOSE", snapshot), .simple("OK"))
        guard case let .error(gone) = try n1.call("CS.BACKUP", "READ", snapshot, String(mine[0]), "", "65536") else { return XCTFail("read after close") }
        XCTAssert(gone.contains("no backup snapshot"), gone)
        XCTAssertEqual(try n1.call("PING"), .simple("PONG"))

        // The good backup still restores.
        let r = try restore(c, [good])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try smart.execute("GET", "k42"), .bulk(Array("v42".utf8)))
    }

    /// 2,000 keys of 1 KB: about 2 MB to copy.
    private func load2MB(_ c: LocalCluster) throws {
        let smart = try c.smartClient()
        let value = String(repeating: "v", count: 1000)
        for i in 0..<2000 { try write(smart, "SET", "big\(i)", value) }
    }

    func testFullDiskAndVanishedDirectoryFailCleanly() throws {
        let c = try LocalCluster.start(label: "backup-fail")
        cluster = c
        try load2MB(c)

        let mountPoint = Harness.tempDir("backup-tmpfs")
        let m = try Harness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint])
        if m.code == 0 {
            defer { _ = try? Harness.run("/bin/umount", ["-l", mountPoint]) }
            let r = try backup(c, [mountPoint + "/b"])
            XCTAssertEqual(r.code, 1, r.out)
            XCTAssert(r.err.contains("No space left on device"), r.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: mountPoint + "/b"), "a failed backup leaves nothing behind")
        } else {
            print("skipping the full-disk half: cannot mount a tmpfs here (not root?): \(m.err)")
        }

        // The directory removed while the backup runs (paced to take about 4 s).
        let dir = Harness.tempDir("backup-gone") + "/b"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary("chainctl"))
        p.arguments = ["--master", c.masterAddress, "backup", dir, "--max-rate", "0.5"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        XCTAssert(Harness.waitFor(10) { FileManager.default.fileExists(atPath: dir + "/" + BackupFormat.chainFileName(1)) })
        // (rm -rf: Foundation's removal can trip over a file being written meanwhile.)
        XCTAssertEqual(try Harness.run("/bin/rm", ["-rf", dir]).code, 0)
        XCTAssert(Harness.waitFor(30) { !p.isRunning }, "the backup did not end")
        if p.isRunning { p.terminate() }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1, text)
        XCTAssert(text.contains("No such file or directory"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
    }

    func testBackupCarriesOnWhenATailDies() throws {
        let c = try LocalCluster.start(label: "backup-kill", nodes: 4)
        cluster = c
        try load2MB(c)
        let dir = Harness.tempDir("backup-kill") + "/b"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary("chainctl"))
        p.arguments = ["--master", c.masterAddress, "backup", dir, "--max-rate", "0.5"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Once data flows from the first tail, kill a node whose chains are not copied yet.
        let status = try c.status()
        let first = status.chains[0].members.last!
        // The tail of chain 1 is the next node the copy goes to (it takes the nodes in the order
        // of their first chains), so it usually finds it dead before the master has spliced it.
        let victim = status.chains[1].members.last != first ? status.chains[1].members.last!
            : ["n1", "n2", "n3", "n4"].first { n in n != first && status.chains.contains { $0.members.last == n } }!
        XCTAssert(Harness.waitFor(10) {
            ((try? FileManager.default.attributesOfItem(atPath: dir + "/" + BackupFormat.chainFileName(0)))?[.size] as? Int ?? 0) > 50_000
        })
        c.nodes[victim]!.stop(SIGKILL)
        XCTAssert(Harness.waitFor(90) { !p.isRunning }, "the backup did not end")
        if p.isRunning { p.terminate() }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            + String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, text + c.logs())
        let manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json")))
        // The chains the dead node had tailed came from their new tails, in a later epoch.
        XCTAssert(manifest.chains.contains { $0.epoch > status.epoch }, "the copy did not follow the new table: " + text)
        XCTAssertEqual(manifest.chains.reduce(0) { $0 + $1.keys }, 2000)

        XCTAssertFalse(manifest.chains.contains { $0.node == victim && $0.epoch > status.epoch }, "nothing came from the dead node later")
        // Back into the same (emptied) cluster, now without the dead node.
        XCTAssertEqual(try c.smartClient().execute("FLUSHALL"), .simple("OK"))
        let r = try restore(c, [dir])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssert(r.out.contains("2000 keys"), r.out)
    }
}
