import ChainCore
import EventLoop
import Foundation
import LinCheck
import Synchronization

/// Runs a load: `clients` simulated clients spread over `threads` event-loop threads, each client
/// with its own connection(s), sending `pipeline` operations at a time (closed loop) or on a
/// schedule (open loop, `rate`). Latency counts from when a batch was sent (or was due to be
/// sent). Operations sent during the warm-up are not counted. Bounded by the duration (and by
/// `maxOps` when given); operations in flight at the end are waited for, up to their timeout.
public final class LoadRunner: Sendable {
    public struct Options: Sendable {
        public var clients = 50
        public var pipeline = 1
        /// Event-loop threads the clients are spread over.
        public var threads = 1
        public var keys = 100_000
        public var valueBytes = 100
        /// With a maximum, each write's value size is drawn uniformly from valueBytes...max.
        public var valueBytesMax: Int?
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
        /// A request that has had no answer for this long fails (RESP targets) or is retried
        /// elsewhere (cluster targets).
        public var requestTimeoutMs = 5000
        /// Preload: every key written once, in order, instead of the workload.
        public var sequentialKeys = false
        public init() {}
    }

    public let options: Options
    public let workload: Workload
    let opsPerClient: Int?
    private let stopFlag = Atomic<Bool>(false)
    private let liveOps = Atomic<UInt64>(0)
    private let liveErrors = Atomic<UInt64>(0)
    /// Keys that exist: the preloaded key space plus inserts (YCSB D grows it).
    private let keyCount: Atomic<Int>
    private let sequentialKey = Atomic<Int>(0)
    private let history = Mutex<[HistoryOp]>([])
    /// `check` runs: what the keys held before the run (`recordInitialValues`).
    private let initialValues = Mutex<[[UInt8]: [UInt8]]>([:])

    public init(options: Options, workload: Workload) {
        self.options = options
        self.workload = workload
        keyCount = Atomic(options.keys)
        opsPerClient = options.maxOps.map { max(1, $0 / max(options.clients, 1)) }
    }

    /// Asks every client to stop after its operations in flight (Ctrl-C).
    public func stop() { stopFlag.store(true, ordering: .relaxed) }
    var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }

    func report(ops: UInt64, errors: UInt64) {
        if ops > 0 { liveOps.add(ops, ordering: .relaxed) }
        if errors > 0 { liveErrors.add(errors, ordering: .relaxed) }
    }

    /// The key an operation works on: a new one for an insert; with the `latest` distribution,
    /// one counted back from the newest key; otherwise the chooser's pick.
    func key<G: RandomNumberGenerator>(for op: Operation, _ chooser: KeyChooser, _ rng: inout G) -> Int {
        if op == .insert { return keyCount.wrappingAdd(1, ordering: .relaxed).oldValue }
        guard chooser.distribution == .latest else { return chooser.next(using: &rng) }
        let newest = keyCount.load(ordering: .relaxed) - 1
        return max(0, newest - chooser.next(using: &rng))
    }

    func nextSequentialKey() -> Int? {
        let k = sequentialKey.wrappingAdd(1, ordering: .relaxed).oldValue
        return k < options.keys ? k : nil
    }

    /// Runs the load against `target`; `progress` is called about once a second with (elapsed s,
    /// ops/s in the last second, errors so far). Returns the report's maker.
    public func run(target: LoadTargetSpec, progress: @escaping @Sendable (Double, Double, UInt64) -> Void) throws -> (Report.Parameters) -> Report {
        let startNanos = MonotonicClock.now()
        let chooser = KeyChooser(count: options.keys, distribution: options.distribution)
        let threads = max(1, min(options.threads, options.clients))
        let merged = Mutex(LoadStats())
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let seed = options.seed ?? UInt64.random(in: 0...UInt64.max)
        for t in 0..<threads {
            let clients = (options.clients * t / threads)..<(options.clients * (t + 1) / threads)
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                do {
                    let worker = try LoadWorker(runner: self, chooser: chooser, startNanos: startNanos)
                    let stats = try worker.run(clients: clients, seed: seed) { session, loop in try target.makeDriver(session, loop, self.options) }
                    merged.withLock { $0.add(stats) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        var last: UInt64 = 0
        var lastTime = MonotonicClock.now()
        while group.wait(timeout: .now() + 1) == .timedOut {
            let now = MonotonicClock.now()
            let ops = liveOps.load(ordering: .relaxed)
            progress(Double(now - startNanos) / 1e9, Double(ops - last) * 1e9 / Double(now - lastTime), liveErrors.load(ordering: .relaxed))
            last = ops
            lastTime = now
        }
        if let first = failures.withLock({ $0.first }) { throw LoadError(message: first) }
        let endNanos = MonotonicClock.now()
        let measureFrom = startNanos + UInt64(options.warmup * 1e9)
        let measureEnd = min(endNanos, measureFrom + UInt64(options.duration * 1e9))
        let measured = measureEnd > measureFrom ? Double(measureEnd - measureFrom) / 1e9 : 0
        let t = merged.withLock { $0 }
        history.withLock { $0 = t.history }
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
            // Operations that only failed still show, with their errors.
            for (op, e) in t.errors where ops[op.rawValue] == nil {
                ops[op.rawValue] = Report.stats(LoadStats.histogram(), errors: e, seconds: measured)
                errors += e.values.reduce(0, +)
            }
            let rate = { (n: UInt64) in measured > 0 ? Double(n) / measured : 0 }
            if let get = ops[Operation.get.rawValue] { ops[Operation.get.rawValue]!.misses = min(t.misses, get.ops) }
            return Report(parameters: params, check: nil, timeline: t.timeline(runSeconds: Double(endNanos - startNanos) / 1e9), events: nil,
                          per_node: t.byNode.isEmpty ? nil : t.byNode.mapValues(rate),
                          per_chain: t.byChain.isEmpty ? nil : Dictionary(uniqueKeysWithValues: t.byChain.map { ("\($0.key)", rate($0.value)) }),
                          elapsed_s: measured, ops_per_s: rate(total), total_ops: total, total_errors: errors, operations: ops)
        }
    }

    /// `check` runs, before `run`: reads what the run's keys hold now (an earlier run or
    /// `--preload` wrote them), so that the checker starts from those values.
    public func recordInitialValues(target: LoadTargetSpec) throws {
        let values = try target.currentValues(keys: 0..<options.keys)
        initialValues.withLock { $0 = values }
    }

    /// Checks the recorded history (a `check` run) with the linearizability checker, key by key.
    public func checkHistory() -> Report.Check {
        let ops = history.withLock { $0 }
        let keys = Set(ops.map(\.key)).count
        switch LinearizabilityChecker.check(ops, initialValues: initialValues.withLock { $0 }) {
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
}

/// Seedable generator: a run's key sequence can be repeated.
public typealias SeededGenerator = SeededRandom
