import XCTest
@testable import RESP

final class ReplyCodecTests: XCTestCase {
    private func roundTrip(_ v: RESPValue, version: Int) throws -> RESPValue? {
        var w = RESPWriter(version: version)
        w.value(v)
        var p = RESPReplyParser()
        p.append(contentsOf: w.bytes)
        let out = try p.next()
        XCTAssertEqual(p.bufferedBytes, 0)
        return out
    }

    func testEveryTypeRoundTripsInRESP3() throws {
        let values: [RESPValue] = [
            .simple("OK"), .error("ERR boom"), .integer(-42), .integer(Int64.max), .bulk([0, 1, 13, 10]), .bulk([]),
            .array([.integer(1), .bulk(Array("x".utf8)), .array([])]), .null, .double(1.5), .double(-3),
            .boolean(true), .boolean(false), .map([RESPPair(.bulk(Array("k".utf8)), .integer(1))]),
            .set([.integer(1)]), .verbatim(format: "txt", text: Array("hello".utf8)), .bigNumber("123456789012345678901234567890"),
            .push([.bulk(Array("message".utf8))]), .array(nil),
        ]
        for v in values {
            let back = try roundTrip(v, version: 3)
            if case .array(nil) = v { XCTAssertEqual(back, .null); continue }
            XCTAssertEqual(back, v, "\(v)")
        }
    }

    func testRESP2DowngradesRESP3Types() throws {
        XCTAssertEqual(try roundTrip(.null, version: 2), .bulk(nil))
        XCTAssertEqual(try roundTrip(.boolean(true), version: 2), .integer(1))
        XCTAssertEqual(try roundTrip(.double(2.5), version: 2), .bulk(Array("2.5".utf8)))
        XCTAssertEqual(try roundTrip(.map([RESPPair(.simple("a"), .integer(1))]), version: 2), .array([.simple("a"), .integer(1)]))
        XCTAssertEqual(try roundTrip(.array(nil), version: 2), .array(nil))
    }

    func testWriterPrimitives() {
        var w = RESPWriter()
        w.ok(); w.integer(0); w.integer(-7); w.integer(1234567890123); w.bulk("hi"); w.null(); w.arrayHeader(2)
        w.error("ERR bad\r\ninjected")
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self),
                       "+OK\r\n:0\r\n:-7\r\n:1234567890123\r\n$2\r\nhi\r\n$-1\r\n*2\r\n-ERR bad  injected\r\n")
    }

    func testReplyParserWaitsForWholeReply() throws {
        let bytes = Array("*2\r\n$5\r\nhello\r\n:12\r\n".utf8)
        var p = RESPReplyParser()
        for (i, byte) in bytes.enumerated() {
            p.append(contentsOf: [byte])
            let v = try p.next()
            if i < bytes.count - 1 { XCTAssertNil(v) } else { XCTAssertEqual(v, .array([.bulk(Array("hello".utf8)), .integer(12)])) }
        }
    }

    func testReplyParserRejectsDeepNestingAndBadTypes() {
        var p = RESPReplyParser(limits: RESPLimits(maxDepth: 8))
        p.append(contentsOf: Array(String(repeating: "*1\r\n", count: 20).utf8) + Array(":1\r\n".utf8))
        XCTAssertThrowsError(try p.next()) { XCTAssertEqual($0 as? RESPProtocolError, .tooDeep) }
        var q = RESPReplyParser()
        q.append(contentsOf: Array("?what\r\n".utf8))
        XCTAssertThrowsError(try q.next()) { XCTAssertEqual($0 as? RESPProtocolError, .unknownType(UInt8(ascii: "?"))) }
    }

    func testCommandEncodingParsesBack() throws {
        let args: [[UInt8]] = [Array("MSET".utf8), [0, 255], Array("v".utf8)]
        var p = RESPCommandParser()
        p.append(contentsOf: RESPWriter.command(args))
        XCTAssertEqual(try p.next(), RESPCommand(args: args))
    }
}
