import XCTest
@testable import ChainCore

/// The effect list behaves as a value (copies are independent), keeps its order, and `drain`
/// hands over every element once — each object released exactly when nothing holds it.
final class EffectListTests: XCTestCase {
    final class Tracked {
        let id: Int
        let onDeinit: (Int) -> Void
        init(_ id: Int, onDeinit: @escaping (Int) -> Void) { self.id = id; self.onDeinit = onDeinit }
        deinit { onDeinit(id) }
    }

    func testAppendGrowAndRead() {
        var list = EffectList<Int>()
        XCTAssertTrue(list.isEmpty)
        for i in 0..<100 { list.append(i) }
        XCTAssertEqual(Array(list), Array(0..<100))
        XCTAssertEqual(list.count, 100)
        XCTAssertEqual(list.last, 99)
        let literal: EffectList<Int> = [1, 2, 3]
        XCTAssertEqual(literal, EffectList([1, 2, 3]))
        XCTAssertNotEqual(literal, EffectList([1, 2]))
    }

    func testCopiesAreIndependent() {
        var a: EffectList<Int> = [1, 2]
        var b = a
        b.append(3)
        XCTAssertEqual(Array(a), [1, 2])
        XCTAssertEqual(Array(b), [1, 2, 3])
        a.append(4)
        XCTAssertEqual(Array(a), [1, 2, 4])
        // Draining a list that shares its storage leaves the copy whole.
        let c = a
        var seen: [Int] = []
        a.drain { seen.append($0) }
        XCTAssertEqual(seen, [1, 2, 4])
        XCTAssertTrue(a.isEmpty)
        XCTAssertEqual(Array(c), [1, 2, 4])
        var d = c
        d.removeAll()
        XCTAssertTrue(d.isEmpty)
        XCTAssertEqual(Array(c), [1, 2, 4])
    }

    func testDrainMovesEachElementOutOnce() {
        var released: [Int] = []
        var list = EffectList<Tracked>()
        for i in 0..<20 { list.append(Tracked(i) { released.append($0) }) }
        var order: [Int] = []
        list.drain { t in order.append(t.id) }
        XCTAssertEqual(order, Array(0..<20))
        XCTAssertEqual(released, Array(0..<20), "each element released once, as it was handed over")
        XCTAssertTrue(list.isEmpty)
        // The storage is kept and reused.
        list.append(Tracked(50) { released.append($0) })
        XCTAssertEqual(list.map(\.id), [50])
        list.removeAll()
        XCTAssertEqual(released.last, 50)
        list.append(Tracked(60) { released.append($0) })
        list = EffectList()
        XCTAssertEqual(released.last, 60, "a list let go releases what it holds")
    }
}
