import ChainCore
import Foundation
import Histogram
import LinCheck
import Synchronization

/// Runs a closed-loop load: `clients` threads, each with its own connection(s), each sending
/// `pipeline` operations at a time and waiting for their replies. Latency is measured per
/// operation from the moment its batch was sent. Operations completing during the warm-up are
/// not counted. Every loop is bounded by the duration (and by `maxOps` when given).
public final class LoadRunner: Sendable {
    public struct Options: Sendable {
        public var clients = 50
        public var pipeline = 1
        public var keys = 100_000
        public var valueBytes = 100
        public var distribution: KeyChooser.Distribution = .uniform
        public var duration: Double = 10
        public var warmup: Double = 1
        public var maxOps: Int?
        public var seed: UInt64?
        /// Record every operation (each SET writes a value of its own) for the linearizability
        /// check at the end (`checkHistory`).
        public var check = false
        /// Open loop: total operations per second over all clients (nil: closed loop).
        public var rate: Double?
        public init() {}
    }

    private struct Totals {
        var hist: [Operation: Histogram<UInt64>] = [:]
        var errors: [Operation: [String: UInt64]] = [:]
        var measuredOps: UInt64 = 0
        var liveOps: UInt64 = 0
        var liveErrors: UInt64 = 0
        /// Per second since the start (warm-up included): latencies and errors, for the timeline.
        var seconds: [Int: Histogram<UInt64>] = [:]
        var secondErrors: [Int: UInt64] = [:]
        /// Measured successful operations by serving node and by chain (cluster targets).
        var byNode: [String: UInt64] = [:]
        var byChain: [Int: UInt64] = [:]
    }

    public let options: Options
    public let workload: Workload
    private let totals = Mutex(Totals())
    private let stopFlag = Mutex(false)
    /// Every client's operations, with invocation and completion times (`check` only).
    private let history = Mutex<[HistoryOp]>([])
    /// Keys that exist: the preloaded key space plus inserts (YCSB D grows it).
    private let keyCount: Mutex<Int>

    public init(options: Options, workload: Workload) {
        self.options = options
        self.workload = workload
        keyCount = Mutex(options.keys)
    }

    /// The key an operation works on: a new one for an insert; with the `latest` distribution,
    /// one counted back from the newest key; otherwise the chooser's pick.
    private func key<G: RandomNumberGenerator>(for op: Operation, _ chooser: KeyChooser, _ rng: inout G) -> Int {
        if op == .insert { return keyCount.withLock { n in defer { n += 1 }; return n } }
        guard chooser.distribution == .latest else { return chooser.next(using: &rng) }
        let newest = keyCount.withLock { $0 } - 1
        return max(0, newest - chooser.next(using: &rng))
    }

    /// Asks every client to stop after its current batch (Ctrl-C).
    public func stop() { stopFlag.withLock { $0 = true } }

    /// Runs the load; `makeTarget` is called once per client thread; `progress` is called about
    /// once a second with (elapsed s, ops/s in the last second, errors so far).
    public func run(makeTarget: @escaping @Sendable () throws -> any LoadTarget,
                    progress: @escaping @Sendable (Double, Double, UInt64) -> Void) throws -> (Report.Parameters) -> Report {
        let start = Date()
        let measureFrom = start.addingTimeInterval(options.warmup)
        let end = measureFrom.addingTimeInterval(options.duration)
        let group = DispatchGroup()
        let setupErrors = Mutex<[String]>([])
        let opsPerClient = options.maxOps.map { max(1, $0 / options.clients) }
        let startNanos = DispatchTime.now().uptimeNanoseconds
        let schedule = options.rate.map { OpenLoopSchedule(start: startNanos, rate: $0, clients: options.clients) }
        for c in 0..<options.clients {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                let target: any LoadTarget
                do { target = try makeTarget() } catch {
                    setupErrors.withLock { $0.append("\(error)") }
                    return
                }
                clientLoop(client: c, target: target, measureFrom: measureFrom, end: end, opLimit: opsPerClient, schedule: schedule,
                           startNanos: startNanos)
            }
            t.stackSize = 1 << 20
            t.start()
        }
        var last: UInt64 = 0
        var lastTime = Date()
        while group.wait(timeout: .now() + 1) == .timedOut {
            let (ops, errs) = totals.withLock { ($0.liveOps, $0.liveErrors) }
            let now = Date()
            progress(now.timeIntervalSince(start), Double(ops - last) / now.timeIntervalSince(lastTime), errs)
            last = ops
            lastTime = now
        }
        if let first = setupErrors.withLock({ $0.first }), setupErrors.withLock({ $0.count }) == options.clients {
            throw LoadError(message: "no client could connect: \(first)")
        }
        let measured = min(Date(), end).timeIntervalSince(measureFrom)
        let t = totals.withLock { $0 }
        return { params in
            var ops: [String: Report.OpStats] = [:]
            var total: UInt64 = 0
            var errors: UInt64 = 0
            for op in Operation.allCases {
                guard let h = t.hist[op] else { continue }
                let e = t.errors[op] ?? [:]
                ops[op.rawValue] = Report.stats(h, errors: e, seconds: measured)
                total += h.totalCount
                errors += e.values.reduce(0, +)
            }
            let rate = { (n: UInt64) in measured > 0 ? Double(n) / measured : 0 }
            return Report(parameters: params, check: nil, timeline: Self.timeline(t), events: nil,
                          per_node: t.byNode.isEmpty ? nil : t.byNode.mapValues(rate),
                          per_chain: t.byChain.isEmpty ? nil : Dictionary(uniqueKeysWithValues: t.byChain.map { ("\($0.key)", rate($0.value)) }),
                          elapsed_s: measured, ops_per_s: measured > 0 ? Double(total) / measured : 0,
                          total_ops: total, total_errors: errors, operations: ops)
        }
    }

    /// Checks the recorded history (a `check` run) with the linearizability checker, key by key.
    public func checkHistory() -> Report.Check {
        let ops = history.withLock { $0 }
        let keys = Set(ops.map(\.key)).count
        switch LinearizabilityChecker.check(ops) {
        case .linearizable:
            return Report.Check(verdict: "linearizable", operations: ops.count, keys: keys, anomaly: nil)
        case let .violation(key, involved, reason):
            let text = "key \(String(decoding: key, as: UTF8.self)): \(reason)\n" + involved.map { "  \($0)" }.joined(separator: "\n")
            return Report.Check(verdict: "violation", operations: ops.count, keys: keys, anomaly: text)
        case let .unknown(key):
            return Report.Check(verdict: "unknown", operations: ops.count, keys: keys,
                                anomaly: "the checker gave up on key \(String(decoding: key, as: UTF8.self)) (history too long or too concurrent for its budget: use more keys or fewer clients)")
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    private func clientLoop(client: Int, target: any LoadTarget, measureFrom: Date, end: Date, opLimit: Int?, schedule: OpenLoopSchedule?,
                            startNanos: UInt64) {
        var rng = SeededGenerator(seed: (options.seed ?? UInt64.random(in: 0...UInt64.max)) &+ UInt64(client) &* 0x9E37_79B9)
        let chooser = KeyChooser(count: options.keys, distribution: options.distribution)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: options.valueBytes)
        var hist: [Operation: Histogram<UInt64>] = [:]
        var errors: [Operation: [String: UInt64]] = [:]
        var done = 0
        var sinceFlush: UInt64 = 0
        var errSinceFlush: UInt64 = 0
        var recorded: [HistoryOp] = []
        var seconds: [Int: Histogram<UInt64>] = [:]
        var secondErrors: [Int: UInt64] = [:]
        var byNode: [String: UInt64] = [:]
        var byChain: [Int: UInt64] = [:]
        while !stopFlag.withLock({ $0 }) {
            if let opLimit, done >= opLimit { break }
            let now = Date()
            if now >= end { break }
            let batch = (0..<options.pipeline).map { i -> LoadOp in
                let op = workload.operation(for: Int.random(in: 0..<100, using: &rng))
                let key = KeyChooser.name(self.key(for: op, chooser, &rng))
                // Checked runs write values that name their writer, so each read says which write it saw.
                let v = options.check && op != .get ? Array("c\(client)-\(done + i)".utf8) : value
                return LoadOp(op, key: key, value: v)
            }
            var t0 = DispatchTime.now().uptimeNanoseconds
            if let schedule {
                // Open loop: wait for this operation's send time, but never skip one; latency
                // counts from the intended time.
                let due = schedule.intended(client: client, op: done)
                if due > t0 + UInt64(max(0, end.timeIntervalSinceNow) * 1e9) { break }
                while case let n = DispatchTime.now().uptimeNanoseconds, n < due {
                    if stopFlag.withLock({ $0 }) { break }
                    usleep(UInt32(min((due - n) / 1000 + 1, 100_000)))
                }
                t0 = due
            }
            let results = target.performBatch(batch)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let micros = OpenLoopSchedule.latency(intended: t0, completed: t1) / 1000
            if options.check {
                for (o, r) in zip(batch, results) {
                    // A failed write may or may not have taken effect (no completion); a failed
                    // read says nothing (the checker skips it). A read-modify-write is its read
                    // and its write.
                    let done = r.error == nil ? t1 : nil
                    if o.op == .get || o.op == .rmw {
                        recorded.append(HistoryOp(client: client, key: o.key, kind: .read(r.value), invoked: t0, completed: done))
                    }
                    if o.op != .get {
                        recorded.append(HistoryOp(client: client, key: o.key, kind: .write(o.value), invoked: t0, completed: done))
                    }
                }
            }
            let second = Int((t1 - startNanos) / 1_000_000_000)
            for r in results {
                if r.error != nil { secondErrors[second, default: 0] += 1 }
                else { _ = seconds[second, default: Self.histogram()].record(max(micros, 1)) }
            }
            done += batch.count
            sinceFlush += UInt64(batch.count)
            let measuring = now >= measureFrom
            for (i, o) in batch.enumerated() {
                let op = o.op
                if let e = results[i].error {
                    errSinceFlush += 1
                    if measuring { errors[op, default: [:]][e, default: 0] += 1 }
                } else if measuring {
                    _ = hist[op, default: Self.histogram()].record(max(micros, 1))
                    // (Placement by the configuration the operation was routed with, or close to it.)
                    if let (node, chain) = target.placement(of: o) {
                        byNode[node, default: 0] += 1
                        byChain[chain, default: 0] += 1
                    }
                }
            }
            if sinceFlush >= 64 {
                let (n, e) = (sinceFlush, errSinceFlush)
                totals.withLock { $0.liveOps += n; $0.liveErrors += e }
                sinceFlush = 0
                errSinceFlush = 0
            }
        }
        if !recorded.isEmpty { history.withLock { $0 += recorded } }
        let (n, e) = (sinceFlush, errSinceFlush)
        totals.withLock { t in
            t.liveOps += n
            t.liveErrors += e
            for (op, h) in hist {
                if t.hist[op] == nil { t.hist[op] = h } else { t.hist[op]!.add(h) }
            }
            for (op, es) in errors { for (k, v) in es { t.errors[op, default: [:]][k, default: 0] += v } }
            for (sec, h) in seconds {
                if t.seconds[sec] == nil { t.seconds[sec] = h } else { t.seconds[sec]!.add(h) }
            }
            for (sec, n) in secondErrors { t.secondErrors[sec, default: 0] += n }
            for (k, n) in byNode { t.byNode[k, default: 0] += n }
            for (k, n) in byChain { t.byChain[k, default: 0] += n }
        }
    }

    /// Latencies in microseconds, up to a minute, three significant digits.
    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    /// One tick per second of the run, warm-up included.
    private static func timeline(_ t: Totals) -> [Tick] {
        let last = max(t.seconds.keys.max() ?? -1, t.secondErrors.keys.max() ?? -1)
        guard last >= 0 else { return [] }
        return (0...last).map { s in
            let h = t.seconds[s]
            return Tick(t: Double(s + 1), ops_per_s: Double(h?.totalCount ?? 0), p50_ms: h.map { Double($0.valueAtPercentile(50)) / 1000 } ?? 0,
                        p99_ms: h.map { Double($0.valueAtPercentile(99)) / 1000 } ?? 0, errors: t.secondErrors[s] ?? 0)
        }
    }
}

/// Seedable generator: a run's key sequence can be repeated.
public typealias SeededGenerator = SeededRandom
