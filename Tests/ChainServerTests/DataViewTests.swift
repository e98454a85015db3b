import XCTest
import ChainCore
import Storage
import EventLoop
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

    /// Reads see every earlier update whether or not the turn's batch is stored yet: random
    /// puts, deletes, deleted ranges, reads (of cached and uncached keys) and store writes
    /// against a model.
    /// (Pending updates are indexed only when something reads; this checks the index catches
    /// up in order, also across a deleted range.)
    func testReadsSeeEveryEarlierUpdateAcrossTurns() throws {
        let store = MemoryStore()
        let loop = try EventLoop()
        let writer = StoreWriter(store: store, loop: loop, sync: false)
        let view = DataView(store: store, cacheBytes: 1 << 10)
        var model: [String: String] = [:]
        var rng = SeededRandom(seed: 11)
        for step in 0..<20_000 {
            // A key is always read and written cached or never (the view's contract): the
            // first twenty keys through the cache, the rest around it.
            let n = rng.below(40)
            let key = "k\(n)"
            let cached = n < 20
            switch rng.below(40) {
            case 0:
                view.deleteRange(from: b("k1"), to: b("k2"))
                model = model.filter { !($0.key >= "k1" && $0.key < "k2") }
            case 1...4:
                if view.flush(to: writer) { view.persisted(upTo: view.currentSeq) }
            case 5...9:
                view.delete(b(key), cached: cached)
                model[key] = nil
            case 10...24:
                let v = "v\(step)"
                view.put(b(key), b(v), cached: cached)
                model[key] = v
            default:
                let got = try view.get(b(key), cached: cached)
                XCTAssertEqual(got.map { String(decoding: $0, as: UTF8.self) }, model[key], "step \(step) \(key)")
            }
        }
        if view.flush(to: writer) { view.persisted(upTo: view.currentSeq) }
        for (k, v) in model { XCTAssertEqual(try store.get(b(k)), b(v), k) }
        XCTAssertEqual(try store.entries(prefix: b("k")).count, model.count)
    }

    /// A prefix scan (a hash's fields) sees the store under this turn's puts, deletes and
    /// deleted ranges, in key order.
    func testPrefixEntriesMergePendingChanges() throws {
        let store = MemoryStore()
        for k in ["p1", "p2", "p3", "q1"] { try store.put(b(k), b("store " + k)) }
        let view = DataView(store: store, cacheBytes: 1 << 20)
        XCTAssertFalse(view.mayHoldHashes)
        view.put(b("p2"), b("new"))
        view.delete(b("p3"))
        view.put(b("p0"), b("added"))
        XCTAssertEqual(try view.entries(withPrefix: b("p")).map { String(decoding: $0.key, as: UTF8.self) + "=" + String(decoding: $0.value, as: UTF8.self) },
                       ["p0=added", "p1=store p1", "p2=new"])
        view.deleteRange(from: b("p"), to: b("q"))
        view.put(b("p9"), b("after"))
        XCTAssertEqual(try view.entries(withPrefix: b("p")).map(\.key), [b("p9")])
        view.put([KeyLayout.fieldTag] + b("xxxx"), b("f"))
        XCTAssertTrue(view.mayHoldHashes)
    }

    /// Pages of a prefix (HSCAN of a large hash) see this turn's puts and deletes within the
    /// range each page covers, never read more than the page from the store, and move past a
    /// page whose store keys were all deleted instead of ending the walk.
    func testPagesMergePendingChangesAndSkipEmptiedPages() throws {
        let store = MemoryStore()
        for i in 0..<10 { try store.put(b("p\(i)"), b("v\(i)")) }
        try store.put(b("q0"), b("other prefix"))
        let view = DataView(store: store, cacheBytes: 1 << 20)
        for i in 0..<3 { view.delete(b("p\(i)")) }
        view.put(b("p35"), b("new"))
        view.put(b("p4"), b("changed"))
        var walked: [String] = []
        var after: [UInt8]?
        var pages = 0
        while true {
            let page = try view.entries(withPrefix: b("p"), after: after, limit: 3)
            XCTAssertLessThanOrEqual(page.entries.count, 3)
            walked += page.entries.map { String(decoding: $0.key, as: UTF8.self) + "=" + String(decoding: $0.value, as: UTF8.self) }
            pages += 1
            guard page.more, let last = page.entries.last else { break }
            after = last.key
        }
        XCTAssertEqual(walked, ["p3=v3", "p35=new", "p4=changed", "p5=v5", "p6=v6", "p7=v7", "p8=v8", "p9=v9"])
        XCTAssertLessThanOrEqual(pages, 4)
        let empty = try view.entries(withPrefix: b("p"), after: b("p9"), limit: 3)
        XCTAssertTrue(empty.entries.isEmpty)
        XCTAssertFalse(empty.more)
    }
}
