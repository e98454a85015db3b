import XCTest
import ChainCore
@testable import ChainServer

/// The request-record table against a plain dictionary that follows the same rules (newest
/// `capacity` recordings kept, a record recorded again since its turn survives its eviction, a
/// drop forgets one chain): random operations, many evictions through a small table so probe
/// runs wrap around its end and deletions shift keys back.
final class RequestRecordsTests: XCTestCase {
    private struct Model {
        var table: [RequestRecords.ID: (seq: UInt64, turn: UInt64)] = [:]
        var order: [(RequestRecords.ID, UInt64)] = []
        let capacity: Int

        mutating func insert(_ id: RequestRecords.ID, seq: UInt64, turn: UInt64) {
            table[id] = (seq, turn)
            order.append((id, turn))
            while order.count > capacity {
                let (old, oldTurn) = order.removeFirst()
                if table[old]?.turn == oldTurn { table.removeValue(forKey: old) }
            }
        }
    }

    func testMatchesADictionaryUnderRandomInsertsEvictionsAndDrops() {
        for seed in [1, 2, 3, 0, .max] as [UInt64] {
            var rng = SeededRandom(seed: seed &+ 77)
            let capacity = 40 + Int(rng.next() % 60)
            var records = RequestRecords(capacity: capacity, seed: seed)
            var model = Model(capacity: capacity)
            var turn: UInt64 = 1
            for step in 0..<20_000 {
                // Few clients and requests: ids repeat (recorded again) as often as they are new.
                let id = RequestRecords.ID(chain: Int(rng.next() % 4), client: rng.next() % 8, request: rng.next() % 64)
                switch rng.next() % 100 {
                case 0:
                    records.drop(id.chain)
                    model.table = model.table.filter { $0.key.chain != id.chain }
                case 1...9:
                    turn += 1
                default:
                    let seq = UInt64(step)
                    records.insert(id, seq: seq, reply: [UInt8(step & 0xff)], turn: turn)
                    model.insert(id, seq: seq, turn: turn)
                }
                XCTAssertEqual(records.count, model.table.count, "seed \(seed) step \(step)")
                if step % 97 == 0 {
                    for chain in 0..<4 {
                        let got = Dictionary(uniqueKeysWithValues: records.records(of: chain).map { ($0.0, $0.1.seq) })
                        let want = model.table.filter { $0.key.chain == chain }.mapValues(\.seq)
                        XCTAssertEqual(got, want, "seed \(seed) step \(step) chain \(chain)")
                    }
                }
                let probe = RequestRecords.ID(chain: Int(rng.next() % 4), client: rng.next() % 8, request: rng.next() % 64)
                XCTAssertEqual(records[probe]?.seq, model.table[probe]?.seq, "seed \(seed) step \(step)")
                if let r = records[probe] { XCTAssertEqual(r.reply, [UInt8(Int(r.seq) & 0xff)]) }
            }
        }
    }

    /// The table is made at its final size (no rebuild on the write path) and keeps every
    /// record up to its bound findable.
    func testMadeAtItsFinalSizeAndFindsEveryRecord() {
        XCTAssertEqual(RequestRecords.slots(for: 100_000), 262_144)
        XCTAssertEqual(RequestRecords.slots(for: TurnLog.defaultCapacity), 524_288)
        XCTAssertEqual(RequestRecords.slots(for: 1), 1024)
        var records = RequestRecords(capacity: 100_000, seed: 9)
        XCTAssertEqual(records.slotCount, 262_144)
        for i in 0..<100_000 as Range<UInt64> {
            records.insert(.init(chain: Int(i % 12), client: i / 7, request: i), seq: i, reply: [], turn: i / 10)
        }
        XCTAssertEqual(records.count, 100_000)
        XCTAssertEqual(records.slotCount, 262_144, "never rebuilt")
        for i in stride(from: 0, to: 100_000, by: 13) as StrideTo<UInt64> {
            XCTAssertEqual(records[.init(chain: Int(i % 12), client: i / 7, request: i)]?.seq, i)
        }
        XCTAssertNil(records[.init(chain: 0, client: 1, request: 100_001)])
        XCTAssertEqual(records.records(of: 5).count, 100_000 / 12 + (100_000 % 12 > 5 ? 1 : 0))
    }
}
