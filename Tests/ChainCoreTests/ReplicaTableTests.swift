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
