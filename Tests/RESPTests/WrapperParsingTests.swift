import XCTest
@testable import RESP
import ChainCore

/// The parser taking chainstore's wrapper words off the front of requests (`RESPWrappers`).
final class WrapperParsingTests: XCTestCase {
    private let words = RESPWrappers(markers: [Array("cs.fwd".utf8)], tags: [Array("cs.req".utf8), Array("cs.retry".utf8)])

    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func request(_ args: [String]) -> [UInt8] {
        var out = b("*\(args.count)\r\n")
        for a in args { out += b("$\(a.utf8.count)\r\n\(a)\r\n") }
        return out
    }

    private func parse(_ bytes: [UInt8], wrappers: RESPWrappers?, chunk: Int = .max, limits: RESPLimits = RESPLimits()) throws -> [RESPCommand] {
        var p = RESPCommandParser(limits: limits, wrappers: wrappers)
        var out: [RESPCommand] = []
        var offset = 0
        while offset < bytes.count {
            let n = min(chunk, bytes.count - offset)
            p.append(contentsOf: bytes[offset..<(offset + n)])
            offset += n
            while let c = try p.next() { out.append(c) }
        }
        return out
    }

    /// Ids read over raw memory (overflow checked only at 20 digits) agree with a plain
    /// reading, for every length and with a non-digit anywhere (seeded).
    func testDecimalIDsAgreeWithAPlainReading() {
        func plain(_ s: [UInt8]) -> UInt64? {
            guard !s.isEmpty, s.count <= 20, s.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return UInt64(String(decoding: s, as: UTF8.self))
        }
        var rng = SeededRandom(seed: 17)
        let odd: [UInt8] = [47, 58, 0, 255, 32, 45, 43, 97, 0x3A, 0x3F, 0x40, 0xB0]
        for _ in 0..<20_000 {
            let length = Int(rng.next() % 21) + 1
            var s = (0..<length).map { _ in UInt8(48 + rng.next() % 10) }
            if rng.next() % 3 == 0 { s[Int(rng.next() % UInt64(length))] = odd[Int(rng.next() % UInt64(odd.count))] }
            if rng.next() % 5 == 0 { s = Array(String(rng.next()).utf8) }
            let n = s.count
            // Inside a larger buffer, so reads that strayed past `to` would pick up the padding.
            let buf: [UInt8] = [57, 57] + s + [57, 57, 57, 57, 57, 57, 57, 57]
            XCTAssertEqual(RESPWrappers.decimalID(buf, from: 2, to: 2 + n), plain(s), "\(s)")
        }
        XCTAssertEqual(RESPWrappers.decimalID(Array("18446744073709551615".utf8), from: 0, to: 20), UInt64.max)
        XCTAssertNil(RESPWrappers.decimalID(Array("18446744073709551616".utf8), from: 0, to: 20))
        XCTAssertEqual(RESPWrappers.decimalID(Array("9999999999999999999".utf8), from: 0, to: 19), 9_999_999_999_999_999_999)
    }

    /// Words compared in any case, and a buffer too short for the word (or a position outside
    /// it) is no match rather than a trap.
    func testWordMatchingIgnoresCaseAndShortBuffers() {
        XCTAssertTrue(RESPWrappers.matches(b("cs.req"), b("xCS.REQ"), at: 1))
        XCTAssertFalse(RESPWrappers.matches(b("cs.req"), b("xCS.REX"), at: 1))
        XCTAssertFalse(RESPWrappers.matches(b("cs.req"), b("CS.RE"), at: 0))
        XCTAssertFalse(RESPWrappers.matches(b("cs.req"), b("xCS.REQ"), at: 2))
        XCTAssertFalse(RESPWrappers.matches(b("cs.req"), b("CS.REQ"), at: -1))
        XCTAssertTrue(RESPWrappers.matches([], [], at: 0))
    }

    func testATaggedWriteArrivesWithoutItsWrapperArguments() throws {
        let cmds = try parse(request(["CS.REQ", "123", "456", "SET", "k", "v"]), wrappers: words)
        XCTAssertEqual(cmds, [RESPCommand(args: [b("SET"), b("k"), b("v")], tag: RESPTag(word: 0, first: 123, second: 456))])
    }

    func testAForwardedRetryAndCaseInsensitiveWords() throws {
        let cmds = try parse(request(["cs.Fwd", "Cs.ReTrY", "18446744073709551615", "0", "GET", "k"]), wrappers: words)
        XCTAssertEqual(cmds, [RESPCommand(args: [b("GET"), b("k")], marked: true,
                                          tag: RESPTag(word: 1, first: .max, second: 0))])
        XCTAssertEqual(try parse(request(["CS.FWD", "PING"]), wrappers: words), [RESPCommand(args: [b("PING")], marked: true)])
    }

    /// Words that do not make a wrapper stay arguments, as sent up to the id read, for the
    /// server to refuse with its usual error.
    func testMalformedWrappersStayArguments() throws {
        let cases: [([String], [String])] = [
            (["CS.REQ", "abc", "5", "SET", "k", "v"], ["cs.req", "abc", "5", "SET", "k", "v"]),
            (["CS.REQ", "12", "x", "SET", "k"], ["cs.req", "12", "x", "SET", "k"]),
            (["CS.REQ", "18446744073709551616", "1", "SET"], ["cs.req", "18446744073709551616", "1", "SET"]),
            (["CS.REQ", "1", "2"], ["CS.REQ", "1", "2"]),  // no command after it
            (["CS.FWD"], ["CS.FWD"]),                      // nothing to mark
            (["SET", "CS.REQ", "1", "2", "k"], ["SET", "CS.REQ", "1", "2", "k"]),  // not in front
            (["CS.REQ", "1", "2", "CS.FWD", "GET", "k"], ["CS.FWD", "GET", "k"]),  // a marker after the tag is an argument
        ]
        for (sent, kept) in cases {
            let cmds = try parse(request(sent), wrappers: words)
            XCTAssertEqual(cmds.count, 1, "\(sent)")
            XCTAssertEqual(cmds.first?.args, kept.map(b), "\(sent)")
        }
    }

    func testAnOversizedArgumentIsCountedAsSent() throws {
        let cmds = try parse(request(["CS.REQ", "1", "2", "SET", "k", String(repeating: "x", count: 100)]), wrappers: words,
                             limits: RESPLimits(maxArgumentBytes: 10))
        XCTAssertEqual(cmds.first?.oversized, OversizedArgument(index: 5, length: 100))
        XCTAssertEqual(cmds.first?.args, [b("SET"), b("k"), []])
        XCTAssertEqual(cmds.first?.tag, RESPTag(word: 0, first: 1, second: 2))
        // An oversized id: the tag goes back to the arguments.
        let big = try parse(request(["CS.REQ", "1", String(repeating: "9", count: 100), "SET"]), wrappers: words,
                            limits: RESPLimits(maxArgumentBytes: 10))
        XCTAssertEqual(big.first?.args, [b("cs.req"), b("1"), [], b("SET")])
        XCTAssertNil(big.first?.tag)
    }

    /// Random requests over a vocabulary of wrapper words, ids, non-ids and commands, fed in
    /// random pieces: with the wrappers taken off and put back in front, every request reads as
    /// a parser without wrappers reads it (the words lowercased).
    func testSameRequestsAsWithoutWrappers() throws {
        let vocabulary = ["cs.fwd", "CS.FWD", "cs.req", "CS.RETRY", "123", "0", "18446744073709551615",
                          "18446744073709551616", "12a", "", "SET", "k", "value"]
        var rng = SeededRandom(seed: 7)
        for round in 0..<300 {
            var bytes: [UInt8] = []
            for _ in 0..<(1 + Int.random(in: 0..<6, using: &rng)) {
                bytes += request((0..<(1 + Int.random(in: 0..<7, using: &rng))).map { _ in vocabulary[Int.random(in: 0..<vocabulary.count, using: &rng)] })
            }
            let chunk = 1 + Int.random(in: 0..<40, using: &rng)
            let plain = try parse(bytes, wrappers: nil)
            let taken = try parse(bytes, wrappers: words, chunk: chunk)
            XCTAssertEqual(taken.count, plain.count, "round \(round)")
            for (t, p) in zip(taken, plain) {
                var rebuilt: [[UInt8]] = []
                if t.marked { rebuilt.append(b("cs.fwd")) }
                if let tag = t.tag { rebuilt += [words.tags[tag.word], b(String(tag.first)), b(String(tag.second))] }
                rebuilt += t.args
                let lower = { (a: [UInt8]) in a.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 } }
                XCTAssertEqual(rebuilt.map(lower), p.args.map(lower), "round \(round)")
            }
        }
    }
}
