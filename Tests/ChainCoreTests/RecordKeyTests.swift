import XCTest
@testable import ChainCore

/// Request records: one key range per chain, one key per (client, ring slot), spread over the
/// store's memtable hash buckets.
final class RecordKeyTests: XCTestCase {
    func testKeysAreDistinctAndInTheirChainsRange() {
        var seen = Set<[UInt8]>()
        for chain in [0, 1, 300] {
            let prefix = KeyLayout.recordPrefix(chain: chain)
            let next = KeyLayout.recordPrefix(chain: chain + 1)
            for client: UInt64 in [1, 2, 0xFFFF_FFFF_FFFF_FFFF] {
                for ring in [0, 1, 4095] {
                    let k = KeyLayout.recordKey(chain: chain, ring: ring, client: client)
                    XCTAssert(k.starts(with: prefix))
                    XCTAssert(k.lexicographicallyPrecedes(next))
                    XCTAssertGreaterThanOrEqual(k.count, KeyLayout.minimumKeyLength)
                    XCTAssert(seen.insert(k).inserted, "duplicate key for chain \(chain) client \(client) ring \(ring)")
                }
            }
        }
    }

    /// Clients number their requests alike, so the hash prefix (first 5 bytes) must tell the
    /// clients of one ring slot apart; with the slot alone there, 50 clients shared a bucket.
    func testClientsOfOneRingSlotUseDifferentBuckets() {
        let prefixLength = KeyLayout.dataPrefixLength
        for ring in [0, 7, 4095] {
            let buckets = Set((1...50).map { (c: UInt64) in Array(KeyLayout.recordKey(chain: 3, ring: ring, client: c * 7919).prefix(prefixLength)) })
            XCTAssertGreaterThanOrEqual(buckets.count, 48, "ring \(ring): 50 clients in \(buckets.count) buckets")
        }
        let sameClient = Set((0..<4096).map { Array(KeyLayout.recordKey(chain: 3, ring: $0, client: 42).prefix(prefixLength)) })
        XCTAssertGreaterThan(sameClient.count, 3900)
    }
}
