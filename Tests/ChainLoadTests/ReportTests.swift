import Foundation
import Histogram
import XCTest
@testable import ChainLoadKit

/// The report: its JSON schema (what scripts such as deploy/bench.sh read), the table, and how
/// the per-thread measurements add up.
final class ReportTests: XCTestCase {
    private func sampleReport() -> Report {
        var h = LoadStats.histogram()
        for v in [100, 200, 300, 400, 5000] as [UInt64] { _ = h.record(v) }
        let get = Report.stats(h, errors: ["timeout": 2], seconds: 2)
        let params = Report.Parameters(target: "resp 127.0.0.1:1", workload: "b", clients: 4, pipeline: 8, keys: 10, value_bytes: 100,
                                       distribution: "uniform", duration_s: 2, warmup_s: 0, wait_replicas: 0)
        return Report(parameters: params, check: nil, timeline: [Tick(t: 1, ops_per_s: 5, p50_ms: 0.2, p99_ms: 5, errors: 2)],
                      events: [RunEvent(t: 0.5, label: "epoch 3")], per_node: ["n1": 2.5], per_chain: ["0": 2.5],
                      elapsed_s: 2, ops_per_s: 2.5, total_ops: 5, total_errors: 2, operations: ["get": get])
    }

    /// The JSON has the documented keys, in snake case, and reads back unchanged.
    func testJSONSchemaRoundTrips() throws {
        let r = sampleReport()
        let data = try JSONEncoder().encode(r)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["parameters", "timeline", "events", "per_node", "per_chain", "elapsed_s", "ops_per_s", "total_ops", "total_errors", "operations"] {
            XCTAssertNotNil(object[key], "missing \(key)")
        }
        let get = try XCTUnwrap((object["operations"] as? [String: Any])?["get"] as? [String: Any])
        for key in ["ops", "errors", "ops_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"] {
            XCTAssertNotNil(get[key], "missing operations.get.\(key)")
        }
        let params = try XCTUnwrap(object["parameters"] as? [String: Any])
        for key in ["target", "workload", "clients", "pipeline", "keys", "value_bytes", "distribution", "duration_s", "warmup_s", "wait_replicas"] {
            XCTAssertNotNil(params[key], "missing parameters.\(key)")
        }
        let back = try JSONDecoder().decode(Report.self, from: data)
        XCTAssertEqual(back.total_ops, 5)
        XCTAssertEqual(back.operations["get"]?.errors, ["timeout": 2])
        XCTAssertEqual(back.operations["get"]?.max_ms ?? 0, 5, accuracy: 0.01)
        XCTAssertEqual(back.operations["get"]?.p50_ms ?? 0, 0.3, accuracy: 0.01)
    }

    /// The table names the run, counts errors by kind and lists who served what.
    func testTableShowsErrorsByKind() {
        let t = sampleReport().table
        XCTAssert(t.contains("pipeline 8"), t)
        XCTAssert(t.contains("timeout=2"), t)
        XCTAssert(t.contains("served by: n1 2 ops/s") || t.contains("served by: n1 3 ops/s"), t)
    }

    /// The table has each operation's mean latency and, for reads, how many found a value.
    func testTableShowsMeanAndReadMisses() {
        var r = sampleReport()
        r.operations["get"]!.misses = 4
        let t = r.table
        XCTAssert(t.contains("mean ms"), t)
        XCTAssert(t.contains(String(format: "%-8.3f", r.operations["get"]!.mean_ms)), t)
        XCTAssert(t.contains("get: 1 hits, 4 misses (80.0% found no value; --preload writes every key first)"), t)
        r.operations["get"]!.misses = 0
        XCTAssert(r.table.contains("get: 5 hits, 0 misses (0.0% found no value)"), r.table)
    }

    /// Each loop's measurements add up: histograms merge, errors and per-node counts sum, the
    /// timeline has one tick per second.
    func testStatsFromSeveralLoopsAddUp() {
        var a = LoadStats(), b = LoadStats()
        _ = a.hist[.get, default: LoadStats.histogram()].record(100, count: 10)
        _ = b.hist[.get, default: LoadStats.histogram()].record(300, count: 30)
        a.errors[.set] = ["connection": 1]
        b.errors[.set] = ["connection": 2, "timeout": 1]
        _ = a.seconds[0, default: LoadStats.histogram()].record(100, count: 10)
        _ = b.seconds[2, default: LoadStats.histogram()].record(300, count: 30)
        b.secondErrors[1] = 4
        a.byNode["n1"] = 5; b.byNode["n1"] = 6
        a.misses = 2; b.misses = 3
        a.add(b)
        XCTAssertEqual(a.hist[.get]?.totalCount, 40)
        XCTAssertEqual(a.errors[.set], ["connection": 3, "timeout": 1])
        XCTAssertEqual(a.byNode["n1"], 11)
        XCTAssertEqual(a.misses, 5)
        let timeline = a.timeline(runSeconds: 3)
        XCTAssertEqual(timeline.map(\.t), [1, 2, 3])
        XCTAssertEqual(timeline.map(\.ops_per_s), [10, 0, 30])
        XCTAssertEqual(timeline[1].errors, 4)
    }

    /// The run's last second is usually cut short: its rate counts over the part that ran, and
    /// a sliver too short to measure is left out rather than drawn as a collapse.
    func testAPartialLastSecondIsNotDrawnAsADrop() {
        var a = LoadStats()
        for s in 0..<3 { _ = a.seconds[s, default: LoadStats.histogram()].record(100, count: s == 2 ? 50 : 100) }
        let half = a.timeline(runSeconds: 2.5)
        XCTAssertEqual(half.map(\.t), [1, 2, 2.5])
        XCTAssertEqual(half.map(\.ops_per_s), [100, 100, 100])
        let sliver = a.timeline(runSeconds: 2.1)
        XCTAssertEqual(sliver.map(\.t), [1, 2], "0.1 s says nothing about the rate")
    }
}

/// How the load generator writes commands: byte for byte what a RESP server expects.
final class CommandEncodingTests: XCTestCase {
    func testKeysAreWrittenFromTheirNumber() {
        var out: [UInt8] = []
        KeyChooser.appendName(42, to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "key:000000000042")
        XCTAssertEqual(KeyChooser.nameLength(42), 16)
        XCTAssertEqual(KeyChooser.name(0), Array("key:000000000000".utf8))
    }
}
