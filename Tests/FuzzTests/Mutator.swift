import ChainCore
import Foundation

/// A seeded random mutator for the fuzz tests: it takes valid inputs and breaks them the ways
/// attackers and bugs do (flipped bits, dropped and repeated bytes, spliced inputs, numbers
/// swapped for huge or negative ones, CR/LF sprinkled in). The same seed gives the same inputs,
/// so a failure is reproducible from the seed the test prints.
struct Mutator {
    var rng: SeededRandom

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    /// How many inputs a fuzz test tries: a short run by default (CI); set
    /// `CHAINSTORE_FUZZ_ITERATIONS` for a long one.
    static var iterations: Int {
        Int(ProcessInfo.processInfo.environment["CHAINSTORE_FUZZ_ITERATIONS"] ?? "") ?? 20_000
    }

    /// The run's seed: `CHAINSTORE_FUZZ_SEED`, or a fresh one (printed by the tests).
    static var seed: UInt64 {
        UInt64(ProcessInfo.processInfo.environment["CHAINSTORE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
    }

    private static let interesting: [[UInt8]] = [
        Array("\r\n".utf8), Array("-1".utf8), Array("0".utf8), Array("2147483648".utf8), Array("9223372036854775807".utf8),
        Array("99999999999999999999".utf8), Array("*".utf8), Array("$".utf8), Array("\u{0}".utf8), [0xff, 0xff, 0xff, 0xff],
        [0x7f, 0xff, 0xff, 0xff], [0, 0, 0, 0], Array("\"".utf8), Array("{".utf8), Array("[".utf8), Array("null".utf8),
        Array("1e308".utf8), Array("-9223372036854775808".utf8), Array("18446744073709551615".utf8),
    ]

    mutating func int(_ n: Int) -> Int { Int.random(in: 0..<max(n, 1), using: &rng) }

    /// One to four mutations of `input`, sometimes spliced with `other`.
    mutating func mutate(_ input: [UInt8], other: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0...int(4) {
            switch int(8) {
            case 0 where !b.isEmpty: // flip a bit
                let i = int(b.count); b[i] ^= UInt8(1 << int(8))
            case 1 where !b.isEmpty: // drop a range
                let i = int(b.count); b.removeSubrange(i..<min(b.count, i + 1 + int(8)))
            case 2 where !b.isEmpty: // repeat a range
                let i = int(b.count); let r = Array(b[i..<min(b.count, i + 1 + int(16))])
                b.insert(contentsOf: r, at: int(b.count + 1))
            case 3: // insert something interesting
                b.insert(contentsOf: Self.interesting[int(Self.interesting.count)], at: int(b.count + 1))
            case 4 where !b.isEmpty: // replace a digit run with an interesting number
                if let i = b.indices.shuffled(using: &rng).first(where: { b[$0] >= 48 && b[$0] <= 57 }) {
                    var j = i
                    while j < b.count && b[j] >= 48 && b[j] <= 57 { j += 1 }
                    b.replaceSubrange(i..<j, with: Self.interesting[int(Self.interesting.count)])
                }
            case 5: // splice with another input
                let cut = int(b.count + 1), from = int(other.count + 1)
                b = Array(b[..<cut]) + Array(other[from...])
            case 6 where !b.isEmpty: // truncate
                b.removeLast(int(b.count) + 1)
            default: // a random byte somewhere
                b.insert(UInt8.random(in: 0...255, using: &rng), at: int(b.count + 1))
            }
        }
        return b
    }

    /// `bytes` cut into random pieces, as a network delivers them.
    mutating func pieces(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while i < bytes.count {
            let n = 1 + int(min(64, bytes.count - i))
            out.append(bytes[i..<(i + n)])
            i += n
        }
        return out
    }
}
