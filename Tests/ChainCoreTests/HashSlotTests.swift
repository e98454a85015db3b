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
}
