import EventLoop
import Foundation
import LinCheck

/// One load-generating thread: an event loop driving a share of the clients, each with its own
/// connection(s). Everything here runs on that loop's thread; what it measured is handed to the
/// runner when the loop ends.
final class LoadWorker {
    let loop: EventLoop
    let runner: LoadRunner
    let schedule: OpenLoopSchedule?
    let startNanos: UInt64
    let measureFromNanos: UInt64
    let endNanos: UInt64
    private let chooser: KeyChooser
    /// What writes send (outside `--check` runs): the whole array, or with `valueSizes` a prefix
    /// of a length drawn for each write.
    let value: [UInt8]
    let valueSizes: ClosedRange<Int>?
    /// Error kinds by code (`BatchOp.error`); code 0 is "no error".
    private var errorNames: [String] = [""]
    private var errorCodes: [String: UInt16] = [:]
    private var connectionErrors: Set<UInt16> = []
    /// Successes of the batch being recorded, by `Operation.index` (kept to save an allocation).
    private var succeeded = [UInt64](repeating: 0, count: Operation.allCases.count)
    private let operations: [Operation]
    private(set) var stats = LoadStats()
    private var sessions: [LoadSession] = []
    private var active = 0
    /// Operations and errors not yet added to the runner's live counters.
    private var unreported: (ops: UInt64, errors: UInt64) = (0, 0)

    init(runner: LoadRunner, chooser: KeyChooser, startNanos: UInt64) throws {
        loop = try EventLoop()
        self.runner = runner
        self.chooser = chooser
        self.startNanos = startNanos
        let o = runner.options
        measureFromNanos = startNanos + UInt64(o.warmup * 1e9)
        endNanos = measureFromNanos + UInt64(o.duration * 1e9)
        schedule = o.rate.map { OpenLoopSchedule(start: startNanos, rate: $0, clients: o.clients) }
        value = [UInt8](repeating: UInt8(ascii: "x"), count: max(o.valueBytes, o.valueBytesMax ?? 0))
        valueSizes = o.valueBytesMax.map { o.valueBytes...max(o.valueBytes, $0) }
        operations = runner.workload.table
    }

    /// Runs `clients` on this thread until each has finished; returns what was measured.
    func run(clients: Range<Int>, seed: UInt64, makeDriver: (LoadSession, EventLoop) throws -> LoadDriver) throws -> LoadStats {
        for c in clients {
            let s = LoadSession(worker: self, client: c, seed: seed)
            s.driver = try makeDriver(s, loop)
            sessions.append(s)
        }
        active = sessions.count
        guard active > 0 else { return stats }
        // (Before `run()` this thread counts as the loop's: nothing else touches it yet.)
        for s in sessions { s.next() }
        // Ten times a second: time out stuck requests, publish progress.
        let ticker = Timer(loop: loop, afterMs: 100, repeating: true) { [self] in tick() }
        loop.run()
        ticker.cancel()
        runner.report(ops: unreported.ops, errors: unreported.errors)
        return stats
    }

    private func tick() {
        let now = MonotonicClock.now()
        for s in sessions where !s.finished { s.driver.expire(now: now) }
        runner.report(ops: unreported.ops, errors: unreported.errors)
        unreported = (0, 0)
    }

    func mayStart(_ s: LoadSession) -> Bool {
        if runner.stopRequested { return false }
        if let limit = runner.opsPerClient, s.done >= limit { return false }
        return MonotonicClock.now() < endNanos
    }

    func sessionFinished() {
        active -= 1
        if active == 0 { loop.stop() }
    }

    /// Refills a session's batch: `pipeline` operations drawn from the workload (a preload takes
    /// keys in order instead, and stops at the end of the key space).
    func fillBatch(of s: LoadSession) {
        let o = runner.options
        s.batch.removeAll(keepingCapacity: true)
        for _ in 0..<o.pipeline {
            if o.sequentialKeys {
                guard let k = runner.nextSequentialKey() else { break }
                s.batch.append(BatchOp(op: .set, key: k, valueLength: valueLength(&s.rng)))
                continue
            }
            let op = operations[Int.random(in: 0..<100, using: &s.rng)]
            s.batch.append(BatchOp(op: op, key: runner.key(for: op, chooser, &s.rng), valueLength: op == .get ? 0 : valueLength(&s.rng)))
        }
        guard o.check else { return }
        // Checked runs write values that name their writer, so each read says which write it saw.
        s.writeValues = s.batch.indices.map { Array("c\(s.client)-\(s.done + $0)".utf8) }
        s.readValues = Array(repeating: nil, count: s.batch.count)
    }

    private func valueLength(_ rng: inout SeededGenerator) -> Int32 {
        Int32(valueSizes.map { Int.random(in: $0, using: &rng) } ?? value.count)
    }

    func errorCode(_ kind: String) -> UInt16 {
        if let c = errorCodes[kind] { return c }
        let c = UInt16(errorNames.count)
        errorNames.append(kind)
        errorCodes[kind] = c
        if ["connection", "timeout", "protocol", "auth"].contains(kind) { connectionErrors.insert(c) }
        return c
    }

    /// Accounts a session's finished batch; true when an operation lost its connection.
    func record(_ s: LoadSession) -> Bool {
        let t0 = s.startedAt
        let t1 = MonotonicClock.now()
        let micros = max(OpenLoopSchedule.latency(intended: t0, completed: t1) / 1000, 1)
        let measuring = t0 >= measureFromNanos
        let second = Int((t1 - startNanos) / 1_000_000_000)
        var lostConnection = false
        // Every operation of a batch has the batch's latency: successes are recorded per
        // operation type with a count, not one by one.
        for i in succeeded.indices { succeeded[i] = 0 }
        for (slot, o) in s.batch.enumerated() {
            if runner.options.check {
                // A failed write may or may not have taken effect (no completion); a failed read
                // says nothing (the checker skips it). A read-modify-write is its read and its write.
                // The batch's operations were in flight together; their program order is their
                // place in the batch (a read-modify-write reads, then writes).
                let completed = o.error == 0 ? t1 : nil
                let key = KeyChooser.name(o.key)
                let sequence = UInt64(s.done - s.batch.count + slot) * 2
                if o.op == .get || o.op == .rmw {
                    stats.history.append(HistoryOp(client: s.client, key: key, kind: .read(s.readValues[slot]), invoked: t0,
                                                   completed: completed, sequence: sequence))
                }
                if o.op != .get {
                    stats.history.append(HistoryOp(client: s.client, key: key, kind: .write(s.writeValues[slot]), invoked: t0,
                                                   completed: completed, sequence: sequence + 1))
                }
            }
            if o.error != 0 {
                unreported.errors += 1
                stats.secondErrors[second, default: 0] += 1
                if measuring { stats.errors[o.op, default: [:]][errorNames[Int(o.error)], default: 0] += 1 }
                if connectionErrors.contains(o.error) { lostConnection = true }
                continue
            }
            succeeded[o.op.index] += 1
            if o.missed && measuring { stats.misses += 1 }
            guard measuring, let (node, chain) = s.driver.placement(of: o) else { continue }
            stats.byNode[node, default: 0] += 1
            stats.byChain[chain, default: 0] += 1
        }
        let ok = succeeded.reduce(0, +)
        if ok > 0 { _ = stats.seconds[second, default: LoadStats.histogram()].record(micros, count: ok) }
        if measuring {
            for op in Operation.allCases where succeeded[op.index] > 0 {
                _ = stats.hist[op, default: LoadStats.histogram()].record(micros, count: succeeded[op.index])
            }
        }
        unreported.ops += UInt64(s.batch.count)
        return lostConnection
    }
}
