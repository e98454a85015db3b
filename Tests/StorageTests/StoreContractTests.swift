import Foundation
import XCTest
@testable import Storage
#if canImport(Glibc)
import Glibc
#endif

/// The `KVStore` contract, run against RocksDB (both memtable kinds) and the in-memory store.
final class StoreContractTests: XCTestCase {
    private var dirs: [String] = []

    override func tearDown() {
        for d in dirs { _ = try? FileManagerLite.removeTree(d) }
        dirs.removeAll()
    }

    private func tempDir() -> String {
        var template = Array("/tmp/chainstore-store-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        dirs.append(p)
        return p
    }

    private func stores() throws -> [(String, any KVStore)] {
        [("rocksdb", try RocksStore(path: tempDir())),
         ("rocksdb-hashed", try RocksStore(path: tempDir(), hashPrefixLength: 5)),
         ("rocksdb-no-log", try RocksStore(path: tempDir(), hashPrefixLength: 5, writeAheadLog: false)),
         ("memory", MemoryStore())]
    }

    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testPutGetDelete() throws {
        for (name, s) in try stores() {
            XCTAssertNil(try s.get(b("key-a")), name)
            try s.put(b("key-a"), b("1"))
            try s.put(b("key-b"), [])
            XCTAssertEqual(try s.get(b("key-a")), b("1"), name)
            XCTAssertEqual(try s.get(b("key-b")), [], "\(name): empty value is not missing")
            try s.delete(b("key-a"))
            XCTAssertNil(try s.get(b("key-a")), name)
            let binary: [UInt8] = [0, 1, 2, 255, 0, 13, 10]
            try s.put(binary, binary)
            XCTAssertEqual(try s.get(binary), binary, name)
        }
    }

    func testBatchIsAtomicAndOrdered() throws {
        for (name, s) in try stores() {
            var batch = WriteBatch()
            batch.put(b("key-1"), b("a"))
            batch.put(b("key-1"), b("b"))
            batch.put(b("key-2"), b("c"))
            batch.delete(b("key-2"))
            batch.put(b("key-3"), b("d"))
            try s.write(batch, sync: true)
            XCTAssertEqual(try s.get(b("key-1")), b("b"), name)
            XCTAssertNil(try s.get(b("key-2")), name)
            XCTAssertEqual(try s.get(b("key-3")), b("d"), name)
        }
    }

    /// Every kind of operation with slice lengths at each width of their varint length (1 to 4
    /// bytes: 0, 127, 128, 16,383, 16,384, 2 MiB): RocksDB reads back what the batch encoding
    /// (`BatchEncoding`) wrote, in order.
    func testBatchesOfEverySliceWidth() throws {
        let sizes = [0, 1, 127, 128, 16_383, 16_384, 2 << 20]
        func value(_ n: Int, _ seed: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) } }
        for (name, s) in try stores() {
            var batch = WriteBatch()
            var want: [[UInt8]: [UInt8]?] = [:]
            for (i, n) in sizes.enumerated() {
                let plain = b("plain-\(i)-") + value(min(n, 100_000), i)
                batch.put(plain, value(n, i))
                want[plain] = value(n, i)
                let prefix = KeyPrefix(packed: 0x7078_0000_0000_0000 | UInt64(i) << 40, count: 3)
                let rest = b("--") + value(min(n, 100_000), i + 1)
                batch.put(prefix: prefix, rest, value(n, i + 7))
                want[prefix.key(rest)] = value(n, i + 7)
                if i % 2 == 0 {
                    batch.delete(plain)
                    want[plain] = .some(nil)
                    batch.delete(prefix: prefix, rest)
                    want[prefix.key(rest)] = .some(nil)
                }
            }
            batch.put(b("range-a"), b("x"))
            batch.put(b("range-b"), b("y"))
            batch.deleteRange(from: b("range-a"), to: b("range-b"))
            want[b("range-a")] = .some(nil)
            want[b("range-b")] = b("y")
            try s.write(batch, sync: false)
            for (k, v) in want { XCTAssertEqual(try s.get(k), v, "\(name): key of \(k.count) bytes") }
        }
    }

    /// What the batch encoding refuses before RocksDB sees it: a key shorter than the hash
    /// prefix (not a range deletion's bound), and a slice over the format's limit (4 GiB; a
    /// smaller limit stands in for it here). A batch it accepts is measured to the byte.
    func testBatchEncodingRefusesWhatItCannotWrite() {
        func measure(_ batch: WriteBatch, minimum: Int = 5, maxSlice: Int = 100) -> BatchEncoding.Measure {
            batch.ops.withUnsafeBufferPointer { BatchEncoding.measure($0, minimumKeyLength: minimum, maxSlice: maxSlice) }
        }
        var short = WriteBatch()
        short.put(b("long-key"), b("v"))
        short.delete(b("abc"))
        XCTAssertEqual(measure(short), .keyTooShort(length: 3))
        var range = WriteBatch()
        range.deleteRange(from: b("a"), to: b("b"))
        XCTAssertEqual(measure(range), .bytes(12 + 1 + 2 + 2))
        var big = WriteBatch()
        big.put(b("key-1"), [UInt8](repeating: 7, count: 101))
        XCTAssertEqual(measure(big), .sliceTooLarge(length: 101))
        var bigKey = WriteBatch()
        bigKey.put(prefix: KeyPrefix(packed: 0, count: 5), [UInt8](repeating: 1, count: 96), b("v"))
        XCTAssertEqual(measure(bigKey), .sliceTooLarge(length: 101))
        var fits = WriteBatch()
        fits.put(b("key-1"), [UInt8](repeating: 7, count: 100))
        fits.delete(prefix: KeyPrefix(packed: 0, count: 3), b("xy"))
        XCTAssertEqual(measure(fits), .bytes(12 + (1 + 6 + 101) + (1 + 6)))
    }

    /// A key given as a packed prefix plus the rest (the node's data keys) is the same key as
    /// the two joined: put, overwritten and deleted either way, in batch order.
    func testPrefixedKeysAreTheJoinedKey() throws {
        let prefix = KeyPrefix(packed: UInt64(0x64_01_02_03_04) << 24, count: 5)  // "d" 1 2 3 4
        let whole: [UInt8] = [0x64, 1, 2, 3, 4] + b("user")
        XCTAssertEqual(prefix.key(b("user")), whole)
        XCTAssertEqual(KeyPrefix(packed: 0, count: 0).key(b("ab")), b("ab"))
        for (name, s) in try stores() {
            var batch = WriteBatch()
            batch.put(prefix: prefix, b("user"), b("one"))
            batch.put(prefix: prefix, b("other"), b("two"))
            batch.put(whole, b("three"))
            batch.delete(prefix: prefix, b("other"))
            XCTAssertEqual(batch.byteCount, (5 + 4 + 3) + (5 + 5 + 3) + (9 + 5) + (5 + 5), name)
            try s.write(batch, sync: false)
            XCTAssertEqual(try s.get(whole), b("three"), name)
            XCTAssertNil(try s.get(prefix.key(b("other"))), name)
            var more = WriteBatch()
            more.put(prefix: prefix, b("user"), b("four"))
            XCTAssertTrue(try s.writeWithoutStall(more), name)
            XCTAssertEqual(try s.get(whole), b("four"), name)
        }
    }

    /// A prefixed key shorter than the hashed memtable's prefix is refused like any short key,
    /// and the batch holding it writes nothing.
    func testHashedStoreRefusesShortPrefixedKeys() throws {
        let s = try RocksStore(path: tempDir(), hashPrefixLength: 5)
        var batch = WriteBatch()
        batch.put(b("key-ok"), b("v"))
        batch.put(prefix: KeyPrefix(packed: UInt64(0x64) << 56, count: 1), b("ab"), b("v"))
        XCTAssertThrowsError(try s.write(batch, sync: false)) { XCTAssertEqual($0 as? StoreError, .keyTooShort(length: 3, minimum: 5)) }
        XCTAssertNil(try s.get(b("key-ok")), "nothing of a refused batch is written")
        var delete = WriteBatch()
        delete.delete(prefix: KeyPrefix(packed: UInt64(0x64) << 56, count: 1), [])
        XCTAssertThrowsError(try s.write(delete, sync: false)) { XCTAssertEqual($0 as? StoreError, .keyTooShort(length: 1, minimum: 5)) }
    }

    /// An emptied batch is empty; one that held a bulk copy does not keep its room.
    func testEmptiedBatchStartsOver() {
        var batch = WriteBatch()
        for i in 0..<5000 { batch.put(b("key-\(i)"), []) }
        batch.removeAll()
        XCTAssertTrue(batch.isEmpty)
        XCTAssertEqual(batch.byteCount, 0)
        batch.put(b("key-a"), b("v"))
        XCTAssertEqual(batch.ops, [.put(key: b("key-a"), value: b("v"))])
        XCTAssertEqual(batch.byteCount, 6)
    }

    /// The loop's own write (memory durability): applied at once when the store need not wait.
    func testWriteWithoutStallAppliesTheBatch() throws {
        for (name, s) in try stores() {
            var batch = WriteBatch()
            batch.put(b("key-4"), b("x"))
            batch.deleteRange(from: b("key-5"), to: b("key-6"))
            XCTAssertTrue(try s.writeWithoutStall(batch), name)
            XCTAssertEqual(try s.get(b("key-4")), b("x"), name)
        }
    }

    func testPrefixScanAndDeleteRange() throws {
        for (name, s) in try stores() {
            var batch = WriteBatch()
            for i in 0..<50 { batch.put(b("aaaa\(i)"), b("v\(i)")) }
            for i in 0..<5 { batch.put(b("bbbb\(i)"), b("w\(i)")) }
            try s.write(batch, sync: false)
            let all = try s.entries(prefix: b("aaaa"))
            XCTAssertEqual(all.count, 50, name)
            XCTAssertEqual(all.map(\.0), all.map(\.0).sorted { $0.lexicographicallyPrecedes($1) }, "\(name): in key order")
            XCTAssertEqual(try s.entries(prefix: b("bbbb")).count, 5, name)
            var seen = 0
            try s.scan(prefix: b("aaaa"), from: b("aaaa3"), at: nil) { _, _ in seen += 1; return seen < 3 }
            XCTAssertEqual(seen, 3, "\(name): stops when asked")
            var range = WriteBatch()
            range.deleteRange(from: b("aaaa"), to: prefixUpperBound(b("aaaa"))!)
            try s.write(range, sync: false)
            XCTAssertEqual(try s.entries(prefix: b("aaaa")).count, 0, name)
            XCTAssertEqual(try s.entries(prefix: b("bbbb")).count, 5, name)
        }
    }

    /// Many keys under one hash prefix (a large hash's fields share theirs): the hashed
    /// memtable's bucket outgrows its list and becomes a skip list (at 256 entries); gets,
    /// overwrites, deletes and ordered scans from inside it stay right, before and after a
    /// reopen (a flush).
    func testManyKeysUnderOnePrefix() throws {
        let dirs = [tempDir(), tempDir()]
        for (n, dir) in dirs.enumerated() {
            var s: RocksStore? = try RocksStore(path: dir, hashPrefixLength: 5, writeAheadLog: n == 0)
            let keys = (0..<1_000).map { b("crowd" + String(format: "%04d", ($0 * 7919) % 1_000)) }
            for (i, k) in keys.enumerated() { try s!.put(k, b("v\(i)")) }
            for (i, k) in keys.enumerated() where i % 3 == 0 { try s!.put(k, b("w\(i)")) }
            for (i, k) in keys.enumerated() where i % 5 == 0 { try s!.delete(k) }
            for round in 0..<2 {
                let label = "log \(n == 0), round \(round)"
                for (i, k) in keys.enumerated() {
                    let want: [UInt8]? = i % 5 == 0 ? nil : i % 3 == 0 ? b("w\(i)") : b("v\(i)")
                    XCTAssertEqual(try s!.get(k), want, label)
                }
                let all = try s!.entries(prefix: b("crowd"))
                XCTAssertEqual(all.count, 800, label)
                XCTAssertEqual(all.map(\.0), all.map(\.0).sorted { $0.lexicographicallyPrecedes($1) }, "\(label): in key order")
                var from: [[UInt8]] = []
                try s!.scan(prefix: b("crowd"), from: b("crowd0500"), at: nil) { k, _ in from.append(k); return from.count < 10 }
                XCTAssertEqual(from, all.map(\.0).filter { !$0.lexicographicallyPrecedes(b("crowd0500")) }.prefix(10).map { $0 }, label)
                s!.close()
                s = nil
                s = try RocksStore(path: dir, hashPrefixLength: 5, writeAheadLog: n == 0)
            }
            s!.close()
        }
    }

    func testSnapshotIsStable() throws {
        for (name, s) in try stores() {
            try s.put(b("key-k"), b("old"))
            let snap = s.snapshot()
            try s.put(b("key-k"), b("new"))
            try s.put(b("key-n"), b("x"))
            XCTAssertEqual(try s.get(b("key-k"), at: snap), b("old"), name)
            XCTAssertNil(try s.get(b("key-n"), at: snap), name)
            XCTAssertEqual(try s.entries(prefix: b("key-"), at: snap).count, 1, name)
            XCTAssertEqual(try s.get(b("key-k")), b("new"), name)
        }
    }

    /// A cursor walks in key order from any start, again and again, showing the store as it
    /// was when made; closing the store releases it.
    func testCursorAtASnapshotSeesTheSnapshotNotLaterWrites() throws {
        for (name, s) in try stores() {
            for k in ["key-a", "key-b"] { try s.put(b(k), b("v" + k)) }
            let snap = s.snapshot()
            try s.put(b("key-c"), b("after"))
            try s.delete(b("key-a"))
            // Made after those writes, it still shows the store as the snapshot does.
            let c = try s.makeCursor(at: snap)
            var seen: [String] = []
            try c.scan(prefix: b("key-"), from: b("key-")) { k, _ in
                seen.append(String(decoding: k, as: UTF8.self))
                return true
            }
            XCTAssertEqual(seen, ["key-a", "key-b"], name)
            // The same walk over the store's own bytes.
            var pairs: [String] = []
            try c.scanBytes(prefix: b("key-"), from: b("key-b")) { k, v in
                pairs.append(String(decoding: k, as: UTF8.self) + "=" + String(decoding: v, as: UTF8.self))
                return true
            }
            XCTAssertEqual(pairs, ["key-b=vkey-b"], name)
            if let rocks = s as? RocksStore { rocks.close() }
        }
    }

    func testCursorSeeksRepeatedlyOnItsView() throws {
        for (name, s) in try stores() {
            for k in ["key-a", "key-b", "key-c", "key-d", "other"] { try s.put(b(k), b("v" + k)) }
            let c = try s.makeCursor()
            try s.put(b("key-bb"), b("later"))
            try s.delete(b("key-c"))
            func walk(from start: String, max: Int) throws -> [String] {
                var seen: [String] = []
                try c.scan(prefix: b("key-"), from: b(start)) { k, _ in
                    seen.append(String(decoding: k, as: UTF8.self))
                    return seen.count < max
                }
                return seen
            }
            XCTAssertEqual(try walk(from: "key-", max: 2), ["key-a", "key-b"], name)
            XCTAssertEqual(try walk(from: "key-b\u{0}", max: 10), ["key-c", "key-d"], "\(name): the view of when it was made")
            XCTAssertEqual(try walk(from: "key-a", max: 1), ["key-a"], "\(name): seeks back")
            if let rocks = s as? RocksStore {
                rocks.close()
                XCTAssertThrowsError(try walk(from: "key-", max: 1), name)
            }
        }
    }

    /// The hashed store's prefix extractor (its own, `chainstore_fixed_prefix_create`) decides
    /// memtable buckets and the prefix filters of table files: after a flush (a reopen), every
    /// key is found, missing keys (under a prefix that exists and under one that does not) are
    /// not, and a scan of a prefix returns exactly its keys, in order.
    func testPrefixFiltersAfterAFlush() throws {
        let dir = tempDir()
        func key(_ p: Int, _ i: Int) -> [UInt8] { b(String(format: "p%04d", p) + "-\(i)") }
        var s: RocksStore? = try RocksStore(path: dir, hashPrefixLength: 5, writeAheadLog: false)
        for p in 0..<200 where p % 2 == 0 {
            for i in 0..<5 { try s!.put(key(p, i), b("\(p).\(i)")) }
        }
        s!.close()
        s = try RocksStore(path: dir, hashPrefixLength: 5, writeAheadLog: false)
        for p in 0..<200 {
            for i in 0..<6 {
                let want: [UInt8]? = p % 2 == 0 && i < 5 ? b("\(p).\(i)") : nil
                XCTAssertEqual(try s!.get(key(p, i)), want, "p\(p)-\(i)")
            }
            let found = try s!.entries(prefix: Array(key(p, 0).prefix(5)))
            XCTAssertEqual(found.map(\.0), p % 2 == 0 ? (0..<5).map { key(p, $0) } : [], "prefix p\(p)")
        }
        s!.close()
    }

    func testReopenKeepsData() throws {
        let dir = tempDir()
        do {
            let s = try RocksStore(path: dir, hashPrefixLength: 5)
            try s.put(b("durable"), b("yes"), sync: true)
            try s.syncWAL()
            s.close()
        }
        let again = try RocksStore(path: dir, hashPrefixLength: 5)
        XCTAssertEqual(try again.get(b("durable")), b("yes"))
        XCTAssertGreaterThanOrEqual(again.estimatedKeyCount, 1)
    }

    /// Memory mode's store: unsynced writes leave RocksDB's log empty (that is the saving), and
    /// a clean close flushes them, so a graceful restart keeps everything. With the log, the
    /// same writes fill it.
    func testWithoutTheLogWritesSkipItAndCloseFlushesThem() throws {
        for log in [true, false] {
            let dir = tempDir()
            do {
                let s = try RocksStore(path: dir, hashPrefixLength: 5, writeAheadLog: log)
                for i in 0..<20 {
                    var batch = WriteBatch()
                    for j in 0..<100 { batch.put(b("key-\(i)-\(j)"), b("value-\(i)-\(j)")) }
                    try s.write(batch, sync: false)
                }
                XCTAssertTrue(try s.writeWithoutStall({ var w = WriteBatch(); w.put(b("key-last"), b("v")); return w }()))
                let logBytes = try logFileBytes(dir)
                if log {
                    XCTAssertGreaterThan(logBytes, 2000 * 20, "the log holds the writes")
                } else {
                    XCTAssertEqual(logBytes, 0, "nothing went through the log")
                }
                s.close()
            }
            let again = try RocksStore(path: dir, hashPrefixLength: 5, writeAheadLog: log)
            XCTAssertEqual(try again.get(b("key-0-0")), b("value-0-0"), "log \(log)")
            XCTAssertEqual(try again.get(b("key-19-99")), b("value-19-99"), "log \(log)")
            XCTAssertEqual(try again.get(b("key-last")), b("v"), "log \(log)")
            again.close()
        }
    }

    /// The bytes in RocksDB's write-ahead log files (`NNNNNN.log`) in `dir`.
    private func logFileBytes(_ dir: String) throws -> Int {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") && $0.first!.isNumber }
        XCTAssertFalse(names.isEmpty, "RocksDB keeps a log file open")
        return try names.reduce(0) { n, name in
            n + ((try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int) ?? 0)
        }
    }

    func testSecondOpenIsRefusedWithClearError() throws {
        let dir = tempDir()
        let first = try RocksStore(path: dir)
        XCTAssertThrowsError(try RocksStore(path: dir)) { error in
            XCTAssertEqual(error as? StoreError, .locked(path: dir))
            XCTAssert("\(error)".contains("in use by another process"))
        }
        first.close()
    }

    func testUnusableDirectory() throws {
        let dir = tempDir()
        let file = dir + "/plain-file"
        let fd = open(file, O_CREAT | O_WRONLY, 0o644)
        close(fd)
        XCTAssertThrowsError(try RocksStore(path: file)) { error in
            guard case .unusableDirectory = error as? StoreError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try RocksStore(path: file + "/sub")) { error in
            guard case .unusableDirectory = error as? StoreError else { return XCTFail("\(error)") }
        }
    }

    func testHashedStoreRefusesShortKeys() throws {
        let s = try RocksStore(path: tempDir(), hashPrefixLength: 5)
        XCTAssertThrowsError(try s.put(b("abc"), b("v"))) { XCTAssertEqual($0 as? StoreError, .keyTooShort(length: 3, minimum: 5)) }
        XCTAssertThrowsError(try s.get(b("ab")))
    }

    func testClosedStoreFails() throws {
        let s = try RocksStore(path: tempDir())
        s.close()
        XCTAssertThrowsError(try s.get(b("key-x"))) { XCTAssertEqual($0 as? StoreError, .closed) }
    }
}

/// Recursive removal without Foundation.
enum FileManagerLite {
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR, let d = opendir(path) {
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                if name == "." || name == ".." { continue }
                try removeTree(path + "/" + name)
            }
            closedir(d)
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
