import XCTest
@testable import ChainCore

/// The replica table's index by chain number stays right as replicas come and go.
final class ReplicaTableTests: XCTestCase {
    func replica(_ chain: ChainID, applied: UInt64 = 0) -> ChainReplica {
        ChainReplica(chain: chain, me: "n1", epoch: 1, members: ["n1", "n2"], applied: applied)
    }

    func testLookupsFollowInsertionsAndRemovals() {
        var t = ReplicaTable()
        XCTAssertNil(t[0])
        XCTAssertNil(t.index(forKey: -1))
        XCTAssertNil(t.index(forKey: 1000))
        // Enough inserts to make the dictionary grow (and move every entry) more than once.
        for c in stride(from: 0, to: 200, by: 3) { t[c] = replica(c, applied: UInt64(c)) }
        for c in 0..<210 {
            XCTAssertEqual(t[c]?.applied, c % 3 == 0 && c < 200 ? UInt64(c) : nil, "chain \(c)")
            XCTAssertEqual(t.index(forKey: c).map { t.values[$0].chain }, c % 3 == 0 && c < 200 ? c : nil)
        }
        XCTAssertEqual(t.removeValue(forKey: 99)?.chain, 99)
        XCTAssertNil(t.removeValue(forKey: 99))
        XCTAssertNil(t[99])
        XCTAssertEqual(t[102]?.applied, 102)
        t[102] = nil
        XCTAssertNil(t[102])
        XCTAssertEqual(t.count, 65)
        XCTAssertEqual(Set(t.keys), Set(stride(from: 0, to: 200, by: 3)).subtracting([99, 102]))
    }

    func testReplicasChangeInPlaceAndByAssignment() {
        var t = ReplicaTable()
        t[5] = replica(5)
        t[7] = replica(7)
        let copy = t
        t[5] = replica(5, applied: 42)
        XCTAssertEqual(t[5]?.applied, 42)
        XCTAssertEqual(copy[5]?.applied, 0, "a copy keeps its own replicas")
        _ = t.values[t.index(forKey: 7)!].onPersisted(upTo: 0)
        XCTAssertEqual(t[7]?.chain, 7)
        XCTAssertEqual(copy.index(forKey: 7).map { copy.values[$0].chain }, 7)
    }
}

/// Values by chain number behave as a dictionary keyed by chain.
final class ChainIndexedTests: XCTestCase {
    func testAgreesWithADictionary() {
        var rng = SystemRandomNumberGenerator()
        var t = ChainIndexed<Int>()
        var model: [ChainID: Int] = [:]
        for _ in 0..<5_000 {
            let c = Int.random(in: -2..<40, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                let v = Int.random(in: 0..<100, using: &rng)
                t[c] = v
                if c >= 0 { model[c] = v }
            case 1:
                XCTAssertEqual(t.removeValue(forKey: c), c >= 0 ? model.removeValue(forKey: c) : nil)
            case 2:
                let made = t.update(c < 0 ? 0 : c, orMake: 7) { v -> Int in v += 1; return v }
                model[c < 0 ? 0 : c, default: 7] += 1
                XCTAssertEqual(made, model[c < 0 ? 0 : c])
            default:
                XCTAssertEqual(t[c], model[c])
            }
        }
        XCTAssertEqual(t.keys, model.keys.sorted())
        XCTAssertEqual(ChainIndexed(model).keys, model.keys.sorted())
    }
}
