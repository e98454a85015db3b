/// Words a request may start with that the server takes off before it runs the command:
/// markers (no arguments; chainstore's `CS.FWD`) and tags (two decimal ids follow; `CS.REQ` and
/// `CS.RETRY`). A parser given them recognizes them while it reads the request and hands them
/// over as `RESPCommand.marked` and `RESPCommand.tag` instead of arguments: for a tagged write
/// that is three small arrays fewer to allocate, compare, parse and free (callgrind: about
/// 1.5k instructions a write at a chain's head). Words that do not fit (an id that is not a
/// number, too few arguments after them) stay arguments, for the server to judge.
public struct RESPWrappers: Sendable {
    /// Lowercase; matched without regard to case.
    public let markers: [[UInt8]]
    public let tags: [[UInt8]]

    public init(markers: [[UInt8]], tags: [[UInt8]]) {
        self.markers = markers.map(Self.lowercased)
        self.tags = tags.map(Self.lowercased)
    }

    /// The index in `words` of the word at `b[from..<to]`, if it is one of them.
    static func index(of words: [[UInt8]], in b: [UInt8], from: Int, to: Int) -> Int? {
        var i = 0
        while i < words.count {
            if words[i].count == to - from && matches(words[i], b, at: from) { return i }
            i += 1
        }
        return nil
    }

    /// Whether `b` holds `word` (lowercase) at `at`, in any case (false where `b` is too short).
    public static func matches(_ word: [UInt8], _ b: [UInt8], at: Int) -> Bool {
        // Checked once here, so the loop reads raw memory: never a trap on a short argument.
        guard at >= 0, at + word.count <= b.count else { return false }
        // Over raw memory: indexing both arrays checked bounds twice a byte (about 30
        // instructions a byte; a tagged write's first word is compared on every request).
        return word.withUnsafeBufferPointer { w in
            b.withUnsafeBufferPointer { p in
                var k = 0
                while k < w.count {
                    let c = p[at + k]
                    if (c >= 65 && c <= 90 ? c + 32 : c) != w[k] { return false }
                    k += 1
                }
                return true
            }
        }
    }

    /// A decimal id in `b[from..<to]`: digits only, at most `UInt64.max`.
    public static func decimalID(_ b: [UInt8], from: Int, to: Int) -> UInt64? {
        guard from >= 0, to <= b.count else { return nil }
        return b.withUnsafeBufferPointer { decimalID($0, from: from, to: to) }
    }

    /// The same over raw bytes (`from..<to` inside `b`). Up to 19 digits cannot overflow, so
    /// only a 20-digit id is checked for it.
    static func decimalID(_ b: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> UInt64? {
        guard from < to, to - from <= 20, let p = b.baseAddress else { return nil }
        var v: UInt64 = 0
        if to - from < 20 {
            for i in from..<to {
                let d = p[i] &- 48
                guard d <= 9 else { return nil }
                v = v &* 10 &+ UInt64(d)
            }
            return v
        }
        for i in from..<to {
            let d = p[i] &- 48
            guard d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            v = a
        }
        return v
    }

    private static func lowercased(_ w: [UInt8]) -> [UInt8] { w.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 } }
}

/// A tag word and its two ids, taken off the front of a request (`RESPWrappers`).
public struct RESPTag: Equatable, Sendable {
    /// Which of the parser's tag words it was.
    public var word: Int
    public var first: UInt64
    public var second: UInt64
}
