import EventLoop
import ChainCore
import RESP
import Storage

/// One client connection: parses its requests, runs them, and queues the replies. Replies are
/// released in order, and only once every update they may depend on is acknowledgeable (see
/// `DataView`); the server releases them at the end of each loop turn and after each WAL sync.
/// Loop-thread only.
final class ClientSession {
    /// Replies produced by one read, waiting for update `tag` to be acknowledgeable; or, with a
    /// `slot`, the place of a reply that another part of the node will fill in later (a chain
    /// write waiting for commit, a request forwarded to another node).
    private struct Held {
        var tag: UInt64
        var bytes: [UInt8]
        var commands: Int
        var startNanos: UInt64
        var slot: UInt64?
    }

    let id: UInt64
    let conn: Connection
    /// Held strongly: the server keeps the session until it closes (`Server.sessionClosed`
    /// breaks the cycle), and an `unowned` reference costs a checked retain and a release on
    /// every use — about 450 instructions a write at a head, where a session reaches its
    /// server a dozen times per command.
    let server: Server
    var protocolVersion = 2
    var name: String?
    /// Who this connection authenticated as (nil: nobody yet; only matters when the server has
    /// users).
    var user: UserTable.User?
    private var parser: RESPCommandParser
    private var out = RESPWriter()
    private var held: [Held] = []
    private var earlyFills: [UInt64: (bytes: [UInt8], tag: UInt64)] = [:]
    private var heldBytes = 0
    /// Set once the connection must end after its queued replies are sent.
    private var ending: CloseReason?
    private(set) var isClosed = false
    /// In the server's list of sessions whose replies wait for the store (at most once).
    var waitsForStore = false
    /// Monotonic ns of the last bytes received, and since when a request has been incomplete.
    private(set) var lastReadNanos = monotonicNanos()
    let createdNanos = monotonicNanos()
    /// `CLIENT SETINFO`: the library's name and version.
    var library: [String?] = [nil, nil]
    private var partialSinceNanos: UInt64?
    /// Which earlier commands are still outstanding, and where (see `SessionOrder`).
    var order = SessionOrder()
    /// Inside `MULTI`: the queued commands (nil: no transaction open).
    var transaction: TransactionState?
    /// The keys `WATCH`ed for the next `EXEC`.
    var watch = WatchState()
    /// A parsed command that waits for earlier ones to answer before it may run.
    private var waitingCommand: RESPCommand?
    /// Whether `waitingCommand` holds one (comparing it with nil copied the command: five
    /// copies a write).
    private var isWaiting = false
    /// Which command runs now, by number (a command that waits keeps its number when it runs
    /// again; one routed again gets a new one): a hold recorded for an earlier command that
    /// ended some other way is not this one's (`holdIfFrozen`).
    private(set) var runningCommand: UInt64 = 0
    private var numberedCommands: UInt64 = 0
    /// Commands this node forwarded that came back unexecuted, to be routed again before any
    /// later command of the connection runs (`Server.reroute`).
    private var reroutes: [ReroutedCommand] = []
    /// Set when another node forwards requests on this connection (`ForwardingSession`).
    var forwarding: ForwardingSession?

    init(id: UInt64, conn: Connection, server: Server) {
        self.id = id
        self.conn = conn
        self.server = server
        let c = server.config
        parser = RESPCommandParser(limits: RESPLimits(
            maxBulkBytes: max(512 << 20, c.maxValueBytes), maxArgumentBytes: c.maxValueBytes,
            maxArrayLength: c.maxArrayLength), wrappers: Wrapper.parsed)
        conn.onRead = { [unowned self] _ in self.readable() }
        conn.onClose = { [unowned self] _, end in
            self.closed(end == .closedLocally ? (self.ending ?? .shutdown) : (end == .peerClosed ? .clientClosed : .socketError))
        }
    }

    private func readable() {
        guard ending == nil else { return }
        let n = parser.withAppendBuffer { conn.read(appendingTo: &$0) }
        lastReadNanos = monotonicNanos()
        server.metrics.bytesIn.increment(by: Int64(n))
        process()
    }

    /// Runs the buffered requests in order until one must wait for earlier ones
    /// (`SessionOrder`) or none is left.
    func process() {
        guard !isClosed else { return }
        // Commands routed again come before anything the connection sent after them.
        if !reroutes.isEmpty && !runReroutes() {
            if parser.bufferedBytes > Self.pauseReadingBytes { conn.pauseReading() }
            return
        }
        guard ending == nil else { return }
        let start = monotonicNanos()
        var commands = 0
        out.version = protocolVersion
        while ending == nil {
            var cmd: RESPCommand
            let resumed = isWaiting
            if isWaiting {
                cmd = waitingCommand!
                waitingCommand = nil
                isWaiting = false
            } else {
                do {
                    guard let next = try parser.next() else { break }
                    cmd = next
                    numberedCommands += 1
                    runningCommand = numberedCommands
                } catch {
                    out.error("ERR Protocol error: \(error)")
                    server.metrics.error("protocol")
                    ending = .protocolError
                    break
                }
            }
            partialSinceNanos = nil  // a request completed: the connection makes progress
            currentCommand = 0
            switch server.execute(&cmd, session: self, into: &out, resumed: resumed) {
            case .answered:
                commands += 1
                answeredCommands.append(currentCommand)
            case .waiting:
                // Earlier commands of this connection must answer first; the rest stays in the
                // parser's buffer, and a large backlog stops reading (TCP pushes back).
                waitingCommand = cmd
                isWaiting = true
                if parser.bufferedBytes > Self.pauseReadingBytes { conn.pauseReading() }
            case let .deferred(slot):
                // The reply comes later: close the chunk so far and keep this reply's place.
                if !out.isEmpty {
                    held.append(Held(tag: takeObserved(), bytes: out.bytes, commands: commands, startNanos: start, slot: nil))
                    heldBytes += out.bytes.count
                    out = RESPWriter(version: protocolVersion)
                }
                commands = 0
                answeredCommands.append(currentCommand)
                held.append(Held(tag: 0, bytes: [], commands: 1, startNanos: start, slot: slot))
                // (Almost always empty: skip the lookup's hashing then.)
                if !earlyFills.isEmpty, let early = earlyFills.removeValue(forKey: slot) { fill(slot: slot, bytes: early.bytes, tag: early.tag) }
                server.markPending(self)
            }
            if isWaiting { break }
            parser.recycle(&cmd.args)
            if out.bytes.count + heldBytes + conn.outputBytes > server.config.maxOutputBytes {
                abort(.outputBufferLimit)
                return
            }
        }
        if ending == nil && !isWaiting && parser.bufferedBytes > server.config.maxRequestBytes {
            out.error("ERR Protocol error: request larger than --max-request-bytes \(server.config.maxRequestBytes)")
            ending = .requestBufferLimit
        }
        if !out.isEmpty || ending != nil {
            held.append(Held(tag: takeObserved(), bytes: out.bytes, commands: commands, startNanos: start, slot: nil))
            heldBytes += out.bytes.count
            out = RESPWriter(version: protocolVersion)
            server.markPending(self)
        }
        if !isWaiting && reroutes.isEmpty { conn.resumeReading() }
    }

    /// Past this many buffered request bytes behind a waiting command, reading pauses.
    static let pauseReadingBytes = 1 << 20

    /// The newest update the replies being built may depend on (a chunk of replies is released
    /// once the store has it).
    private var observedSeq: UInt64 = 0

    /// A command whose reply was just built may depend on updates up to `seq`.
    func observed(_ seq: UInt64) { observedSeq = max(observedSeq, seq) }

    private func takeObserved() -> UInt64 {
        defer { observedSeq = 0 }
        return observedSeq
    }

    /// Marks the connection to end after the reply being built (QUIT).
    func endAfterReply(_ reason: CloseReason) { ending = reason }

    var hasHeldReplies: Bool { !held.isEmpty }

    /// Its first held reply is built and waits only for `Server.ackableSeq` (the store, or a
    /// joiner's read floor). One whose first reply waits for a commit is looked at again when
    /// that reply is filled (`fill` marks the session pending), not at every store write.
    var awaitsStore: Bool { held.first.map { $0.slot == nil } ?? false }

    /// The command `Server.execute` is running, once it knows which (0: internal or unknown),
    /// for the latency histogram by command.
    var currentCommand: ServerMetrics.CommandIndex = 0
    /// Every executed command whose reply is not released yet, in order (`Held.commands` of them
    /// per held reply), from `answeredHead` on; the storage is reused, not reallocated.
    private var answeredCommands: [ServerMetrics.CommandIndex] = []
    private var answeredHead = 0

    /// An outstanding command of `chain` answered (once per command, from `Server.fillSlot`): a
    /// command waiting for it may run now.
    func orderedCommandAnswered(chain: ChainID?) {
        if order.finished(chain: chain) && (isWaiting || !reroutes.isEmpty) { server.markResumable(self) }
    }

    /// A forwarded command of this connection came back unexecuted (its reply's place is
    /// `slot`, still held): it runs again, in order, from `process`.
    func reroute(_ command: ReroutedCommand) {
        var command = command
        numberedCommands += 1
        command.number = numberedCommands
        reroutes.append(command)
        server.markResumable(self)
    }

    var isRerouting: Bool { !reroutes.isEmpty && !isClosed }

    /// Routes the commands that came back again, oldest first, as far as they may go now.
    /// Returns whether none is left.
    private func runReroutes() -> Bool {
        while let r = reroutes.first {
            switch server.chainNode?.core.reroute(refusedAt: r.refusedAt, attempts: r.attempts, firstRefusedMs: r.firstRefusedMs,
                                                  lastRefusedMs: r.lastRefusedMs, now: monotonicMillis(), unreachable: r.unreachable) ?? .giveUp {
            case .giveUp:
                fill(slot: r.slot, bytes: r.refusal, tag: 0)
            case .waitForConfiguration:
                return false
            case .now:
                var reply = RESPWriter(version: protocolVersion)
                server.rerouting = r
                let running = runningCommand
                runningCommand = r.number
                var command = r.command
                let outcome = server.execute(&command, session: self, into: &reply, resumed: true)
                runningCommand = running
                server.rerouting = nil
                switch outcome {
                case .answered: fill(slot: r.slot, bytes: reply.bytes, tag: takeObserved())
                case let .deferred(slot): rebind(r.slot, to: slot)
                case .waiting: return false
                }
                server.metrics.forwardsRerouted.increment()
            }
            reroutes.removeFirst()
        }
        return true
    }

    /// The reply held in place `old` now comes into `slot`.
    private func rebind(_ old: UInt64, to slot: UInt64) {
        guard let i = held.firstIndex(where: { $0.slot == old }) else { return }
        held[i].slot = slot
        if let early = earlyFills.removeValue(forKey: slot) { fill(slot: slot, bytes: early.bytes, tag: early.tag) }
    }

    /// Fills a deferred reply. `tag` is the update it depends on locally (0: none). A reply may
    /// be filled before `readable` has queued its slot (it was known at once); it waits here.
    func fill(slot: UInt64, bytes: [UInt8], tag: UInt64) {
        guard let i = held.firstIndex(where: { $0.slot == slot }) else {
            earlyFills[slot] = (bytes, tag)
            return
        }
        var reply = bytes
        // Replies recorded by a chain are RESP2; a RESP3 connection expects its null type.
        if protocolVersion >= 3 && (reply == RESPWriter.resp2Null || reply == RESPWriter.resp2NullArray) { reply = RESPWriter.resp3Null }
        held[i].bytes = reply
        held[i].slot = nil
        held[i].tag = tag
        heldBytes += reply.count
        server.markPending(self)
    }

    /// Sends every held reply whose updates are acknowledgeable (`tag <= ackable`), in order.
    func release(upTo ackable: UInt64) {
        guard !isClosed else { return }
        // (Called for every waiting session whenever the store persists: most often the first
        // reply still waits for its commit, and nothing changes.)
        if let first = held.first, first.slot != nil || first.tag > ackable { return }
        var i = 0
        let now = monotonicNanos()
        while i < held.count && held[i].slot == nil && held[i].tag <= ackable {
            let h = held[i]
            conn.write(h.bytes)
            server.metrics.bytesOut.increment(by: Int64(h.bytes.count))
            for _ in 0..<h.commands {
                server.metrics.recordLatency(nanos: now - h.startNanos, command: answeredCommands[answeredHead])
                answeredHead += 1
            }
            heldBytes -= h.bytes.count
            i += 1
        }
        // Most often every held reply went: popped in place, not shifted
        // (`removeAll(keepingCapacity:)` and `removeFirst` go through a generic range replacement).
        if i == held.count {
            held.popAll()
        } else if i > 0 {
            held.removeFirst(i)
        }
        if answeredHead == answeredCommands.count {
            answeredCommands.popAll()
            answeredHead = 0
        } else if answeredHead > 0 && answeredHead * 2 >= answeredCommands.count {
            answeredCommands.removeFirst(answeredHead)
            answeredHead = 0
        }
        if held.isEmpty, let ending {
            server.metrics.closed(ending)
            conn.closeAfterFlush()
        } else if conn.outputBytes > server.config.maxOutputBytes {
            abort(.outputBufferLimit)
        }
    }

    /// Ends the connection now, dropping queued replies.
    /// Called about once a second: ends a connection that broke the idle or request timeout.
    func checkTimeouts(now: UInt64) {
        guard ending == nil, !isClosed else { return }
        let c = server.config
        if parser.bufferedBytes > 0 && !isWaiting {
            let since = partialSinceNanos ?? lastReadNanos
            partialSinceNanos = since
            if c.requestTimeoutMs > 0 && now - since > UInt64(c.requestTimeoutMs) * 1_000_000 { abort(.requestTimeout) }
            return
        }
        partialSinceNanos = nil
        if c.idleTimeoutMs > 0 && held.isEmpty && now - lastReadNanos > UInt64(c.idleTimeoutMs) * 1_000_000 { abort(.idleTimeout) }
    }

    func abort(_ reason: CloseReason) {
        guard !isClosed else { return }
        ending = reason
        server.metrics.closed(reason)
        conn.close()
    }

    private func closed(_ reason: CloseReason) {
        guard !isClosed else { return }
        isClosed = true
        if reason == .clientClosed || reason == .socketError { server.metrics.closed(reason) }
        held.removeAll()
        reroutes.removeAll()
        server.sessionClosed(self)
    }
}

