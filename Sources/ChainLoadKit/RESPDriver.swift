import ChainClient
import EventLoop
import RESP

/// Any RESP endpoint (Redis, one chainstore node). Reads may go to another address (a replica);
/// with `waitReplicas` every SET is followed by `WAIT n 0` on the same connection and counts as
/// failed (`wait_short`) unless n replicas acknowledged it. Nothing is retried: every error is
/// counted.
final class RESPDriver: LoadDriver {
    private unowned(unsafe) let session: LoadSession
    private var writer: RESPPipe!
    private var reader: RESPPipe!
    private let waitReplicas: Int
    private let waitArgs: [UInt8]
    private let timeoutNanos: UInt64
    /// A SET that failed while its WAIT is still to answer: the SET's error, by slot.
    private var failedWrites: [Int: String] = [:]

    init(session: LoadSession, loop: EventLoop, write: SocketAddress, read: SocketAddress?, waitReplicas: Int, timeoutMs: Int, keepValues: Bool,
         security: LoadSecurity) {
        self.session = session
        self.waitReplicas = waitReplicas
        waitArgs = Array(String(waitReplicas).utf8)
        timeoutNanos = UInt64(timeoutMs) * 1_000_000
        writer = RESPPipe(loop: loop, address: write, keepValues: keepValues, security: security) { [unowned(unsafe) self] w, v in reply(w, v) }
        if let read, read != write {
            reader = RESPPipe(loop: loop, address: read, keepValues: keepValues, security: security) { [unowned(unsafe) self] w, v in reply(w, v) }
        } else {
            reader = writer
        }
    }

    private static let get = Array("GET".utf8), set = Array("SET".utf8), wait = Array("WAIT".utf8), zero = Array("0".utf8)

    func start(_ slot: Int) {
        let o = session.batch[slot]
        let now = session.startedAt
        switch o.op {
        case .get: reader.send(Self.get, key: o.key, value: nil, waiter: .init(slot: Int32(slot), step: .get), now: now)
        case .rmw: reader.send(Self.get, key: o.key, value: nil, waiter: .init(slot: Int32(slot), step: .rmwRead), now: now)
        case .set, .insert: sendWrite(slot, now: now, rmw: false)
        }
    }

    private func sendWrite(_ slot: Int, now: UInt64, rmw: Bool) {
        writer.send(Self.set, key: session.batch[slot].key, value: session.value(slot),
                    waiter: .init(slot: Int32(slot), step: rmw ? .rmwWrite : .set), now: now)
        if waitReplicas > 0 {
            writer.send(Self.wait, waitArgs, Self.zero, waiter: .init(slot: Int32(slot), step: rmw ? .rmwWait : .wait), now: now)
        }
    }

    private func reply(_ w: RESPPipe.Waiter, _ v: RESPValue) {
        let slot = Int(w.slot)
        let error = ErrorKind.of(v)
        switch w.step {
        case .get:
            session.complete(slot, error: error, value: v.bulkBytes)
        case .rmwRead:
            guard error == nil else { return session.complete(slot, error: error) }
            if !session.readValues.isEmpty { session.readValues[slot] = v.bulkBytes }
            sendWrite(slot, now: MonotonicClock.now(), rmw: true)
            writer.flush()
        case .set, .rmwWrite:
            let read = w.step == .rmwWrite && !session.readValues.isEmpty ? session.readValues[slot] : nil
            if waitReplicas == 0 { return session.complete(slot, error: error, value: read) }
            if let error { failedWrites[slot] = error }
        case .wait, .rmwWait:
            var e = failedWrites.removeValue(forKey: slot)
            if e == nil {
                if let waitError = error { e = waitError }
                else if case let .integer(n) = v, n >= waitReplicas {} else { e = "wait_short" }
            }
            let read = w.step == .rmwWait && !session.readValues.isEmpty ? session.readValues[slot] : nil
            session.complete(slot, error: e, value: read)
        }
    }

    func flush() {
        writer.flush()
        if reader !== writer { reader.flush() }
    }

    func expire(now: UInt64) {
        for p in [writer!, reader!] where p.pending > 0 && now > p.lastProgressAt + timeoutNanos { p.fail("timeout") }
    }

    func placement(of op: BatchOp) -> (node: String, chain: Int)? { nil }

    func close() {
        writer.close()
        reader.close()
    }
}

extension RESPValue {
    /// A bulk reply's bytes (nil for a null bulk or any other reply).
    var bulkBytes: [UInt8]? {
        if case let .bulk(b) = self { return b }
        return nil
    }
}
