import XCTest
@testable import ChainServer

final class ValueCacheTests: XCTestCase {
    private func k(_ i: Int) -> ByteKey { ByteKey(Array("key:\(i)".utf8)) }

    func testHitsMissesAndNegativeEntries() {
        let c = ValueCache(capacityBytes: 1 << 20)
        XCTAssertTrue(c.lookup(k(1)) == nil)
        c.store(k(1), [1, 2])
        c.store(k(2), nil)
        XCTAssertEqual(c.lookup(k(1)), .some([1, 2]))
        XCTAssertEqual(c.lookup(k(2)), .some(nil), "known-absent keys are cached")
        c.store(k(1), [3])
        XCTAssertEqual(c.lookup(k(1)), .some([3]))
        c.remove(k(1))
        XCTAssertTrue(c.lookup(k(1)) == nil)
        XCTAssertEqual(c.hits, 3)
        XCTAssertEqual(c.misses, 2)
    }

    func testStaysWithinCapacityAndKeepsReferencedEntries() {
        let c = ValueCache(capacityBytes: 100 * (ValueCache.entryOverhead + 20))
        c.store(k(0), ArraySlice<UInt8>(repeating: 1, count: 10))
        for i in 1..<10_000 {
            c.store(k(i), ArraySlice<UInt8>(repeating: 1, count: 10))
            _ = c.lookup(k(0))  // hot key: read between every insert
            XCTAssertLessThanOrEqual(c.bytes, c.capacityBytes)
        }
        XCTAssertTrue(c.lookup(k(0)) != nil, "a key read constantly survives CLOCK eviction")
        XCTAssertGreaterThan(c.count, 50)
    }

    /// Random stores, removals and lookups against a plain dictionary: a hit is always the
    /// latest value stored, and the byte count is always that of the entries held.
    func testAgreesWithAModelUnderChurn() {
        var rng = SystemRandomNumberGenerator()
        let c = ValueCache(capacityBytes: 40 * (ValueCache.entryOverhead + 16))
        var model: [Int: [UInt8]?] = [:]
        for _ in 0..<20_000 {
            let i = Int.random(in: 0..<120, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let v: [UInt8]? = Bool.random(using: &rng) ? nil : [UInt8](repeating: UInt8(i & 0xff), count: Int.random(in: 0...12, using: &rng))
                c.store(k(i), v.map { $0[...] })
                model[i] = .some(v)
            case 5:
                c.remove(k(i))
                model.removeValue(forKey: i)
            case 6:
                // The store's value changes: a cached entry follows it, an absent one stays absent.
                let v: [UInt8]? = Bool.random(using: &rng) ? nil : [UInt8](repeating: 7, count: Int.random(in: 0...12, using: &rng))
                let wasCached = c.lookup(k(i)) != nil
                c.refresh(k(i), v.map { $0[...] })
                model[i] = .some(v)
                if !wasCached { XCTAssertTrue(c.lookup(k(i)) == nil) }
            default:
                if let hit = c.lookup(k(i)) { XCTAssertEqual(hit.map { Array($0) }, model[i] ?? [9, 9, 9], "key \(i)") }
            }
            XCTAssertLessThanOrEqual(c.bytes, c.capacityBytes)
        }
        var held = 0
        for (i, v) in model { if let hit = c.lookup(k(i)) { XCTAssertEqual(hit.map { Array($0) }, v); held += k(i).bytes.count + (hit?.count ?? 0) + ValueCache.entryOverhead } }
        XCTAssertEqual(held, c.bytes, "bytes count what is held")
        XCTAssertEqual(c.count, model.keys.filter { c.lookup(k($0)) != nil }.count)
    }

    func testRefreshReplacesOnlyWhatIsCached() {
        let c = ValueCache(capacityBytes: 1 << 20)
        c.refresh(k(1), [1])
        XCTAssertTrue(c.lookup(k(1)) == nil, "a refresh adds nothing")
        XCTAssertEqual(c.bytes, 0)
        c.store(k(1), [1])
        c.refresh(k(1), [2, 3])
        XCTAssertEqual(c.lookup(k(1)), .some([2, 3]))
        c.refresh(k(1), nil)
        XCTAssertEqual(c.lookup(k(1)), .some(nil), "a deletion is cached as absent")
        XCTAssertEqual(c.bytes, k(1).bytes.count + ValueCache.entryOverhead)
        c.refresh(k(1), ArraySlice<UInt8>(repeating: 0, count: 1 << 18))
        XCTAssertTrue(c.lookup(k(1)) == nil, "too large for the cache: dropped, never stale")
        XCTAssertEqual(c.bytes, 0)
    }

    func testOversizedValuesAreNotCached() {
        let c = ValueCache(capacityBytes: 8000)
        c.store(k(1), ArraySlice<UInt8>(repeating: 0, count: 5000))
        XCTAssertTrue(c.lookup(k(1)) == nil)
        XCTAssertEqual(c.bytes, 0)
        let off = ValueCache(capacityBytes: 0)
        off.store(k(1), [1])
        XCTAssertTrue(off.lookup(k(1)) == nil)
    }
}
