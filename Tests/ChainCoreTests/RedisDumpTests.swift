import XCTest
@testable import ChainCore

/// DUMP payloads: what Redis 7.0.15 wrote (captured with `redis-cli DUMP`) decodes here, what is
/// written here decodes back, and damaged payloads are refused, never trusted.
final class RedisDumpTests: XCTestCase {
    private func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testRedisCRC64CheckValue() {
        XCTAssertEqual(CRC64.jones(bytes("123456789")), 0xe9c6_d914_c4b8_d9ca)
    }

    func testPayloadsRedisWrote() throws {
        // The resp-compatibility suite's payload (RDB version 6).
        XCTAssertEqual(try RedisDump.decode([0x00, 0x01, 0x76, 0x06, 0x00, 0x07, 0xe5, 0xa6, 0x32, 0xec, 0x6d, 0xb6, 0x5d]), .string(bytes("v")))
        // Redis 7.0.15: an embstr, integers, an LZF-compressed string.
        XCTAssertEqual(try RedisDump.decode(hex("000568656c6c6f0a006372df766534200a")), .string(bytes("hello")))
        XCTAssertEqual(try RedisDump.decode(hex("00c139300a009d94ea2793fc08b9")), .string(bytes("12345")))
        XCTAssertEqual(try RedisDump.decode(hex("00c0f90a005e26d130d7a242ab")), .string(bytes("-7")))
        XCTAssertEqual(try RedisDump.decode(hex("00c31142580361626361e0ff02e1ff07e139070162630a00f81db94e44caf7a0")),
                       .string(bytes(String(repeating: "abc", count: 200))))
        // Hashes: a listpack (with small and negative integers), an LZF-compressed listpack, a
        // hash table (RDB type 4, with integer-encoded values).
        XCTAssertEqual(try RedisDump.decode(hex("101c1c0000000600826631038276310382663203160182663303ded402ff0a000cbf79b4e79e94d5")),
                       .hash(["f1", "v1", "f2", "22", "f3", "-300"].map(bytes)))
        let compressed = hex("10c34108421113110200003c00866669656c6431078676616c75652007600f0032a00f2007600f0033a00f2007600f0034a00f2007600f0035a00f2007600f0036a00f2007600f0037a00f2007600f0038a00f2007600f0039a00f02390787600f03313008878090200880110031c011200880110032c011200880110033c011200880110034c011200880110035c011200880110036c011200880110037c011200880110038c011200880110039c01120086011003220aa60b34008801120aa80112008801120aa80112008801120aa80112008801120aa80112008801120aa80112008801120aa80112008801120aa80112008801120aa80112008801120aa8011200860110033c0b3200800ff0a000d1683a41ac84841")
        XCTAssertEqual(try RedisDump.decode(compressed), .hash((1...30).flatMap { ["field\($0)", "value\($0)"] }.map(bytes)))
        XCTAssertEqual(try RedisDump.decode(hex("0402026262c0020161c0010a003d7dfa1100a21897")), .hash(["bb", "2", "a", "1"].map(bytes)))
    }

    func testWhatIsWrittenReadsBack() throws {
        for n in [0, 1, 63, 64, 16383, 16384, 70000] {
            let s = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            XCTAssertEqual(try RedisDump.decode(RedisDump.encode(.string(s))), .string(s), "\(n) bytes")
        }
        let pairs = (0..<300).flatMap { [bytes("f\($0)"), bytes(String(repeating: "v", count: $0))] }
        XCTAssertEqual(try RedisDump.decode(RedisDump.encode(.hash(pairs))), .hash(pairs))
        // Type 0, length, bytes; version 9; the CRC.
        let p = RedisDump.encode(.string(bytes("hi")))
        XCTAssertEqual(Array(p.prefix(6)), [0x00, 0x02, 0x68, 0x69, 0x09, 0x00])
        XCTAssertEqual(p.count, 14)
    }

    func testAZiplistHash() throws {
        // Redis 6's small-hash encoding: header (zlbytes, zltail, zllen), entries (prevlen,
        // encoding, data), 0xff. Entries: "a", 7 (immediate), "bb", 300 (int16).
        var zl: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 4, 0]
        zl += [0x00, 0x01, 0x61]
        zl += [0x03, 0xf8]
        zl += [0x02, 0x02, 0x62, 0x62]
        zl += [0x04, 0xc0, 0x2c, 0x01]
        zl += [0xff]
        var payload: [UInt8] = [13]
        RedisDump.appendString(zl, to: &payload)
        payload += [0x09, 0x00]
        let crc = CRC64.jones(payload)
        for i in 0..<8 { payload.append(UInt8((crc >> (8 * UInt64(i))) & 0xff)) }
        XCTAssertEqual(try RedisDump.decode(payload), .hash(["a", "7", "bb", "300"].map(bytes)))
    }

    func testDamagedPayloadsAreRefused() {
        let good = RedisDump.encode(.hash(["f", "v"].map(bytes)))
        var flipped = good
        flipped[2] ^= 1
        XCTAssertEqual(decodeError(flipped), .versionOrChecksum)
        XCTAssertEqual(decodeError(Array(good.prefix(9))), .versionOrChecksum)
        XCTAssertEqual(decodeError([]), .versionOrChecksum)
        // A newer RDB version than this reader knows.
        var newer = Array(good.dropLast(10)) + [13, 0]
        let crc = CRC64.jones(newer)
        for i in 0..<8 { newer.append(UInt8((crc >> (8 * UInt64(i))) & 0xff)) }
        XCTAssertEqual(decodeError(newer), .versionOrChecksum)
        // Types chainstore does not store, and structure that lies about its lengths (with a
        // correct CRC, so only the parser stands between them and the store).
        XCTAssertEqual(decodeError(sealed([1, 0])), .unsupportedType(family: "lists"))
        XCTAssertEqual(decodeError(sealed([2, 0])), .unsupportedType(family: "sets"))
        XCTAssertEqual(decodeError(sealed([17, 0])), .unsupportedType(family: "sorted sets"))
        XCTAssertEqual(decodeError(sealed([15, 0])), .unsupportedType(family: "streams"))
        for body: [UInt8] in [[0, 0x05, 0x61], [0, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [4, 0x3f, 0x01, 0x61],
                              [4, 0x01, 0x01, 0x61, 0x01, 0x62, 0x00], [4, 0x00], [4, 0x02, 0x01, 0x61, 0x00, 0x01, 0x61, 0x00],
                              [0, 0xc3, 0x02, 0x05, 0x01, 0x61], [16, 0x03, 0x00, 0x00, 0x00], [99]] {
            guard case .malformed? = decodeError(sealed(body)) else { XCTFail("\(body) was accepted"); continue }
        }
        // Random damage to a valid body, resealed, never crashes the decoder.
        var rng = SeededRandom(seed: 11)
        let body = Array(RedisDump.encode(.hash((0..<20).flatMap { ["f\($0)", "value \($0)"] }.map(bytes))).dropLast(10))
        for _ in 0..<2000 {
            var b = body
            for _ in 0..<2 { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? RedisDump.decode(sealed(b))
        }
    }

    private func sealed(_ body: [UInt8]) -> [UInt8] {
        var p = body + [0x09, 0x00]
        let crc = CRC64.jones(p)
        for i in 0..<8 { p.append(UInt8((crc >> (8 * UInt64(i))) & 0xff)) }
        return p
    }

    private func decodeError(_ payload: [UInt8]) -> RedisDump.DecodeError? {
        do {
            _ = try RedisDump.decode(payload)
            return nil
        } catch { return error }
    }
}
