import XCTest
import ChainCore
import Storage
@testable import ChainServer

/// The stored value format, expiry-time parsing, and the one-time conversion of older stores.
final class ExpiryUnitTests: XCTestCase {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testStoredValueRoundTrips() {
        let plain = StoredValue(payload: b("hello"))
        XCTAssertEqual(plain.raw, [0] + b("hello"))
        XCTAssertEqual(StoredValue(raw: plain.raw), plain)
        XCTAssertNil(plain.expiresAtMs)
        XCTAssert(plain.isLive(nowMs: .max))
        let timed = StoredValue(payload: b("v"), expiresAtMs: 1_700_000_000_123)
        XCTAssertEqual(timed.raw.count, 10)
        let back = StoredValue(raw: timed.raw)
        XCTAssertEqual(back?.expiresAtMs, 1_700_000_000_123)
        XCTAssertEqual(back.map { Array($0.payload) }, b("v"))
        XCTAssert(timed.isLive(nowMs: 1_700_000_000_122))
        XCTAssertFalse(timed.isLive(nowMs: 1_700_000_000_123), "gone when its time comes")
        XCTAssertEqual(StoredValue(payload: [UInt8]()).payloadCount, 0)
        XCTAssertNil(timed.withExpiry(nil).expiresAtMs)
        // Not this format: empty, unknown kind, truncated expiry.
        XCTAssertNil(StoredValue(raw: []))
        XCTAssertNil(StoredValue(raw: [7, 1, 2]))
        XCTAssertNil(StoredValue(raw: [1, 0, 0, 0]))
        XCTAssert(StoredValue.isLive(raw: [7], nowMs: 5), "unknown bytes stay visible")
    }

    /// The byte-level judgement the key counts use agrees with decoding the value: on every
    /// kind of value, on each side of its expiry, and on bytes in no known format (seeded).
    func testLivenessFromBytesAgreesWithDecoding() {
        func expected(_ raw: [UInt8], _ now: UInt64) -> StoredValue.Liveness {
            guard let v = StoredValue(raw: raw) else { return .live }
            guard v.isLive(nowMs: now) else { return .expired }
            return v.expiresAtMs == nil ? .live : .expiring
        }
        func check(_ raw: [UInt8], _ now: UInt64, file: StaticString = #filePath, line: UInt = #line) {
            let got = raw.withUnsafeBytes { StoredValue.liveness(raw: $0, nowMs: now) }
            XCTAssertEqual(got, expected(raw, now), "\(raw) at \(now)", file: file, line: line)
            XCTAssertEqual(StoredValue.isLive(raw: raw, nowMs: now), expected(raw, now) != .expired, "\(raw) at \(now)", file: file, line: line)
        }
        let t: UInt64 = 1_700_000_000_123
        let values = [
            StoredValue(payload: b("hello")).raw, StoredValue(payload: b("v"), expiresAtMs: t).raw,
            StoredValue(payload: [UInt8]()).raw, StoredValue(payload: [UInt8](), expiresAtMs: t).raw,
            StoredValue.hash(fields: 3).raw, StoredValue.hash(fields: 3, expiresAtMs: t).raw,
        ]
        for raw in values { for now in [0, t - 1, t, t + 1, .max] { check(Array(raw), now) } }
        XCTAssertEqual(StoredValue(payload: b("v"), expiresAtMs: t).raw.withUnsafeBytes { StoredValue.liveness(raw: $0, nowMs: t - 1) }, .expiring)
        XCTAssertEqual(StoredValue(payload: b("v"), expiresAtMs: t).raw.withUnsafeBytes { StoredValue.liveness(raw: $0, nowMs: t) }, .expired)
        for raw: [UInt8] in [[], [7], [7, 1, 2], [1], [1, 0, 0, 0], [2, 1], [3, 0, 0, 0, 0, 0, 0, 0, 9, 1], [0xff]] {
            check(raw, t)
        }
        var rng = SeededRandom(seed: 17)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 20)
            var raw = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if !raw.isEmpty { raw[0] = UInt8(rng.next() % 5) }
            check(raw, rng.next() % 2 == 0 ? rng.next() : t)
        }
    }

    func testExpiryArgumentsBecomeAbsoluteTimes() {
        let now: UInt64 = 1_000_000
        XCTAssertEqual(try ExpiryCommands.parse("EX", b("10"), now: now, positive: true).get(), .at(1_010_000))
        XCTAssertEqual(try ExpiryCommands.parse("PX", b("10"), now: now, positive: true).get(), .at(1_000_010))
        XCTAssertEqual(try ExpiryCommands.parse("EXAT", b("2000"), now: now, positive: true).get(), .at(2_000_000))
        XCTAssertEqual(try ExpiryCommands.parse("PXAT", b("999999"), now: now, positive: true).get(), .past)
        XCTAssertEqual(try ExpiryCommands.parse("EX", b("-3"), now: now, positive: false).get(), .past)
        XCTAssertEqual(try ExpiryCommands.parse("PX", b("0"), now: now, positive: false).get(), .past)
        XCTAssertThrowsError(try ExpiryCommands.parse("EX", b("0"), now: now, positive: true).get())
        XCTAssertThrowsError(try ExpiryCommands.parse("EX", b("1e3"), now: now, positive: true).get())
        XCTAssertThrowsError(try ExpiryCommands.parse("EX", b("9223372036854775807"), now: now, positive: false).get())
        XCTAssertThrowsError(try ExpiryCommands.parse("PX", b("9223372036854775807"), now: now, positive: false).get())
        XCTAssertEqual(ExpiryCommands.ParseError.invalidTime.text(command: "set"), "ERR invalid expire time in 'set' command")
    }

    /// A store written before values had a kind byte is converted once, chunk by chunk; a crash
    /// between chunks resumes where it stopped instead of converting a value twice.
    func testOldStoreIsConvertedOnceAndResumes() throws {
        let store = MemoryStore()
        for i in 0..<25 { try store.put(KeyLayout.dataKey(b("k\(i)")), b("v\(i)")) }
        try store.put(KeyLayout.metaKey("node/id"), b("n1"))
        // A conversion that stopped after its first chunk of 10.
        var first = WriteBatch()
        var done: [[UInt8]] = []
        try store.scan(prefix: [KeyLayout.dataTag], from: nil, at: nil) { k, v in
            first.put(k, [0] + v)
            done.append(k)
            return done.count < 10
        }
        first.put(StoreFormat.progressKey, done.last!)
        try store.write(first, sync: true)
        XCTAssertEqual(try StoreFormat.upgrade(store, chunk: 4), 15)
        for i in 0..<25 {
            let raw = try store.get(KeyLayout.dataKey(b("k\(i)")))
            XCTAssertEqual(raw.flatMap(StoredValue.init(raw:)).map { Array($0.payload) }, b("v\(i)"), "k\(i): \(raw ?? [])")
        }
        XCTAssertEqual(try store.get(KeyLayout.metaKey("node/id")), b("n1"), "metadata untouched")
        XCTAssertNil(try store.get(StoreFormat.progressKey))
        XCTAssertEqual(try StoreFormat.upgrade(store), 0, "converted once")
        XCTAssertEqual(try StoreFormat.upgrade(MemoryStore()), 0)
        // A store from a newer build is refused, not misread.
        try store.put(StoreFormat.formatKey, [9])
        XCTAssertThrowsError(try StoreFormat.upgrade(store))
    }
}
