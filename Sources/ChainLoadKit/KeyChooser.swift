/// Picks keys from `0..<count`: uniformly, or Zipfian (YCSB's scrambled Zipfian: a few keys are
/// hot, and which ones are scattered over the key space, not clustered at the low end).
public struct KeyChooser: Sendable {
    public enum Distribution: Sendable, Equatable {
        case uniform
        case zipfian(theta: Double)
        /// YCSB's "latest": Zipfian over recency — the newest keys are the hottest. `next`
        /// returns how far back from the newest key to go (0 = the newest).
        case latest
    }

    public let count: Int
    public let distribution: Distribution
    private let zetan: Double
    private let alpha: Double
    private let eta: Double
    private let theta: Double

    public init(count: Int, distribution: Distribution) {
        self.count = max(count, 1)
        self.distribution = distribution
        let skew: Double? = switch distribution {
        case let .zipfian(t): t
        case .latest: 0.99
        case .uniform: nil
        }
        if let t = skew {
            theta = t
            let n = Double(self.count)
            var z = 0.0
            for i in 1...self.count { z += 1.0 / pow(Double(i), t) }
            zetan = z
            let zeta2 = 1.0 + 1.0 / pow(2.0, t)
            alpha = 1.0 / (1.0 - t)
            eta = (1.0 - pow(2.0 / n, 1.0 - t)) / (1.0 - zeta2 / z)
        } else {
            theta = 0; zetan = 0; alpha = 0; eta = 0
        }
    }

    public func next<G: RandomNumberGenerator>(using g: inout G) -> Int {
        switch distribution {
        case .uniform:
            return Int.random(in: 0..<count, using: &g)
        case .zipfian:
            // Scramble so the hot keys are spread over the key space.
            return Int(Self.fnv(UInt64(rank(using: &g))) % UInt64(count))
        case .latest:
            return rank(using: &g)
        }
    }

    /// A Zipfian rank in 0..<count (0 the most likely).
    private func rank<G: RandomNumberGenerator>(using g: inout G) -> Int {
        let u = Double.random(in: 0..<1, using: &g)
        let uz = u * zetan
        let r: Int
        if uz < 1.0 { r = 0 }
        else if uz < 1.0 + pow(0.5, theta) { r = 1 }
        else { r = Int(Double(count) * pow(eta * u - eta + 1.0, alpha)) }
        return min(r, count - 1)
    }

    static func fnv(_ v: UInt64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var x = v
        for _ in 0..<8 {
            h = (h ^ (x & 0xff)) &* 0x100_0000_01b3
            x >>= 8
        }
        return h
    }

    /// The key's name on the wire (fixed width, like YCSB's `user…` keys): `key:` and twelve
    /// digits (more for larger numbers).
    public static func name(_ i: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(nameLength(i))
        appendName(i, to: &out)
        return out
    }

    private static let prefix: [UInt8] = Array("key:".utf8)

    public static func nameLength(_ i: Int) -> Int {
        var digits = 12
        var limit = 1_000_000_000_000
        while i >= limit && digits < 19 { digits += 1; limit = limit > Int.max / 10 ? Int.max : limit * 10 }
        return 4 + digits
    }

    /// `name(i)` written straight into `out`, byte by byte: this runs for every operation.
    public static func appendName(_ i: Int, to out: inout [UInt8]) {
        let length = nameLength(i)
        out.append(contentsOf: prefix)
        let end = out.count + length - 4
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: length - 4))
        var n = max(i, 0)
        var d = end - 1
        while n > 0 {
            out[d] = UInt8(48 + n % 10)
            n /= 10
            d -= 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
