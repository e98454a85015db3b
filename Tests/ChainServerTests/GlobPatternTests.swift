import XCTest
@testable import ChainServer

/// Redis's glob rules, case by case (the cases of Redis's own `stringmatchlen` tests and docs).
final class GlobPatternTests: XCTestCase {
    private func m(_ pattern: String, _ s: String) -> Bool { GlobPattern(Array(pattern.utf8)).matches(Array(s.utf8)) }

    func testRedisExamples() {
        for (p, yes, no) in [
            ("h?llo", ["hello", "hallo", "hxllo"], ["hllo", "heello"]),
            ("h*llo", ["hllo", "heeeello", "hello"], ["hella", "xhello"]),
            ("h[ae]llo", ["hello", "hallo"], ["hillo", "hllo"]),
            ("h[^e]llo", ["hallo", "hbllo"], ["hello", "hllo"]),
            ("h[a-b]llo", ["hallo", "hbllo"], ["hcllo"]),
            ("h[b-a]llo", ["hallo", "hbllo"], ["hcllo"]),
            ("*", ["", "anything"], []),
            ("a\\*b", ["a*b"], ["axb", "a\\*b"]),
            ("a[\\]]b", ["a]b"], ["a\\b"]),
            ("user:*:name", ["user:1:name", "user::name"], ["user:1:nam", "users:1:name"]),
            ("*a*a*a*", ["aaa", "xaxaxax"], ["aa"]),
        ] {
            for s in yes { XCTAssertTrue(m(p, s), "\(p) should match \(s)") }
            for s in no { XCTAssertFalse(m(p, s), "\(p) should not match \(s)") }
        }
    }

    /// Many stars against a long string that does not match end quickly (bounded steps).
    func testPathologicalPatternEnds() {
        let p = String(repeating: "*a", count: 40) + "b"
        let s = String(repeating: "a", count: 200)
        let start = Date()
        XCTAssertFalse(m(p, s))
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}
