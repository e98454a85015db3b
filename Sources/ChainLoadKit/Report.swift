import Foundation
import Histogram

/// The results of a run: the parameters and, per operation, counts, errors and latency
/// percentiles. This is also the `--json` schema.
public struct Report: Codable, Sendable {
    public struct Parameters: Codable, Sendable {
        public var target: String
        public var workload: String
        public var clients: Int
        public var pipeline: Int
        public var keys: Int
        public var value_bytes: Int
        /// Set when value sizes were drawn from value_bytes...value_bytes_max.
        public var value_bytes_max: Int?
        public var distribution: String
        public var duration_s: Double
        public var warmup_s: Double
        public var wait_replicas: Int
        /// Open-loop target rate (operations per second), nil for a closed-loop run.
        public var rate: Double?
        /// Cluster writes sent without idempotency tags (`--untagged-writes`); nil otherwise.
        public var untagged_writes: Bool?

        public init(target: String, workload: String, clients: Int, pipeline: Int, keys: Int, value_bytes: Int,
                    distribution: String, duration_s: Double, warmup_s: Double, wait_replicas: Int, rate: Double? = nil, value_bytes_max: Int? = nil) {
            self.target = target
            self.workload = workload
            self.clients = clients
            self.pipeline = pipeline
            self.keys = keys
            self.value_bytes = value_bytes
        self.value_bytes_max = value_bytes_max
            self.distribution = distribution
            self.duration_s = duration_s
            self.warmup_s = warmup_s
            self.wait_replicas = wait_replicas
            self.rate = rate
        }
    }

    public struct OpStats: Codable, Sendable {
        public var ops: UInt64
        public var errors: [String: UInt64]
        public var ops_per_s: Double
        public var p50_ms: Double
        public var p90_ms: Double
        public var p99_ms: Double
        public var p999_ms: Double
        public var max_ms: Double
        public var mean_ms: Double
        /// Reads (GET) only: how many found no value (the rest of `ops` are hits).
        public var misses: UInt64?
    }

    /// `--check`: the linearizability verdict on the recorded history.
    public struct Check: Codable, Sendable, Equatable {
        /// "linearizable", "violation" or "unknown" (the checker's budget ran out).
        public var verdict: String
        public var operations: Int
        public var keys: Int
        /// The first anomaly, with the operations involved.
        public var anomaly: String?
    }

    public var parameters: Parameters
    public var check: Check?
    /// Per second, warm-up included: throughput, p50/p99 latency, errors (what `--plot` draws).
    public var timeline: [Tick]?
    /// Reconfigurations seen during the run (cluster targets), seconds since the start.
    public var events: [RunEvent]?
    /// Cluster targets: successful operations per second by the node that served them (heads for
    /// writes, tails for reads) and by chain.
    public var per_node: [String: Double]?
    public var per_chain: [String: Double]?
    /// Measured seconds (after the warm-up).
    public var elapsed_s: Double
    public var ops_per_s: Double
    public var total_ops: UInt64
    public var total_errors: UInt64
    public var operations: [String: OpStats]

    static func stats(_ h: Histogram<UInt64>, errors: [String: UInt64], seconds: Double) -> OpStats {
        let ms = { (v: UInt64) in Double(v) / 1000.0 }
        return OpStats(ops: h.totalCount, errors: errors, ops_per_s: seconds > 0 ? Double(h.totalCount) / seconds : 0,
                       p50_ms: ms(h.valueAtPercentile(50)), p90_ms: ms(h.valueAtPercentile(90)),
                       p99_ms: ms(h.valueAtPercentile(99)), p999_ms: ms(h.valueAtPercentile(99.9)),
                       max_ms: ms(h.maxRecorded), mean_ms: h.mean / 1000.0)
    }

    /// The human-readable table.
    public var table: String {
        let shape = parameters.rate.map { String(format: "open loop %.0f ops/s", $0) } ?? "closed loop"
        var lines = ["\(parameters.target)  workload \(parameters.workload)  clients \(parameters.clients)  pipeline \(parameters.pipeline)  keys \(parameters.keys)  value \(parameters.value_bytes)\(parameters.value_bytes_max.map { "-\($0)" } ?? "") B  \(shape)",
                     String(format: "%.1f s measured: %.0f ops/s, %llu ops, %llu errors", elapsed_s, ops_per_s, total_ops, total_errors),
                     "",
                     "op     ops/s      mean ms  p50 ms   p90 ms   p99 ms   p99.9 ms  max ms    errors"]
        for (name, s) in operations.sorted(by: { $0.key < $1.key }) {
            let errs = s.errors.isEmpty ? "0" : s.errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            lines.append(name.padding(toLength: 7, withPad: " ", startingAt: 0)
                + String(format: "%-10.0f %-8.3f %-8.3f %-8.3f %-8.3f %-9.3f %-9.3f ", s.ops_per_s, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms) + errs)
        }
        if let get = operations["get"], let misses = get.misses, get.ops > 0 {
            lines.append("")
            lines.append(String(format: "get: %llu hits, %llu misses (%.1f%% found no value%@)", get.ops - misses, misses,
                                100 * Double(misses) / Double(get.ops), misses * 2 > get.ops ? "; --preload writes every key first" : ""))
        }
        if let per_node {
            lines.append("")
            lines.append("served by: " + per_node.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.0f ops/s", $0.value) }.joined(separator: ", "))
        }
        if let check {
            lines.append("")
            lines.append("check: \(check.verdict) (\(check.operations) operations on \(check.keys) keys)")
            if let a = check.anomaly { lines.append(a) }
        }
        return lines.joined(separator: "\n")
    }
}
