import XCTest
import Storage
@testable import ChainServer

/// What commands read through the data view before the store has the turn's batch.
final class DataViewTests: XCTestCase {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A deleted range hides the store's keys in it at once (a node dropping a chain's data must
    /// not read it back before the deletion is written), while keys put after the deletion and
    /// keys outside it are seen.
    func testDeletedRangeIsSeenBeforeTheStoreHasIt() throws {
        let store = MemoryStore()
        try store.put(b("a1"), b("old"))
        try store.put(b("a2"), b("old"))
        try store.put(b("b1"), b("outside"))
        let view = DataView(store: store, cacheBytes: 1 << 20)
        XCTAssertEqual(try view.get(b("a1")), b("old"))
        view.put(b("a0"), b("pending before"))
        view.deleteRange(from: b("a"), to: b("b"))
        view.put(b("a2"), b("new"))
        XCTAssertNil(try view.get(b("a0")))
        XCTAssertNil(try view.get(b("a1")), "the store's old value must not show through")
        XCTAssertEqual(try view.get(b("a2")), b("new"))
        XCTAssertEqual(try view.get(b("b1")), b("outside"))
    }
}
