import ChainClient
import ChainCore
import ChainSecurity
import EventLoop
import RESP

/// A chainstore cluster through the smart client's rules, event-driven: each command goes
/// straight to the node that serves it (writes to the chain's head, reads to its tail) by the
/// configuration the `ConfigFeed` follows; writes carry an idempotency tag (`CS.REQ client
/// request …`); an answer that says the configuration moved on (`TRYAGAIN`, `CLUSTERDOWN`,
/// `MOVED`), a lost connection or a timeout sends the operation again after a short pause
/// (`CS.RETRY` with the same tag, so a write that committed is not applied twice), until the
/// retry budget is spent (`unavailable`). With `tagWrites: false` writes are plain SETs, as a
/// plain Redis client sends them: a retried write whose first attempt committed is applied
/// again, and the nodes write no idempotency record (what exactly-once retries cost).
///
/// A session's operations take effect in the order it issued them (as one Redis connection's
/// do), also with `--pipeline`: an operation is sent only while every earlier one of its chain
/// still in flight went to the same node (one connection, executed there in order) and none is
/// waiting to be retried; otherwise it waits for them (`SessionOrder`, as the nodes keep it for
/// their own clients).
final class ClusterDriver: LoadDriver {
    private struct SlotState {
        var tag: UInt64 = 0
        var attempt = 0
        var deadline: UInt64 = 0
        /// A read-modify-write past its read.
        var readDone = false
        /// The key's bytes (routing hashes them; a tagged command carries them).
        var key: [UInt8] = []
        /// The key's chain (known from the first attempt on).
        var chain: ChainID = -1
    }

    private unowned(unsafe) let session: LoadSession
    private let loop: EventLoop
    private let feed: ConfigFeed
    private var version = -1
    private var config: Configuration!
    private var addresses: [NodeID: SocketAddress] = [:]
    private var pipes: [NodeID: RESPPipe] = [:]
    private var slots: [SlotState] = []
    private let clientIDBytes: [UInt8]
    private let keepValues: Bool
    private let tagWrites: Bool
    private let security: LoadSecurity
    private var nextRequest: UInt64 = 1
    /// Where each chain's operations are in flight (their reply token is the slot).
    private var order = SessionOrder()
    /// Per chain: operations that hold their place while not in flight (waiting for a retry, or
    /// a read-modify-write between its read and its write): later ones of the chain wait.
    private var holds: [ChainID: Int] = [:]
    /// Operations that wait for earlier ones of their chain, in issue (slot) order.
    private var held: [Int] = []
    private let timeoutNanos: UInt64
    private let retryBudgetNanos: UInt64 = 10_000_000_000

    init(session: LoadSession, loop: EventLoop, feed: ConfigFeed, timeoutMs: Int, keepValues: Bool, security: LoadSecurity,
         tagWrites: Bool = true) {
        self.security = security
        self.tagWrites = tagWrites
        self.session = session
        self.keepValues = keepValues
        self.loop = loop
        self.feed = feed
        timeoutNanos = UInt64(timeoutMs) * 1_000_000
        let clientID = Secrets.randomBytes(8).reduce(0) { $0 << 8 | UInt64($1) } & 0x7fff_ffff_ffff_ffff
        clientIDBytes = Array(String(clientID).utf8)
        refresh()
    }

    /// Takes the feed's newest configuration; connections to nodes whose address changed or
    /// that left are closed (their waiting operations retry).
    private func refresh() {
        guard feed.version != version else { return }
        let (v, c) = feed.current
        version = v
        config = c
        var fresh: [NodeID: SocketAddress] = [:]
        for n in c.nodes { fresh[n.id] = try? SocketAddress(parsing: n.client) }
        for (id, pipe) in pipes where fresh[id] != pipe.address {
            pipes.removeValue(forKey: id)
            pipe.fail("connection")
        }
        addresses = fresh
    }

    private func pipe(for node: NodeID) -> RESPPipe? {
        if let p = pipes[node] { return p }
        guard let a = addresses[node] else { return nil }
        let p = RESPPipe(loop: loop, address: a, keepValues: keepValues, security: security) { [unowned(unsafe) self] w, v in reply(w, v) }
        pipes[node] = p
        return p
    }

    func start(_ slot: Int) {
        if slots.count < session.batch.count { slots = Array(repeating: SlotState(), count: session.batch.count) }
        slots[slot] = SlotState(deadline: session.startedAt + retryBudgetNanos, key: KeyChooser.name(session.batch[slot].key))
        attempt(slot)
    }

    private static let get = Array("GET".utf8), set = Array("SET".utf8), req = Array("CS.REQ".utf8), retry = Array("CS.RETRY".utf8)

    /// Sends operation `slot` (or its write, for a read-modify-write past its read) to the node
    /// that serves it now.
    private func attempt(_ slot: Int) {
        refresh()
        let o = session.batch[slot]
        let key = slots[slot].key
        let write = o.op != .get && (o.op != .rmw || slots[slot].readDone)
        let chainID = config.chain(forKey: key)
        let chain = config.chains[chainID]
        guard let node = write ? chain.head : chain.tail, let p = pipe(for: node) else {
            return retryLater(slot)
        }
        slots[slot].chain = chainID
        guard holds[chainID, default: 0] == 0, !held.contains(where: { $0 < slot && slots[$0].chain == chainID }),
              order.mayStart(chain: chainID, at: node) else {
            held.insert(slot, at: held.firstIndex { $0 > slot } ?? held.count)
            return
        }
        slots[slot].attempt += 1
        order.started(chain: chainID, at: node)
        if o.op == .rmw && !write { hold(chainID, 1) }
        let now = MonotonicClock.now()
        if !write {
            p.send(Self.get, key, waiter: .init(slot: Int32(slot), step: .get), now: now)
            return
        }
        if !tagWrites {
            p.send([Self.set, key, Array(session.value(slot))], waiter: .init(slot: Int32(slot), step: .set), now: now)
            return
        }
        if slots[slot].tag == 0 {
            slots[slot].tag = nextRequest
            nextRequest += 1
        }
        // A first attempt is CS.REQ; later ones CS.RETRY, which makes the head look for the
        // result of an attempt that committed without its reply arriving.
        let wrapper = slots[slot].attempt == 1 ? Self.req : Self.retry
        p.send([wrapper, clientIDBytes, Array(String(slots[slot].tag).utf8), Self.set, key, Array(session.value(slot))],
               waiter: .init(slot: Int32(slot), step: .set), now: now)
    }

    private func retryLater(_ slot: Int) {
        let now = MonotonicClock.now()
        guard now < slots[slot].deadline else { return session.complete(slot, error: "unavailable") }
        let pause = min(50 * max(1, slots[slot].attempt), 500)
        let chain = slots[slot].chain
        hold(chain, 1)
        Timer(loop: loop, afterMs: pause) { [weak self] in
            guard let self else { return }
            hold(chain, -1)
            attempt(slot)
            releaseHeld()
            flush()
        }
    }

    private func hold(_ chain: ChainID, _ delta: Int) {
        guard chain >= 0 else { return }
        holds[chain, default: 0] += delta
    }

    private func reply(_ w: RESPPipe.Waiter, _ v: RESPValue) {
        let slot = Int(w.slot)
        order.finished(chain: slots[slot].chain)
        if session.batch[slot].op == .rmw && !slots[slot].readDone { hold(slots[slot].chain, -1) }
        handle(slot, v)
        releaseHeld()
    }

    /// Sends the held operations whose chain is free now (in issue order per chain).
    private func releaseHeld() {
        guard !held.isEmpty else { return }
        // A reply can arrive inside an attempt (a connection failing on a new configuration):
        // that pass then runs again here rather than overtaking the slots still to try.
        guard !releasing else { releaseAgain = true; return }
        releasing = true
        repeat {
            releaseAgain = false
            let waiting = held
            held.removeAll(keepingCapacity: true)
            for slot in waiting { attempt(slot) }
        } while releaseAgain && !held.isEmpty
        releasing = false
        flush()
    }

    private var releasing = false
    private var releaseAgain = false

    private func handle(_ slot: Int, _ v: RESPValue) {
        if case let .error(e) = v {
            // (Refused credentials are not retried: no other node would accept them.)
            for moved in ["TRYAGAIN", "CLUSTERDOWN", "MOVED", "connection", "timeout", "protocol"] where e.hasPrefix(moved) {
                return retryLater(slot)
            }
        }
        let error = ErrorKind.of(v)
        let keep = !session.readValues.isEmpty
        if session.batch[slot].op == .rmw {
            if !slots[slot].readDone {
                guard error == nil else { return session.complete(slot, error: error) }
                if keep { session.readValues[slot] = v.bulkBytes }
                // The write half: a new request with its own tag and attempts.
                slots[slot] = SlotState(deadline: slots[slot].deadline, readDone: true, key: slots[slot].key, chain: slots[slot].chain)
                attempt(slot)
                return flush()
            }
            return session.complete(slot, error: error, value: keep ? session.readValues[slot] : nil)
        }
        session.complete(slot, error: error, value: v.bulkBytes)
    }

    func flush() {
        for p in pipes.values { p.flush() }
    }

    func expire(now: UInt64) {
        for p in pipes.values where p.pending > 0 && now > p.lastProgressAt + timeoutNanos { p.fail("timeout") }
    }

    func placement(of op: BatchOp) -> (node: String, chain: Int)? {
        let chain = config.chain(forKey: KeyChooser.name(op.key))
        guard let node = op.op == .get ? config.chains[chain].tail : config.chains[chain].head else { return nil }
        return (node, chain)
    }

    func close() {
        for p in pipes.values { p.close() }
    }
}
