import XCTest
@testable import RESP
import ChainCore

final class CommandParserTests: XCTestCase {
    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func parseAll(_ bytes: [UInt8], limits: RESPLimits = RESPLimits(), chunks: [Int]? = nil) throws -> [RESPCommand] {
        var p = RESPCommandParser(limits: limits)
        var out: [RESPCommand] = []
        var offset = 0
        let sizes = chunks ?? [bytes.count]
        var i = 0
        while offset < bytes.count {
            let n = min(sizes[i % sizes.count], bytes.count - offset)
            p.append(contentsOf: bytes[offset..<(offset + n)])
            offset += n
            i += 1
            while let c = try p.next() { out.append(c) }
        }
        return out
    }

    func testArrayOfBulks() throws {
        let cmds = try parseAll(b("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"))
        XCTAssertEqual(cmds, [RESPCommand(args: [b("SET"), b("k"), b("hello")])])
    }

    /// A recycled argument list holds the next request's arguments, and a list still shared
    /// (a queued transaction keeps its commands) keeps its own.
    func testRecycledArgumentListsHoldTheNextRequest() throws {
        var p = RESPCommandParser()
        p.append(contentsOf: b("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$2\r\nkk\r\n*1\r\n$4\r\nPING\r\n"))
        var first = try XCTUnwrap(p.next())
        let kept = first.args
        p.recycle(&first.args)
        var second = try XCTUnwrap(p.next())
        XCTAssertEqual(second.args, [b("GET"), b("kk")])
        XCTAssertEqual(kept, [b("SET"), b("k"), b("hello")])
        p.recycle(&second.args)
        XCTAssertEqual(try p.next()?.args, [b("PING")])
        // Mid-request (arguments taken, more awaited): nothing is taken back.
        p.append(contentsOf: b("*2\r\n$3\r\nGET\r\n"))
        XCTAssertNil(try p.next())
        var spare = [b("x")]
        p.recycle(&spare)
        XCTAssertEqual(spare, [b("x")])
        p.append(contentsOf: b("$1\r\nz\r\n"))
        XCTAssertEqual(try p.next()?.args, [b("GET"), b("z")])
    }

    func testBinarySafeArguments() throws {
        let value: [UInt8] = [0, 13, 10, 255, 36, 42]
        var w = RESPWriter()
        w.command([b("SET"), b("k\r\n"), value])
        XCTAssertEqual(try parseAll(w.bytes), [RESPCommand(args: [b("SET"), b("k\r\n"), value])])
    }

    func testEmptyArraysAreSkipped() throws {
        XCTAssertEqual(try parseAll(b("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n")), [RESPCommand(args: [b("PING")])])
    }

    func testInlineCommands() throws {
        let cmds = try parseAll(b("PING\r\nset  k \"a b\\x41\\n\"\nget 'it\\'s'\r\n\r\n"))
        XCTAssertEqual(cmds.map(\.args), [[b("PING")], [b("set"), b("k"), b("a bA\n")], [b("get"), b("it's")]])
    }

    /// The same long pipeline parsed whole, byte by byte, and at many random split points must
    /// give identical commands.
    func testRandomSplitsOfLongPipeline() throws {
        var rng = SystemRandomNumberGenerator()
        var w = RESPWriter()
        var expected: [RESPCommand] = []
        for i in 0..<500 {
            let value = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let args = [b("SET"), b("key:\(i)"), value]
            w.command(args)
            expected.append(RESPCommand(args: args))
            if i % 7 == 0 {
                w.bytes += b("GET key:\(i)\r\n")
                expected.append(RESPCommand(args: [b("GET"), b("key:\(i)")]))
            }
        }
        XCTAssertEqual(try parseAll(w.bytes), expected)
        XCTAssertEqual(try parseAll(w.bytes, chunks: [1]), expected)
        for seed in 0..<20 {
            var g = SeededRandom(seed: UInt64(seed))
            let chunks = (0..<50).map { _ in Int(g.next() % 97) + 1 }
            XCTAssertEqual(try parseAll(w.bytes, chunks: chunks), expected, "seed \(seed)")
        }
    }

    func testOversizedArgumentIsSkippedAndReported() throws {
        let limits = RESPLimits(maxArgumentBytes: 10)
        let big = [UInt8](repeating: 120, count: 100)
        var w = RESPWriter()
        w.command([b("SET"), b("k"), big])
        w.command([b("GET"), b("k")])
        for chunks in [[w.bytes.count], [1], [7, 13]] {
            let cmds = try parseAll(w.bytes, limits: limits, chunks: chunks)
            XCTAssertEqual(cmds.count, 2)
            XCTAssertEqual(cmds[0].oversized, OversizedArgument(index: 2, length: 100))
            XCTAssertEqual(cmds[0].args[2], [])
            XCTAssertEqual(cmds[1], RESPCommand(args: [b("GET"), b("k")]))
        }
    }

    func testSkippedBytesAreNotBuffered() throws {
        var p = RESPCommandParser(limits: RESPLimits(maxArgumentBytes: 1000))
        p.append(contentsOf: b("*2\r\n$3\r\nSET\r\n$10000000\r\n"))
        XCTAssertNil(try p.next())
        for _ in 0..<100 {
            p.append(contentsOf: [UInt8](repeating: 0, count: 100_000))
            XCTAssertNil(try p.next())
            XCTAssertLessThan(p.bufferedBytes, 200_000)
        }
        p.append(contentsOf: b("\r\n"))
        XCTAssertEqual(try p.next()?.oversized?.length, 10_000_000)
    }

    func testMalformedInputs() {
        let limits = RESPLimits(maxBulkBytes: 1 << 20, maxArrayLength: 1000, maxInlineBytes: 100)
        let table: [(String, [UInt8], RESPProtocolError)] = [
            ("bad multibulk length", b("*x\r\n"), .invalidMultibulkLength),
            ("negative bulk length", b("*1\r\n$-5\r\n"), .invalidBulkLength),
            ("bulk length over limit", b("*1\r\n$99999999\r\n"), .invalidBulkLength),
            ("array over limit", b("*5000\r\n"), .invalidMultibulkLength),
            ("overflowing length", b("*99999999999999999999999\r\n"), .invalidMultibulkLength),
            ("not a bulk inside array", b("*1\r\n:5\r\n"), .expectedBulk(got: UInt8(ascii: ":"))),
            ("nested array", b("*1\r\n*1\r\n"), .expectedBulk(got: UInt8(ascii: "*"))),
            ("missing CRLF after data", b("*1\r\n$3\r\nabcde\r\n"), .missingCRLF),
            ("unbalanced quotes", b("set \"abc\r\n"), .unbalancedQuotes),
            ("text after closing quote", b("set \"a\"b\r\n"), .unbalancedQuotes),
            ("inline too long", [UInt8](repeating: 97, count: 200), .inlineTooLong),
            ("header line without CRLF", b("*1" + String(repeating: "1", count: 40)), .invalidMultibulkLength),
        ]
        for (name, input, expected) in table {
            var p = RESPCommandParser(limits: limits)
            p.append(contentsOf: input)
            XCTAssertThrowsError(try { while try p.next() != nil {} }(), name) { error in
                XCTAssertEqual(error as? RESPProtocolError, expected, name)
            }
        }
    }

    func testErrorMessagesMatchRedis() {
        XCTAssertEqual(RESPProtocolError.invalidBulkLength.description, "invalid bulk length")
        XCTAssertEqual(RESPProtocolError.invalidMultibulkLength.description, "invalid multibulk length")
        XCTAssertEqual(RESPProtocolError.expectedBulk(got: 0x3a).description, "expected '$', got ':'")
    }
}

