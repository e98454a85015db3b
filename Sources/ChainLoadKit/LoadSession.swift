import EventLoop

/// How a client's operations reach the system under test. A driver starts each operation of the
/// session's current batch and reports its end exactly once with `session.complete`.
protocol LoadDriver: AnyObject {
    /// Starts operation `slot` of `session.batch`; its commands go out with the next `flush()`.
    func start(_ slot: Int)
    /// Sends what `start` queued.
    func flush()
    /// Ends requests that have waited longer than the timeout (as errors or retries).
    func expire(now: UInt64)
    /// Where an operation is served (node, chain), for per-node figures; nil if not a cluster.
    func placement(of op: BatchOp) -> (node: String, chain: Int)?
    func close()
}

/// One operation of a batch. Plain values only (the key by number): batches are rebuilt for
/// every round trip, and a struct without references costs no reference counting.
struct BatchOp {
    var op: Operation
    var key: Int
    /// Bytes the write's value has (writes outside `--check` runs).
    var valueLength: Int32 = 0
    /// 0 while running or after success, else the worker's code for the error kind.
    var error: UInt16 = 0
    /// A read that found no value.
    var missed = false
}

/// One simulated client (closed loop: `pipeline` operations in flight, the next batch when the
/// whole batch has answered; open loop: each batch at its scheduled time). Loop-thread only.
final class LoadSession {
    unowned(unsafe) let worker: LoadWorker
    /// The client's number over the whole run (for the schedule, seeds and the history).
    let client: Int
    var driver: LoadDriver!
    var batch: [BatchOp] = []
    /// `--check` runs only: the value each write of the batch writes (each names its writer),
    /// and the value each read returned.
    var writeValues: [[UInt8]] = []
    var readValues: [[UInt8]?] = []
    private var outstanding = 0
    /// Operations sent so far.
    private(set) var done = 0
    /// When the current batch counts from: sent, or intended to be sent (open loop).
    private(set) var startedAt: UInt64 = 0
    private(set) var finished = false
    var rng: SeededGenerator

    init(worker: LoadWorker, client: Int, seed: UInt64) {
        self.worker = worker
        self.client = client
        rng = SeededGenerator(seed: seed &+ UInt64(client) &* 0x9E37_79B9)
    }

    /// The value a write sends.
    func value(_ slot: Int) -> ArraySlice<UInt8> {
        writeValues.isEmpty ? worker.value[0..<Int(batch[slot].valueLength)] : writeValues[slot][...]
    }

    /// Sends the next batch, now or at its scheduled time, unless the run is over.
    func next() {
        guard !finished else { return }
        guard worker.mayStart(self) else { return finish() }
        var t0 = MonotonicClock.now()
        if let schedule = worker.schedule {
            // Open loop: wait for this operation's send time, never skip one; latency counts
            // from the intended time.
            let due = schedule.intended(client: client, op: done)
            if due > worker.endNanos { return finish() }
            if due > t0 + 50_000 {
                Timer(loop: worker.loop, afterMicros: Int((due - t0) / 1000)) { [weak self] in self?.next() }
                return
            }
            t0 = due
        }
        worker.fillBatch(of: self)
        guard !batch.isEmpty else { return finish() }
        outstanding = batch.count
        startedAt = t0
        for slot in batch.indices { driver.start(slot) }
        driver.flush()
    }

    /// The end of operation `slot` of the current batch: `error` is an error kind ("timeout",
    /// "tryagain", …) or nil; `value` what a read returned (kept in `--check` runs).
    func complete(_ slot: Int, error: String?, value: [UInt8]? = nil) {
        if let error { batch[slot].error = worker.errorCode(error) }
        else if value == nil && batch[slot].op == .get { batch[slot].missed = true }
        if !readValues.isEmpty { readValues[slot] = value }
        outstanding -= 1
        guard outstanding == 0 else { return }
        done += batch.count
        let lostConnection = worker.record(self)
        // After a lost connection, pause before trying again instead of spinning on failures.
        if lostConnection {
            Timer(loop: worker.loop, afterMs: 100) { [weak self] in self?.next() }
        } else {
            next()
        }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        driver.close()
        worker.sessionFinished()
    }
}
