import XCTest
@testable import ChainCore

/// The backup's file format, its manifest checks, and the content sums a restore is checked by.
final class BackupFormatTests: XCTestCase {
    private func sampleRecords() -> [([UInt8], [UInt8])] {
        var out: [([UInt8], [UInt8])] = []
        for i in 0..<50 { out.append((KeyLayout.dataKey(Array("k\(i)".utf8)), Array(StoredValue(payload: Array("v\(i)".utf8)).raw))) }
        out.append((KeyLayout.dataKey(Array("h".utf8)), Array(StoredValue.hash(fields: 2).raw)))
        out.append((KeyLayout.fieldKey(Array("h".utf8), Array("a".utf8)), Array("1".utf8)))
        out.append((KeyLayout.fieldKey(Array("h".utf8), []), Array(repeating: 7, count: 3000)))
        return out
    }

    private func file(_ records: [([UInt8], [UInt8])]) -> [UInt8] {
        var bytes = BackupFormat.magic
        for (k, v) in records { BackupFormat.appendRecord(key: k, value: v, to: &bytes) }
        return bytes
    }

    func testRecordsSurviveAnyChunking() throws {
        let records = sampleRecords()
        let bytes = file(records)
        for chunk in [1, 3, 7, 64, 4096, bytes.count] {
            var r = BackupFormat.RecordReader()
            var got: [([UInt8], [UInt8])] = []
            var i = 0
            while i < bytes.count {
                r.feed(bytes[i..<min(i + chunk, bytes.count)])
                i += chunk
                while let x = try r.next() { got.append(x) }
            }
            try r.finish()
            XCTAssertEqual(got.map(\.0), records.map(\.0), "chunk \(chunk)")
            XCTAssertEqual(got.map(\.1), records.map(\.1), "chunk \(chunk)")
        }
    }

    func testDamagedFilesAreReportedNotTrusted() {
        let bytes = file(sampleRecords())
        func read(_ b: [UInt8]) throws(BackupFormat.ReadError) {
            var r = BackupFormat.RecordReader()
            r.feed(b)
            while try r.next() != nil {}
            try r.finish()
        }
        XCTAssertThrowsError(try read(Array(bytes.dropLast(5)))) { XCTAssertEqual($0 as? BackupFormat.ReadError, .truncated(offset: bytes.count - 8 - 3000 - KeyLayout.fieldKey(Array("h".utf8), []).count)) }
        XCTAssertThrowsError(try read([])) { XCTAssertEqual($0 as? BackupFormat.ReadError, .truncated(offset: 0)) }
        XCTAssertThrowsError(try read(Array("not a backup at all, no sir\n".utf8))) { XCTAssertEqual($0 as? BackupFormat.ReadError, .badMagic) }
        var huge = BackupFormat.magic + [0x7f, 0xff, 0xff, 0xff]
        huge += [UInt8](repeating: 0, count: 16)
        XCTAssertThrowsError(try read(huge)) { XCTAssertEqual($0 as? BackupFormat.ReadError, .oversized(offset: BackupFormat.magic.count, length: 0x7fff_ffff)) }
        var meta = BackupFormat.magic
        BackupFormat.appendRecord(key: KeyLayout.metaKey("node/config"), value: [1], to: &meta)
        XCTAssertThrowsError(try read(meta)) { XCTAssertEqual($0 as? BackupFormat.ReadError, .notChainData(offset: BackupFormat.magic.count)) }
        // Random damage never crashes the reader.
        var rng = SeededRandom(seed: 7)
        for _ in 0..<500 {
            var b = bytes
            for _ in 0..<3 { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? read(b)
        }
    }

    func testFieldKeysSplitBackIntoKeyAndField() {
        for (key, field) in [("h", "a"), ("", "x"), ("with:colon", ""), (String(repeating: "k", count: 300), "f")] {
            let parts = KeyLayout.fieldParts(fromFieldKey: KeyLayout.fieldKey(Array(key.utf8), Array(field.utf8)))
            XCTAssertEqual(parts?.key, Array(key.utf8))
            XCTAssertEqual(parts?.field, Array(field.utf8))
        }
        XCTAssertNil(KeyLayout.fieldParts(fromFieldKey: KeyLayout.dataKey(Array("h".utf8))))
        var short = KeyLayout.fieldPrefix(Array("abc".utf8))
        short.removeLast()
        XCTAssertNil(KeyLayout.fieldParts(fromFieldKey: short))
    }

    func testContentDigestIgnoresOrderAndCountsOnlyKeys() {
        let records = sampleRecords()
        var a = ContentDigest(), b = ContentDigest()
        for (k, v) in records { a.add(storeKey: k, value: v) }
        for (k, v) in records.reversed() { b.add(storeKey: k, value: v) }
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.keys, 51)
        var c = ContentDigest()
        for (k, v) in records.dropLast() { c.add(storeKey: k, value: v) }
        XCTAssertNotEqual(c.digest, a.digest, "a missing field changes the digest")
        var halves = ContentDigest(), second = ContentDigest()
        for (k, v) in records.prefix(20) { halves.add(storeKey: k, value: v) }
        for (k, v) in records.dropFirst(20) { second.add(storeKey: k, value: v) }
        halves.merge(second)
        XCTAssertEqual(halves, a)
    }

    func testLiveContentHidesExpiredKeysAndTheirFields() {
        var live = LiveContent(nowMs: 1000)
        let h = Array("h".utf8), g = Array("g".utf8)
        XCTAssertTrue(live.isLive(storeKey: KeyLayout.dataKey(Array("s".utf8)), value: Array(StoredValue(payload: [1], expiresAtMs: 1001).raw)))
        XCTAssertFalse(live.isLive(storeKey: KeyLayout.dataKey(Array("t".utf8)), value: Array(StoredValue(payload: [1], expiresAtMs: 1000).raw)))
        XCTAssertFalse(live.isLive(storeKey: KeyLayout.dataKey(h), value: Array(StoredValue.hash(fields: 1, expiresAtMs: 999).raw)))
        XCTAssertTrue(live.isLive(storeKey: KeyLayout.dataKey(g), value: Array(StoredValue.hash(fields: 1, expiresAtMs: 5000).raw)))
        XCTAssertFalse(live.isLive(storeKey: KeyLayout.fieldKey(h, Array("f".utf8)), value: [1]))
        XCTAssertTrue(live.isLive(storeKey: KeyLayout.fieldKey(g, Array("f".utf8)), value: [1]))
    }

    func testManifestProblems() {
        func chain(_ id: Int, file: String? = nil) -> BackupManifest.Chain {
            .init(id: id, file: file ?? BackupFormat.chainFileName(id), node: "n1", epoch: 1, applied_seq: 0, applied_epoch: 0,
                  taken_at_ms: 0, keys: 0, records: 0, bytes: 0, sha256: "", digest: "0")
        }
        var m = BackupManifest(chainstore_version: "x", epoch: 1, started_at: "", finished_at: "", chains: [chain(0), chain(1)])
        XCTAssertNil(m.problem)
        XCTAssertEqual(BackupFormat.chainFileName(3), "chain-0003.data")
        m.chains = [chain(0), chain(2)]
        XCTAssertNotNil(m.problem)
        m.chains = [chain(0, file: "../../etc/passwd")]
        XCTAssertNotNil(m.problem, "a manifest may not point outside the backup")
        m.chains = []
        XCTAssertNotNil(m.problem)
        m.chains = [chain(0)]
        m.format = 2
        XCTAssertNotNil(m.problem)
    }
}
