import XCTest
import ChainCore
import ChainWire
import Storage
@testable import ChainServer

/// Chain positions and request records kept as one store entry per turn: what a restart
/// recovers, what a drop forgets, how far back the ring and the memory bound reach, and what a
/// snapshot taken mid-flight reports.
final class TurnLogTests: XCTestCase {
    private func tag(_ client: UInt64, _ request: UInt64) -> RequestTag { RequestTag(client: client, request: request) }
    private func reply(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Ends a turn as the node does: the entry goes into the store with the turn's batch.
    private func endTurn(_ log: TurnLog, _ store: any KVStore) throws {
        guard let entry = log.takeEntry() else { return }
        try store.put(entry.key.key([]), entry.value)
    }

    /// The key a turn entry goes under, as the batch gets it (a packed prefix), is the ring key.
    func testPackedKeyIsTheRingKey() {
        for turn: UInt64 in [0, 1, 255, 256, 65_535, 65_536, TurnLog.ringSlots - 1, TurnLog.ringSlots, 1 << 40, .max] {
            XCTAssertEqual(TurnLog.packedKey(turn).key([]), TurnLog.key(turn), "turn \(turn)")
        }
    }

    /// An entry handed out stays as it was while the next one is encoded into the kept buffer
    /// (a batch still in flight holds it).
    func testEntryHandedOutIsNotOverwritten() throws {
        let log = TurnLog(store: MemoryStore())
        log.setPosition(1, LogPosition(seq: 1, epoch: 1))
        log.record(chain: 1, tag: tag(9, 1), seq: 1, reply: reply("+OK\r\n"))
        let first = try XCTUnwrap(log.takeEntry())
        log.setPosition(1, LogPosition(seq: 2, epoch: 1))
        let second = try XCTUnwrap(log.takeEntry())
        let a = try XCTUnwrap(TurnEntry.decode(first.value))
        let b = try XCTUnwrap(TurnEntry.decode(second.value))
        XCTAssertEqual(a.turn, 1)
        XCTAssertEqual(a.positions, [1: LogPosition(seq: 1, epoch: 1)])
        XCTAssertEqual(a.events, [.record(chain: 1, client: 9, request: 1, seq: 1, reply: reply("+OK\r\n"))])
        XCTAssertEqual(b.turn, 2)
        XCTAssertEqual(b.positions, [1: LogPosition(seq: 2, epoch: 1)])
        XCTAssertEqual(b.events, [])
    }

    func testEntryRoundTrip() throws {
        var events = ByteWriter()
        TurnEntry.appendRecord(chain: 3, client: 7, request: 9, seq: 41, reply: reply("+OK\r\n"), to: &events)
        TurnEntry.appendDrop(chain: 5, to: &events)
        TurnEntry.appendRecord(chain: 5, client: .max, request: 1, seq: 1, reply: [], to: &events)
        let positions: [ChainID: LogPosition] = [3: LogPosition(seq: 41, epoch: 2), 5: LogPosition(seq: 1, epoch: 4)]
        let bytes = TurnEntry.encode(turn: 12, positions: positions, events: events.bytes)
        XCTAssertEqual(TurnEntry.decode(bytes), TurnEntry(turn: 12, positions: positions, events: [
            .record(chain: 3, client: 7, request: 9, seq: 41, reply: reply("+OK\r\n")),
            .drop(chain: 5),
            .record(chain: 5, client: .max, request: 1, seq: 1, reply: []),
        ]))
        XCTAssertEqual(TurnEntry.decodeHeader(bytes)?.turn, 12)
        XCTAssertEqual(TurnEntry.decodeHeader(bytes)?.positions, positions)
    }

    /// A damaged entry is refused (never trusted, never a crash): another version, an unknown
    /// event, a length running past the end, and random damage.
    func testDamagedEntriesAreRefused() {
        var events = ByteWriter()
        TurnEntry.appendRecord(chain: 1, client: 2, request: 3, seq: 4, reply: reply("$1\r\nx\r\n"), to: &events)
        let good = TurnEntry.encode(turn: 1, positions: [1: LogPosition(seq: 4, epoch: 1)], events: events.bytes)
        var otherVersion = good
        otherVersion[0] = 9
        XCTAssertNil(TurnEntry.decode(otherVersion))
        XCTAssertNil(TurnEntry.decodeHeader(otherVersion))
        XCTAssertNil(TurnEntry.decode(good + [7]), "unknown event kind")
        XCTAssertNil(TurnEntry.decode(Array(good.dropLast())), "a reply cut short")
        XCTAssertNil(TurnEntry.decode([]))
        var hugeCount = good
        hugeCount.replaceSubrange(9..<13, with: [0xff, 0xff, 0xff, 0xff])
        XCTAssertNil(TurnEntry.decodeHeader(hugeCount), "a position count beyond the entry")
        var random = SeededRandom(seed: 17)
        var decoded = 0
        for _ in 0..<5_000 {
            var damaged = good
            for _ in 0..<(1 + Int(random.next() % 3)) {
                damaged[Int(random.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if TurnEntry.decode(damaged) != nil { decoded += 1 }
        }
        // Damage to a sequence number or a reply byte still decodes (only the store's own
        // checksums catch that); damage to the structure must not.
        XCTAssertLessThan(decoded, 5_000)
    }

    /// A restart finds every chain's position and the records, in a real RocksDB store with the
    /// server's hashed memtable (the ring is read with a prefix shorter than the hash prefix).
    func testRestartRecoversPositionsAndRecords() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("turnlog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try RocksStore(path: dir, hashPrefixLength: KeyLayout.dataPrefixLength)
            defer { store.close() }
            let log = TurnLog(store: store)
            XCTAssertNil(log.takeEntry(), "nothing happened: no entry")
            log.record(chain: 0, tag: tag(1, 1), seq: 1, reply: reply("+OK\r\n"))
            log.setPosition(0, LogPosition(seq: 1, epoch: 3))
            try endTurn(log, store)
            log.record(chain: 2, tag: tag(1, 2), seq: 10, reply: reply(":5\r\n"))
            log.setPosition(2, LogPosition(seq: 10, epoch: 3))
            try endTurn(log, store)
            log.setPosition(0, LogPosition(seq: 2, epoch: 3))
            try endTurn(log, store)
            XCTAssertEqual(log.lastTurn, 3)
        }
        let store = try RocksStore(path: dir, hashPrefixLength: KeyLayout.dataPrefixLength)
        defer { store.close() }
        let log = TurnLog(store: store)
        XCTAssertNil(log.loadError)
        XCTAssertEqual(log.lastTurn, 3)
        XCTAssertEqual(log.position(0), LogPosition(seq: 2, epoch: 3))
        XCTAssertEqual(log.position(2), LogPosition(seq: 10, epoch: 3))
        XCTAssertEqual(log.position(7), .empty)
        XCTAssertEqual(log.recorded(chain: 0, tag: tag(1, 1))?.seq, 1)
        XCTAssertEqual(log.recorded(chain: 2, tag: tag(1, 2))?.reply, reply(":5\r\n"))
        XCTAssertNil(log.recorded(chain: 0, tag: tag(1, 2)), "a record belongs to its chain")
        // The next entry goes after the recovered ones.
        log.setPosition(0, LogPosition(seq: 3, epoch: 4))
        XCTAssertEqual(log.takeEntry()?.key.key([]), TurnLog.key(4))
    }

    /// A chain's drop forgets its earlier records (the history restarts from a copy), also
    /// across a restart, but not the records made after the drop in the same turn, nor other
    /// chains' records.
    func testDropForgetsEarlierRecords() throws {
        let store = MemoryStore()
        let log = TurnLog(store: store)
        log.record(chain: 1, tag: tag(5, 1), seq: 1, reply: reply("+OK\r\n"))
        log.record(chain: 2, tag: tag(5, 2), seq: 1, reply: reply("+OK\r\n"))
        log.setPosition(1, LogPosition(seq: 1, epoch: 1))
        log.setPosition(2, LogPosition(seq: 1, epoch: 1))
        try endTurn(log, store)
        log.drop(1)
        log.record(chain: 1, tag: tag(5, 3), seq: 7, reply: reply("+OK\r\n"))
        log.setPosition(1, LogPosition(seq: 7, epoch: 2))
        try endTurn(log, store)
        for l in [log, TurnLog(store: store)] {
            XCTAssertNil(l.recorded(chain: 1, tag: tag(5, 1)))
            XCTAssertEqual(l.recorded(chain: 1, tag: tag(5, 3))?.seq, 7)
            XCTAssertEqual(l.recorded(chain: 2, tag: tag(5, 2))?.seq, 1)
            XCTAssertEqual(l.position(1), LogPosition(seq: 7, epoch: 2))
        }
        log.drop(2)
        try endTurn(log, store)
        XCTAssertEqual(TurnLog(store: store).position(2), .empty)
    }

    /// Memory holds at most `capacity` records, the oldest going first, and a restart applies
    /// the same bound; the ring keeps the newest `ringSlots` turns.
    func testBounds() throws {
        let store = MemoryStore()
        let log = TurnLog(store: store, capacity: 3)
        for r in 1...5 as ClosedRange<UInt64> {
            log.record(chain: 0, tag: tag(1, r), seq: r, reply: reply("+OK\r\n"))
            log.setPosition(0, LogPosition(seq: r, epoch: 1))
            try endTurn(log, store)
        }
        for l in [log, TurnLog(store: store, capacity: 3)] {
            XCTAssertEqual(l.records.count, 3)
            XCTAssertNil(l.recorded(chain: 0, tag: tag(1, 2)))
            XCTAssertEqual(l.recorded(chain: 0, tag: tag(1, 3))?.seq, 3)
        }
        // Fill the ring past its size: the first turns' entries are overwritten.
        let ringStore = MemoryStore()
        let big = TurnLog(store: ringStore)
        for r in 1...(TurnLog.ringSlots + 2) {
            if r <= 3 { big.record(chain: 0, tag: tag(2, r), seq: r, reply: []) }
            big.setPosition(0, LogPosition(seq: r, epoch: 1))
            try endTurn(big, ringStore)
        }
        let restarted = TurnLog(store: ringStore)
        XCTAssertEqual(restarted.lastTurn, TurnLog.ringSlots + 2)
        XCTAssertEqual(restarted.position(0).seq, TurnLog.ringSlots + 2)
        XCTAssertNil(restarted.recorded(chain: 0, tag: tag(2, 1)))
        XCTAssertNil(restarted.recorded(chain: 0, tag: tag(2, 2)))
        XCTAssertEqual(restarted.recorded(chain: 0, tag: tag(2, 3))?.seq, 3)
    }

    /// A snapshot taken while later turns were still on their way to the store reports the
    /// positions it holds, not the newest ones; a store of an earlier version reports its
    /// per-chain keys, and its positions go into the first turn entry.
    func testPositionsAtSnapshotAndEarlierStores() throws {
        let store = MemoryStore()
        let log = TurnLog(store: store)
        log.setPosition(4, LogPosition(seq: 8, epoch: 2))
        try endTurn(log, store)
        let snapshot = store.snapshot()
        log.setPosition(4, LogPosition(seq: 9, epoch: 2))
        try endTurn(log, store)
        XCTAssertEqual(try TurnLog.positions(in: store, at: snapshot, newestTurn: log.lastTurn, chains: [4]), [4: LogPosition(seq: 8, epoch: 2)])
        XCTAssertEqual(try TurnLog.positions(in: store, at: store.snapshot(), newestTurn: log.lastTurn, chains: [4]), [4: LogPosition(seq: 9, epoch: 2)])

        let old = MemoryStore()
        try old.put(ChainMetadata.appliedKey(6), ChainMetadata.encodePosition(LogPosition(seq: 30, epoch: 5)))
        XCTAssertEqual(try TurnLog.positions(in: old, at: old.snapshot(), newestTurn: 0, chains: [6, 7]),
                       [6: LogPosition(seq: 30, epoch: 5), 7: .empty])
        let upgraded = TurnLog(store: old)
        XCTAssertEqual(upgraded.position(6), LogPosition(seq: 30, epoch: 5))
        try endTurn(upgraded, old)
        XCTAssertEqual(TurnLog(store: old).position(6), LogPosition(seq: 30, epoch: 5))
    }
}
