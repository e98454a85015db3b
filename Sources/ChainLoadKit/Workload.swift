/// What a load generator sends: a mix of operations over a key space.
public enum Operation: String, Sendable, CaseIterable, Codable {
    /// Read a key.
    case get
    /// Overwrite a key.
    case set
    /// Write a key that did not exist (YCSB D's inserts: the key space grows).
    case insert
    /// Read a key, then write it (YCSB F), timed as one operation.
    case rmw
}

extension Operation {
    /// Position in `allCases`, for per-operation counters kept in arrays.
    var index: Int {
        switch self {
        case .get: 0
        case .set: 1
        case .insert: 2
        case .rmw: 3
        }
    }
}

public struct Workload: Sendable, Equatable {
    /// Percent of each operation; sums to 100.
    public var mix: [Operation: Int]
    public var name: String

    public init(mix: [Operation: Int], name: String) {
        self.mix = mix
        self.name = name
    }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case unknownWorkload(String)
        case badMix(String)
        public var description: String {
            switch self {
            case let .unknownWorkload(w): return "unknown workload '\(w)': use a (50/50), b (95/5), c (reads), d (read latest), f (read-modify-write), w (writes) or --mix"
            case let .badMix(m): return "bad --mix '\(m)': write it as get=90,set=10 (operations get, set, insert, rmw; percentages adding up to 100)"
            }
        }
    }

    /// YCSB's core workloads A (50% reads, 50% updates), B (95/5), C (read only), D (95% reads
    /// of the latest keys, 5% inserts — use with `--distribution latest`), F (50% reads, 50%
    /// read-modify-writes), plus `w` (write only).
    public static func named(_ name: String) throws(ParseError) -> Workload {
        switch name.lowercased() {
        case "a": return Workload(mix: [.get: 50, .set: 50], name: "a")
        case "b": return Workload(mix: [.get: 95, .set: 5], name: "b")
        case "c": return Workload(mix: [.get: 100], name: "c")
        case "d": return Workload(mix: [.get: 95, .insert: 5], name: "d")
        case "f": return Workload(mix: [.get: 50, .rmw: 50], name: "f")
        case "w": return Workload(mix: [.set: 100], name: "w")
        default: throw .unknownWorkload(name)
        }
    }

    /// `get=90,set=10`
    public static func parseMix(_ text: String) throws(ParseError) -> Workload {
        var mix: [Operation: Int] = [:]
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=")
            guard kv.count == 2, let op = Operation(rawValue: String(kv[0]).lowercased()), let pct = Int(kv[1]), pct >= 0 else {
                throw .badMix(text)
            }
            mix[op, default: 0] += pct
        }
        guard mix.values.reduce(0, +) == 100 else { throw .badMix(text) }
        return Workload(mix: mix, name: "mix(\(text))")
    }

    /// `operation(for:)` for every draw 0..<100, looked up instead of computed on the hot path.
    public var table: [Operation] { (0..<100).map(operation(for:)) }

    /// The operation for a uniform draw in 0..<100.
    public func operation(for draw: Int) -> Operation {
        var acc = 0
        for op in Operation.allCases {
            acc += mix[op] ?? 0
            if draw < acc { return op }
        }
        return .get
    }
}
