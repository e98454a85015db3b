import XCTest
import ChainCore
import RESP
import Storage
@testable import ChainServer

/// The head's shortcut for a plain SET gives exactly what running SET against a recording view
/// gives, and is not taken where that would differ.
final class PlainSetTests: XCTestCase {
    func testThePlainSetShortcutMatchesTheRecordedCommand() throws {
        var rng = SystemRandomNumberGenerator()
        let store = MemoryStore()
        let view = DataView(store: store, cacheBytes: 1 << 20)
        for i in 0..<200 {
            let key = (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let value = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let args = [Array("SET".utf8), key, value]
            // Sometimes over an existing value (with an expiry, which a plain SET drops).
            if i % 3 == 0 { view.put(KeyLayout.dataKey(key), Array(StoredValue(payload: Array("old".utf8), expiresAtMs: 99_999_999_999_999).raw)) }
            let recorder = RecordingKeyspace(view)
            var reply = RESPWriter(version: 2)
            try StringCommands(data: recorder, maxValueBytes: 1 << 20).run(.set, args, &reply)
            XCTAssertEqual(reply.bytes, RESPWriter.okReply)
            XCTAssertEqual(StringCommands.plainSet(.set, args, mayHoldHashes: false).map { [$0] }, recorder.mutations)
        }
    }

    func testOnlyAPlainSetWithoutHashesTakesTheShortcut() {
        let k = Array("k".utf8), v = Array("v".utf8)
        XCTAssertNotNil(StringCommands.plainSet(.set, [Array("SET".utf8), k, v], mayHoldHashes: false))
        XCTAssertNil(StringCommands.plainSet(.set, [Array("SET".utf8), k, v], mayHoldHashes: true), "a SET over a hash deletes its fields")
        XCTAssertNil(StringCommands.plainSet(.set, [Array("SET".utf8), k, v, Array("NX".utf8)], mayHoldHashes: false))
        XCTAssertNil(StringCommands.plainSet(.set, [Array("SET".utf8), k, v, Array("EX".utf8), Array("10".utf8)], mayHoldHashes: false))
        XCTAssertNil(StringCommands.plainSet(.append, [Array("APPEND".utf8), k, v], mayHoldHashes: false))
        XCTAssertNil(StringCommands.plainSet(.getset, [Array("GETSET".utf8), k, v], mayHoldHashes: false))
    }
}
