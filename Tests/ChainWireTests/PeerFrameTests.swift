import XCTest
import ChainCore
import ChainSecurity
@testable import ChainWire

final class PeerFrameTests: XCTestCase {
    private let frames: [PeerFrame] = [
        .hello(node: "n1", nonce: [1, 2, 3]),
        .challenge(node: "n2", nonce: [4], proof: [UInt8](repeating: 9, count: 32)),
        .auth(proof: [7, 7]),
        .updates(epoch: 7, chain: 3, [
            Update(seq: 1, mutations: [.put(key: [0, 255], value: []), .delete(key: Array("x".utf8))],
                   tag: RequestTag(client: 42, request: 9), reply: Array("+OK\r\n".utf8)),
            Update(seq: 2, mutations: [], tag: nil, reply: []),
            Update(seq: 3, mutations: [.clearChain, .put(key: [1], value: [2]), .putField(key: [3], field: [4, 5], value: []), .deleteField(key: [6], field: [])], tag: nil, reply: Array("+OK\r\n".utf8)),
        ]),
        // Replies next to `+OK\r\n`, which the decoder shares instead of copying.
        .updates(epoch: 7, chain: 4, ["+OK\r\r", "+OK\r\n\n", "+OK", "-OK\r\n", "+ok\r\n", "+OK\r\n"].enumerated().map { i, r in
            Update(seq: UInt64(i + 1), mutations: [.put(key: [9], value: [UInt8(i)])], tag: nil, reply: Array(r.utf8))
        }),
        .ack(epoch: UInt64.max, chain: 16383, seq: 123_456_789),
        .error("wrong secret"),
        .syncRequest(epoch: 3, chain: 5, transfer: 7, have: .empty),
        .syncRequest(epoch: 3, chain: 5, transfer: 8, have: LogPosition(seq: 41, epoch: 2)),
        .syncSuffix(epoch: 3, chain: 5, transfer: 8, after: 41, updates: [Update(seq: 42, epoch: 3, mutations: [.put(key: [1], value: [2])], tag: RequestTag(client: 1, request: 2), reply: [43])], last: false),
        .syncSuffix(epoch: 3, chain: 5, transfer: 8, after: 41, updates: [], last: true),
        .syncChunk(epoch: 3, chain: 5, transfer: 7, snapshot: LogPosition(seq: 99, epoch: 2), entries: [([1, 2], [3]), ([], [])], last: false),
        .syncChunk(epoch: 3, chain: 5, transfer: 7, snapshot: LogPosition(seq: 99, epoch: 2), entries: [], last: true),
        .barrier(epoch: 4, chain: 5, seq: 120),
        .turn(epoch: 8, [
            .updates(chain: 2, [Update(seq: 9, epoch: 8, mutations: [.put(key: [1], value: [2, 3])], tag: RequestTag(client: 5, request: 6), reply: Array("+OK\r\n".utf8))]),
            .ack(chain: 2, seq: 7),
            .updates(chain: 16383, []),
            .ack(chain: 0, seq: UInt64.max),
        ]),
        .turn(epoch: 8, []),
    ]

    /// The bytes of an update and an acknowledgement frame, field by field: nodes of different
    /// builds talk to each other during a rolling upgrade, so the encoders may change only in
    /// how they write, never in what.
    func testUpdateAndAckFramesKeepTheirLayout() {
        func be(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * (n - 1 - $0))) } }
        let update = PeerFrame.updates(epoch: 7, chain: 3, [
            Update(seq: 5, epoch: 6, mutations: [.put(key: [0xAA], value: [0xBB, 0xCC])], tag: RequestTag(client: 42, request: 9), reply: [0x2B]),
        ])
        var body: [UInt8] = [PeerFrame.version, 4] + be(7, 8) + be(3, 4) + be(1, 4)
        body += be(5, 8) + be(6, 8) + [1] + be(42, 8) + be(9, 8) + be(1, 4) + [0x2B]
        body += be(1, 4) + [1] + be(1, 4) + [0xAA] + be(2, 4) + [0xBB, 0xCC]
        XCTAssertEqual(update.encoded, be(UInt64(body.count), 4) + body)
        // An untagged put, and one too large for the one-step encoder of small puts: one layout.
        let big = [UInt8](repeating: 0xDD, count: 600)
        let two = PeerFrame.updates(epoch: 7, chain: 3, [
            Update(seq: 6, epoch: 6, mutations: [.put(key: [], value: [0xEE])], tag: nil, reply: []),
            Update(seq: 7, epoch: 6, mutations: [.put(key: [0xAA], value: big)], tag: nil, reply: [0x2B]),
        ])
        var twoBody: [UInt8] = [PeerFrame.version, 4] + be(7, 8) + be(3, 4) + be(2, 4)
        twoBody += be(6, 8) + be(6, 8) + [0] + be(0, 4) + be(1, 4) + [1] + be(0, 4) + be(1, 4) + [0xEE]
        twoBody += be(7, 8) + be(6, 8) + [0] + be(1, 4) + [0x2B] + be(1, 4) + [1] + be(1, 4) + [0xAA] + be(600, 4) + big
        XCTAssertEqual(two.encoded, be(UInt64(twoBody.count), 4) + twoBody)
        let ack = PeerFrame.ack(epoch: 7, chain: 3, seq: 1 << 40)
        let ackBody: [UInt8] = [PeerFrame.version, 5] + be(7, 8) + be(3, 4) + be(1 << 40, 8)
        XCTAssertEqual(ack.encoded, be(UInt64(ackBody.count), 4) + ackBody)
    }

    /// A turn frame's bytes, field by field (the same reason as above).
    func testTurnFrameKeepsItsLayout() {
        func be(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * (n - 1 - $0))) } }
        let turn = PeerFrame.turn(epoch: 7, [
            .updates(chain: 3, [Update(seq: 5, epoch: 6, mutations: [.delete(key: [0xAA])], tag: nil, reply: [])]),
            .ack(chain: 4, seq: 1 << 40),
        ])
        var body: [UInt8] = [PeerFrame.version, 11] + be(7, 8) + be(2, 4)
        body += [1] + be(3, 4) + be(1, 4)
        body += be(5, 8) + be(6, 8) + [0] + be(0, 4) + be(1, 4) + [2] + be(1, 4) + [0xAA]
        body += [2] + be(4, 4) + be(1 << 40, 8)
        XCTAssertEqual(turn.encoded, be(UInt64(body.count), 4) + body)
        // A section of an unknown kind, and a section count larger than the frame, are refused.
        var unknown = turn.encoded
        unknown[4 + 14] = 9
        XCTAssertThrowsError(try PeerFrame.decode(unknown[4...])) { XCTAssertEqual($0 as? WireError, .malformed("section kind 9")) }
        var tooMany = turn.encoded
        tooMany[4 + 10] = 0x7f
        XCTAssertThrowsError(try PeerFrame.decode(tooMany[4...]))
    }

    /// A node announces what it reads in its handshake nonce; a random nonce (a node of an
    /// earlier release) announces nothing, and every nonce is still 32 bytes, mostly random.
    func testHandshakeNonceAnnouncesFeatures() {
        let a = PeerHandshake.nonce(features: .all), b = PeerHandshake.nonce(features: .all)
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b, "fresh every time")
        XCTAssertEqual(PeerHandshake.features(ofNonce: a), .all)
        XCTAssertTrue(PeerHandshake.features(ofNonce: a).contains(.turnFrames))
        XCTAssertEqual(PeerHandshake.features(ofNonce: PeerHandshake.nonce(features: [])), [])
        XCTAssertEqual(PeerHandshake.features(ofNonce: [UInt8](repeating: 0, count: 32)), [])
        XCTAssertEqual(PeerHandshake.features(ofNonce: Array(a.prefix(31))), [], "not a nonce of the handshake")
        var rng = SeededRandom(seed: 3)
        for _ in 0..<1000 {
            let random = (0..<32).map { _ in UInt8(rng.below(256)) }
            XCTAssertEqual(PeerHandshake.features(ofNonce: random), [])
        }
    }

    func testRoundTripWholeAndByteByByte() throws {
        var all: [UInt8] = []
        for f in frames { all += f.encoded }
        var whole = PeerFrameDecoder()
        whole.append(contentsOf: all)
        var got: [PeerFrame] = []
        while let f = try whole.next() { got.append(f) }
        XCTAssertEqual(got, frames)

        var slow = PeerFrameDecoder()
        got = []
        for b in all {
            slow.append(contentsOf: [b])
            while let f = try slow.next() { got.append(f) }
        }
        XCTAssertEqual(got, frames)
    }

    /// A decoded put holds its key and value in one array, and is sent on (a middle forwarding
    /// it, a resend) as exactly the bytes a put of two arrays is: nodes of either build read it.
    func testDecodedPutsShareOneArrayAndEncodeAsBefore() throws {
        let update = Update(seq: 5, epoch: 2, mutations: [.put(key: Array("key".utf8), value: Array("value".utf8))],
                            tag: RequestTag(client: 1, request: 2), reply: Array("+OK\r\n".utf8))
        let large = Update(seq: 6, epoch: 2, mutations: [.put(key: [7], value: [UInt8](repeating: 1, count: 2000)), .delete(key: [8])])
        for u in [update, large] {
            let frame = PeerFrame.updates(epoch: 2, chain: 3, [u])
            var d = PeerFrameDecoder()
            d.append(contentsOf: frame.encoded)
            guard case let .updates(_, _, got)? = try d.next(), case let .putPair(kv) = got[0].mutations[0] else {
                return XCTFail("a put decodes as a pair")
            }
            XCTAssertEqual(Array(kv.key), u.mutations[0].putBytes.map { Array($0.key) })
            XCTAssertEqual(Array(kv.value), u.mutations[0].putBytes.map { Array($0.value) })
            XCTAssertEqual(kv.storage.count, kv.key.count + 4 + kv.value.count, "key, the value's length and value in one array")
            XCTAssertEqual(PeerFrame.updates(epoch: 2, chain: 3, got).encoded, frame.encoded)
        }
    }

    func testCorruptAndTruncatedFramesAreErrors() {
        let good = PeerFrame.ack(epoch: 1, chain: 2, seq: 3).encoded
        var badVersion = good; badVersion[4] = 99
        var badType = good; badType[5] = 77
        var longer = good; longer[3] += 1; longer.append(0)
        let cases: [([UInt8], WireError)] = [
            (badVersion, .badVersion(99)),
            (badType, .unknownType(77)),
            (longer, .malformed("1 trailing bytes")),
            ([0, 0, 0, 1, 1], .truncated),
            ([0x7f, 0xff, 0xff, 0xff], .tooLarge(0x7fff_ffff)),
        ]
        for (input, expected) in cases {
            var d = PeerFrameDecoder()
            d.append(contentsOf: input)
            XCTAssertThrowsError(try d.next()) { XCTAssertEqual($0 as? WireError, expected) }
        }
        // A frame whose inner count claims more than it carries.
        var w = ByteWriter()
        w.u32(0); w.u8(1); w.u8(4); w.u64(1); w.u32(0); w.u32(1_000_000)
        let n = UInt32(w.bytes.count - 4)
        w.bytes[0] = UInt8(n >> 24); w.bytes[1] = UInt8((n >> 16) & 0xff); w.bytes[2] = UInt8((n >> 8) & 0xff); w.bytes[3] = UInt8(n & 0xff)
        var d = PeerFrameDecoder()
        d.append(contentsOf: w.bytes)
        XCTAssertThrowsError(try d.next())
    }

    /// Corrupted streams (seeded, so a failure replays): the decoder either refuses with a wire
    /// error or returns frames that encode and decode back to themselves; frames before the first
    /// corrupted byte come out exactly as sent; and most corruptions are noticed.
    func testRandomCorruptionNeverCrashes() {
        var rng = SeededRandom(seed: 17)
        var all: [UInt8] = []
        var ends: [Int] = []
        for f in frames { all += f.encoded; ends.append(all.count) }
        var refused = 0, differed = 0
        for _ in 0..<2000 {
            var bytes = all
            var first = bytes.count
            for _ in 0..<(1 + rng.below(5)) {
                let i = rng.below(bytes.count)
                let v = UInt8(rng.below(256))
                if bytes[i] != v { first = min(first, i) }
                bytes[i] = v
            }
            var d = PeerFrameDecoder(maxFrameBytes: 1 << 16)
            d.append(contentsOf: bytes)
            var decoded: [PeerFrame] = []
            do {
                while decoded.count < frames.count + 5, let f = try d.next() { decoded.append(f) }
            } catch {
                refused += 1
            }
            let intact = ends.prefix { $0 <= first }.count
            XCTAssertEqual(Array(decoded.prefix(intact)), Array(frames.prefix(intact)), "frames before the first corrupted byte")
            for f in decoded {
                var again = PeerFrameDecoder()
                again.append(contentsOf: f.encoded)
                XCTAssertEqual(try again.next(), f, "a decoded frame re-encodes to itself")
            }
            if decoded != frames { differed += 1 }
        }
        XCTAssertGreaterThan(refused, 500, "corruptions refused with a wire error")
        XCTAssertGreaterThan(differed, 1500, "corruptions change what comes out")
    }

    func testHandshakeProofs() {
        let secret = Array("s3cret".utf8)
        let cn = Secrets.randomBytes(32), sn = Secrets.randomBytes(32)
        XCTAssertNotEqual(cn, sn)
        let p = PeerHandshake.serverProof(secret: secret, clientNonce: cn, serverNonce: sn, server: "n1")
        XCTAssertEqual(p.count, 32)
        XCTAssert(Secrets.constantTimeEqual(p, PeerHandshake.serverProof(secret: secret, clientNonce: cn, serverNonce: sn, server: "n1")))
        XCTAssertFalse(Secrets.constantTimeEqual(p, PeerHandshake.serverProof(secret: Array("other".utf8), clientNonce: cn, serverNonce: sn, server: "n1")))
        XCTAssertFalse(Secrets.constantTimeEqual(p, PeerHandshake.clientProof(secret: secret, clientNonce: cn, serverNonce: sn, client: "n1")),
                       "the two directions' proofs differ, so one cannot be reflected as the other")
        // RFC 4231 test case 2.
        let mac = Secrets.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(mac.map { String(format: "%02x", $0) }.joined(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}

import Foundation
