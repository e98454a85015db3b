import XCTest
@testable import ChainCore

final class HashSlotTests: XCTestCase {
    func testMatchesRedisCluster() {
        // Values from Redis's CLUSTER KEYSLOT.
        XCTAssertEqual(HashSlot.of("foo"), 12182)
        XCTAssertEqual(HashSlot.of("bar"), 5061)
        XCTAssertEqual(HashSlot.of("hello"), 866)
        XCTAssertEqual(HashSlot.crc16(Array("123456789".utf8)), 0x31C3)
    }

    func testHashTags() {
        XCTAssertEqual(HashSlot.of("{user1000}.following"), HashSlot.of("{user1000}.followers"))
        XCTAssertEqual(HashSlot.of("{user1000}.following"), HashSlot.of("user1000"))
        // An empty tag does not count; the whole key is hashed.
        XCTAssertEqual(HashSlot.of("foo{}{bar}"), Int(HashSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3fff))
        XCTAssertEqual(HashSlot.of("foo{{bar}}zap"), HashSlot.of("{bar"))
    }

    /// The slot reading against Redis's rule written plainly,
    /// for seeded keys full of braces in every position.
    func testSlotsAgreeWithThePlainRule() {
        func plain(_ key: [UInt8]) -> Int {
            var part = key[...]
            if let open = key.firstIndex(of: UInt8(ascii: "{")),
               let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
                part = key[(open + 1)..<close]
            }
            return Int(HashSlot.crc16(Array(part)) & 0x3fff)
        }
        var rng = SeededRandom(seed: 5)
        let alphabet = Array("ab{}x".utf8)
        for _ in 0..<20_000 {
            let key = (0..<rng.below(12)).map { _ in alphabet[rng.below(alphabet.count)] }
            XCTAssertEqual(HashSlot.of(key), plain(key), String(decoding: key, as: UTF8.self))
        }
    }

    /// CRC16 (XMODEM) a bit at a time: the definition the table is checked against.
    private func crc16Bitwise(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    /// The table-driven CRC and the word-at-a-time brace search against their plain
    /// definitions, for seeded keys of every length up to 40 (shorter and longer than a word,
    /// braces anywhere).
    func testFastPathsAgreeWithTheirDefinitions() {
        var rng = SeededRandom(seed: 11)
        for _ in 0..<20_000 {
            let n = rng.below(41)
            let key = (0..<n).map { _ in rng.below(8) == 0 ? UInt8(ascii: "{") : UInt8(rng.below(256)) }
            XCTAssertEqual(HashSlot.crc16(key), crc16Bitwise(key), "\(key)")
            key.withUnsafeBufferPointer { XCTAssertEqual(HashSlot.firstOpenBrace($0), key.firstIndex(of: UInt8(ascii: "{")), "\(key)") }
        }
        XCTAssertEqual(crc16Bitwise(Array("123456789".utf8)), 0x31C3)
        XCTAssertEqual(HashSlot.crc16([]), 0)
    }

    func testSlotsStayInRange() {
        for i in 0..<10_000 { XCTAssert((0..<HashSlot.count).contains(HashSlot.of("key:\(i)"))) }
    }

    func testDataKeysGroupBySlot() {
        let k = Array("{tag}a".utf8)
        let dk = KeyLayout.dataKey(k)
        XCTAssertEqual(Array(dk.prefix(3)), KeyLayout.slotPrefix(HashSlot.of(k)))
        XCTAssertEqual(KeyLayout.userKey(fromDataKey: dk), k)
        XCTAssertEqual(dk.count, k.count + KeyLayout.dataPrefixLength)
        XCTAssertNil(KeyLayout.userKey(fromDataKey: KeyLayout.metaKey("applied")))
        XCTAssertGreaterThanOrEqual(KeyLayout.dataKey([]).count, KeyLayout.minimumKeyLength)
    }

    /// The store key layout is on disk: `d`, the slot, a 16-bit FNV-1a bucket, the key. Fixed
    /// bytes, computed independently (Python) when the encoder was rewritten.
    func testDataKeysKeepTheirStoredLayout() {
        XCTAssertEqual(KeyLayout.dataKey(Array("foo".utf8)), [100, 47, 150, 215, 36, 102, 111, 111])
        XCTAssertEqual(KeyLayout.dataKey([]), [100, 0, 0, 28, 217])
        XCTAssertEqual(KeyLayout.dataKey(Array("user:{42}:name".utf8)),
                       [100, 31, 64, 83, 167] + Array("user:{42}:name".utf8))
    }

    /// Stored values are on disk too: a kind byte (type << 1 | has-expiry), the expiry as 8
    /// big-endian bytes when there is one, the payload.
    func testStoredValuesKeepTheirLayout() {
        XCTAssertEqual(StoredValue(payload: Array("ab".utf8)).raw, [0, 97, 98])
        XCTAssertEqual(StoredValue(payload: Array("ab".utf8), expiresAtMs: 0x0102_0304_0506_0708).raw, [1, 1, 2, 3, 4, 5, 6, 7, 8, 97, 98])
        XCTAssertEqual(StoredValue(payload: repeatElement(UInt8(7), count: 3)).raw, [0, 7, 7, 7], "a payload without contiguous storage")
        XCTAssertEqual(StoredValue(payload: [UInt8]()).raw, [0])
        XCTAssertEqual(StoredValue.hash(fields: 2).raw, [2, 0, 0, 0, 0, 0, 0, 0, 2])
        let v = StoredValue(payload: Array("xyz".utf8), expiresAtMs: 99)
        XCTAssertEqual(Array(v.payload), Array("xyz".utf8))
        XCTAssertEqual(v.expiresAtMs, 99)
    }
}
