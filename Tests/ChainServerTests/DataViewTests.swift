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

    /// A standalone node's writes keep a cached value current but enter no key: a key written
    /// and never read costs no cache entry, and one read before sees each later write and
    /// deletion.
    func testStandaloneWritesRefreshTheCacheAndAddNothing() throws {
        let view = DataView(store: MemoryStore(), cacheBytes: 1 << 20)
        let keyspace = DirectKeyspace(view)
        keyspace.putValue(b("written"), StoredValue(payload: b("1")))
        XCTAssertEqual(view.cache.count, 0, "a write enters nothing")
        XCTAssertNil(try keyspace.storedEntry(b("read")))
        XCTAssertEqual(view.cache.count, 1, "a read enters its key (known absent)")
        keyspace.putValue(b("read"), StoredValue(payload: b("v1")))
        XCTAssertEqual(try keyspace.storedEntry(b("read")).map { Array($0.payload) }, b("v1"))
        keyspace.putValue(b("read"), StoredValue(payload: b("v2")))
        XCTAssertEqual(view.cache.lookup(ByteKey(b("read"))).flatMap { $0 }.flatMap(StoredValue.init(raw:)).map { Array($0.payload) }, b("v2"),
                       "the cached value follows the write")
        keyspace.deleteValue(b("read"))
        XCTAssertNil(try keyspace.storedEntry(b("read")))
        XCTAssertEqual(try keyspace.storedEntry(b("written")).map { Array($0.payload) }, b("1"))
    }

    /// Reads see every earlier update whether or not the turn's batch is stored yet: random
    /// puts, deletes, deleted ranges, reads (of user keys' values, cached, and of other store
    /// keys, not) and store writes against a model.
    /// (Pending updates are indexed only when something reads; this checks the index catches
    /// up in order, also across a deleted range.)
    func testReadsSeeEveryEarlierUpdateAcrossTurns() throws {
        try checkReadsAgainstAModel(sync: false)
    }

    /// The same with every turn's batch left in flight (fsync mode: the writer's thread has it
    /// and nobody reports it persisted), so reads go through the in-flight batches, newest
    /// first, with their deleted ranges.
    func testReadsSeeBatchesInFlight() throws {
        try checkReadsAgainstAModel(sync: true)
    }

    private func checkReadsAgainstAModel(sync: Bool) throws {
        let store = MemoryStore()
        let loop = try EventLoop()
        let writer = StoreWriter(store: store, loop: loop, sync: sync)
        let view = DataView(store: store, cacheBytes: 1 << 10)
        var model: [String: String] = [:]
        var rng = SeededRandom(seed: 11)
        // The first twenty keys are user keys (values, through the cache), the rest plain store
        // keys around it. A value is written as its user key or, now and then, as its data key
        // (a copy from a chain's tail does that): both must land in the same place.
        func storeKey(_ n: Int) -> [UInt8] { n < 20 ? KeyLayout.dataKey(b("k\(n)")) : b("k\(n)") }
        for step in 0..<20_000 {
            let n = rng.below(40)
            let key = "k\(n)"
            let isValue = n < 20
            let asStoreKey = !isValue || rng.below(8) == 0
            switch rng.below(40) {
            case 0:
                view.deleteRange(from: b("k1"), to: b("k2"))
                model = model.filter { !($0.key >= "k1" && $0.key < "k2" && Int($0.key.dropFirst())! >= 20) }
            case 1:
                view.deleteRange(from: [KeyLayout.dataTag], to: [KeyLayout.dataTag + 1])
                model = model.filter { Int($0.key.dropFirst())! >= 20 }
            case 2...4:
                if view.flush(to: writer) { view.persisted(upTo: view.currentSeq) }
            case 5...9:
                if asStoreKey { view.delete(storeKey(n)) } else { view.deleteValue(b(key)) }
                model[key] = nil
            case 10...24:
                let v = "v\(step)"
                if asStoreKey { view.put(storeKey(n), b(v)) } else { view.putValue(b(key), b(v), cache: rng.below(2) == 0 ? .store : .refresh) }
                model[key] = v
            default:
                let got = asStoreKey ? try view.get(storeKey(n)) : try view.getValue(b(key)).map { Array($0) }
                XCTAssertEqual(got.map { String(decoding: $0, as: UTF8.self) }, model[key], "step \(step) \(key)")
            }
        }
        if view.flush(to: writer) { view.persisted(upTo: view.currentSeq) }
        guard !sync else { return }
        for (k, v) in model { XCTAssertEqual(try store.get(storeKey(Int(k.dropFirst())!)), b(v), k) }
        XCTAssertEqual(try store.entries(prefix: b("k")).count + store.entries(prefix: [KeyLayout.dataTag]).count, model.count)
    }

    /// A user key's value goes to the store under its data key, in the turn's batch, whichever
    /// way it was written; a range over data keys hides pending values in it.
    func testValuesAreStoredUnderTheirDataKeys() throws {
        let store = MemoryStore()
        let loop = try EventLoop()
        let writer = StoreWriter(store: store, loop: loop, sync: false)
        let view = DataView(store: store, cacheBytes: 1 << 20)
        view.putValue(b("user"), b("one"))
        view.putValue(b("{user}x"), b("two"), slot: HashSlot.of(b("user")))
        XCTAssertEqual(try view.get(KeyLayout.dataKey(b("user"))), b("one"))
        XCTAssertTrue(view.flush(to: writer))
        XCTAssertEqual(try store.get(KeyLayout.dataKey(b("user"))), b("one"))
        XCTAssertEqual(try store.get(KeyLayout.dataKey(b("{user}x"))), b("two"))
        view.delete(KeyLayout.dataKey(b("user")))
        XCTAssertNil(try view.getValue(b("user")), "deleted through its data key")
        let slot = HashSlot.of(b("{user}x"))
        view.deleteRange(from: KeyLayout.slotPrefix(slot, tag: KeyLayout.dataTag), to: KeyLayout.slotPrefix(slot + 1, tag: KeyLayout.dataTag))
        XCTAssertNil(try view.getValue(b("{user}x")), "inside the deleted slot")
        XCTAssertTrue(view.flush(to: writer))
        XCTAssertNil(try store.get(KeyLayout.dataKey(b("user"))))
        XCTAssertNil(try store.get(KeyLayout.dataKey(b("{user}x"))))
    }

    /// A replica's put whose key and value share one array (with bytes between them) is read
    /// back, cached and stored as exactly that key and value, in RocksDB too.
    func testSharedKeyAndValueAreStoredAsTheirParts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dv-shared-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for store in [MemoryStore() as any KVStore, try RocksStore(path: dir, hashPrefixLength: KeyLayout.dataPrefixLength)] {
            let loop = try EventLoop()
            let writer = StoreWriter(store: store, loop: loop, sync: false)
            let view = DataView(store: store, cacheBytes: 1 << 20)
            let value = StoredValue.encoded(payload: b("payload"))
            let kv = KeyValue(storage: b("key") + [0, 0, 0, 9] + value, keyCount: 3, valueStart: 7)
            XCTAssertNil(try view.getValue(b("key")), "read once: the key is cached (as absent)")
            view.putValue(kv, cache: .refresh)
            XCTAssertEqual(try view.getValue(b("key")).map { Array($0) }, value, "before the store has it")
            XCTAssertTrue(view.flush(to: writer))
            view.persisted(upTo: view.currentSeq)
            XCTAssertEqual(try view.getValue(b("key")).map { Array($0) }, value, "from the cache")
            XCTAssertEqual(try store.get(KeyLayout.dataKey(b("key"))), value, "stored under the key's data key, value alone")
            XCTAssertNil(try store.get(KeyLayout.dataKey(b("key") + [0, 0, 0, 9])))
        }
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
