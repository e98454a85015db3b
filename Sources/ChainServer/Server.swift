import ChainCore
import ChainVersion
import EventLoop
import Logging
import RESP
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// The single-node server: accepts RESP clients, runs their commands against the store, and
/// serves HTTP status and metrics. Everything runs on one event loop; only WAL fsyncs run on the
/// group committer's queue. Loop-thread only.
public final class Server {

    let config: ServerConfig
    let loop: EventLoop
    let data: DataView
    let direct: DirectKeyspace
    let metrics = ServerMetrics()
    /// The cluster side of the node; nil in standalone mode.
    var chainNode: ChainNode?
    var nextSlot: UInt64 = 1
    /// Deferred replies: slot → the session waiting for it, and, when the session's order
    /// counts the command as outstanding, on which chain (`chain` nil: every chain).
    private var slots = SequenceTable<(session: ClientSession, ordered: Bool, chain: ChainID?)>()
    /// Sessions with forwarded commands that came back to be routed again (`reroute`).
    var reroutingSessions: [ClientSession] = []
    /// The command being routed again while it runs (its forwarding counts its earlier tries).
    var rerouting: ReroutedCommand?
    let logger: Logger
    private let writer: StoreWriter
    private var listener: TCPListener?
    private var http: HTTPServer?
    private var signals: [SignalWatcher] = []
    private(set) var sessions: [UInt64: ClientSession] = [:]
    /// Reply slots whose answer goes to the server itself (`reserveInternalSlot`).
    var internalWaits: [UInt64: ([UInt8]) -> Void] = [:]
    private(set) lazy var expirySweeper = ExpirySweeper(server: self)
    let watchTable = WatchTable()
    let scripts = ScriptRegistry()
    let keyspaceStats = KeyspaceStats()
    /// Store cursors of scans in progress (`SCAN`, `CS.SCAN`), used on `storeWalks` only.
    let scanCursors = ScanCursors()
    /// Snapshots of backups in progress (`CS.BACKUP`).
    let backups = BackupSnapshots()
    /// A standalone node's writes so far (what its `WATCH` tokens count).
    var standaloneWrites: UInt64 = 0
    private var pendingRelease: [ClientSession] = []
    /// The list `endOfTurn` walks, swapped with `pendingRelease`: emptying a list while a copy of
    /// it is being walked gave it a new buffer every turn.
    private var releasingNow: [ClientSession] = []
    private var endOfTurnQueued = false
    /// Made once: a closure written at each call site is a context allocation every turn.
    private lazy var endOfTurnHandler: () -> Void = { [unowned self] in endOfTurn() }
    private var nextSessionID: UInt64 = 1
    private let startedAt = monotonicNanos()
    private(set) var acceptedTotal = 0
    private(set) var commandsTotal = 0
    private var shuttingDown = false

    public init(config: ServerConfig, store: any KVStore, loop: EventLoop, logger: Logger) {
        self.config = config
        self.loop = loop
        self.logger = logger
        self.data = DataView(store: store, cacheBytes: config.cacheBytes)
        self.direct = DirectKeyspace(data)
        self.writer = StoreWriter(store: store, loop: loop, sync: config.durability == .fsync, dataDir: config.dataDir,
                                  reserveBytes: config.minFreeDiskBytes, failWritesAfter: config.failWritesAfter)
        writer.onPersisted = { [unowned self] seq in persisted(seq) }
        writer.onFailed = { [unowned self] error in storeFailed(error) }
    }

    /// Opens the listeners and signal handlers. Call on the loop thread before `loop.run()`.
    public func start() throws(EventLoopError) {
        if config.cluster != nil { try startCluster() }
        listener = try TCPListener(loop: loop, address: config.listen, tls: config.tls?.server) { [unowned self] conn in accept(conn) }
        startTimeoutSweep()
        startLoopLagProbe()
        direct.onWrite = { [unowned self] key, value in
            standaloneWrites += 1
            watchTable.noteWrite(chain: 0, key: key, seq: standaloneWrites)
            if value?.expiresAtMs != nil { expirySweeper.wake(0) }
        }
        startExpirySweep()
        if let h = config.httpListen {
            http = try HTTPServer(loop: loop, address: h, tls: config.httpTLS ? config.tls?.server : nil) { [unowned self] req in handleHTTP(req) }
        }
        for sig in [SIGTERM, SIGINT] {
            signals.append(SignalWatcher(loop: loop, signal: sig) { [unowned self] s in
                logger.info("signal \(s): shutting down")
                shutdown()
            })
        }
        signal(SIGPIPE, SIG_IGN)
        logger.info("chainserver \(BuildInfo.description) listening", metadata: [
            "resp": "\(listenAddress)", "http": "\(http.map { "\($0.address)" } ?? "off")",
            "durability": "\(config.durability.rawValue)", "data_dir": "\(config.dataDir)"])
    }

    public var listenAddress: SocketAddress { listener?.address ?? config.listen }
    public var httpAddress: SocketAddress? { http?.address }

    var uptimeSeconds: Int { Int((monotonicNanos() - startedAt) / 1_000_000_000) }

    /// The last update whose reply may be sent: persisted, and committed where a tail counting
    /// its joiner holds updates that are not (`ChainNode.readFloor`).
    var ackableSeq: UInt64 { min(data.persistedSeq, chainNode?.readFloor ?? .max) }

    private func accept(_ conn: Connection) {
        if sessions.count >= config.maxClients || shuttingDown {
            metrics.connectionsRejected.increment()
            metrics.closed(.maxClients)
            conn.write(Array("-ERR max number of clients reached\r\n".utf8))
            conn.closeAfterFlush()
            return
        }
        let id = nextSessionID
        nextSessionID += 1
        acceptedTotal += 1
        sessions[id] = ClientSession(id: id, conn: conn, server: self)
        metrics.connectionsAccepted.increment()
        metrics.connections.set(to: Double(sessions.count))
    }

    func sessionClosed(_ s: ClientSession) {
        sessions.removeValue(forKey: s.id)
        metrics.connections.set(to: Double(sessions.count))
        if shuttingDown && sessions.isEmpty { loop.stop() }
    }

    /// The node-to-node and tool commands (`CS.CLEARCHAIN`, `CS.SCAN`, `CS.DIGEST`, `CS.BACKUP`), or
    /// nil when `args` is none of them.
    private func internalCommand(_ args: [[UInt8]], session: ClientSession, forwarded: Bool, into out: inout RESPWriter) -> CommandOutcome? {
        if Wrapper.matches(args[0], Wrapper.clearChain) {
            return clearChainCommand(args, session: session, forwarded: forwarded, into: &out)
        }
        if Wrapper.matches(args[0], Wrapper.scan) {
            // A chain's scan reads its tail here: it waits for this connection's writes to it.
            if args.count > 1, mustWait(session, forChains: args[1...1]) { return .waiting }
            return scanChain(args, session: session, into: &out)
        }
        if Wrapper.matches(args[0], Wrapper.digest) {
            // The digest of chains must cover this connection's earlier writes to them.
            if args.count > 2, mustWait(session, forChains: args[2...]) { return .waiting }
            return digestCommand(args, session: session, into: &out)
        }
        if Wrapper.matches(args[0], Wrapper.backup) {
            // A snapshot of chains must hold this connection's earlier writes to them.
            if args.count > 2, Wrapper.matches(args[1], Wrapper.backupOpen), mustWait(session, forChains: args[2...]) { return .waiting }
            return backupCommand(args, session: session, into: &out)
        }
        return nil
    }

    /// Runs one parsed request and appends its reply, or says that its reply will be filled in
    /// later (a chain write waiting for commit, a forwarded request), or that it must wait for
    /// the session's earlier commands (`resumed`: this is such a command's next try, already
    /// counted).
    func execute(_ cmd: inout RESPCommand, session: ClientSession, into out: inout RESPWriter, resumed: Bool = false) -> CommandOutcome {
        if !resumed { commandsTotal += 1 }
        // With users configured, a connection that has not authenticated may only say hello,
        // authenticate, ping or quit.
        // (A wrapper is never allowed before authentication: taken off by the parser or not.)
        if let users = config.users, !users.isOpen, session.user == nil,
           cmd.marked || cmd.tag != nil || !CommandID.allowedBeforeAuth(cmd.args[0]) {
            metrics.error("noauth")
            out.error("NOAUTH Authentication required.")
            return .answered
        }
        // Internal wrappers: `CS.FWD cmd…` marks a request another node forwarded (never forwarded
        // again); `CS.REQ client request cmd…` tags a write for idempotent retries. The session's
        // parser takes them off as it reads (`Wrapper.parsed`); a command built otherwise still
        // has them as arguments.
        var tag = cmd.tag.map { RequestTag(client: $0.first, request: $0.second) }
        var retry = cmd.tag?.word == 1
        var forwarded = cmd.marked
        var wrappers = 0
        if !forwarded, tag == nil, Wrapper.mayBeWrapper(cmd.args[0]), Wrapper.matches(cmd.args[0], Wrapper.forward) {
            forwarded = true
            wrappers = 1
        }
        if tag == nil, cmd.args.count > wrappers, Wrapper.mayBeWrapper(cmd.args[wrappers]),
           Wrapper.matches(cmd.args[wrappers], Wrapper.request) || Wrapper.matches(cmd.args[wrappers], Wrapper.retry) {
            retry = Wrapper.matches(cmd.args[wrappers], Wrapper.retry)
            guard cmd.args.count >= wrappers + 4, let c = Wrapper.id(cmd.args[wrappers + 1]), let r = Wrapper.id(cmd.args[wrappers + 2]) else {
                out.error("ERR CS.REQ and CS.RETRY need a numeric client id, a numeric request id and a command")
                return .answered
            }
            tag = RequestTag(client: c, request: r)
            wrappers += 3
        }
        guard cmd.args.count > wrappers else {
            out.error("ERR empty command after a wrapper")
            return .answered
        }
        guard wrappers > 0 else { return executeUnwrapped(cmd, tag: tag, retry: retry, forwarded: forwarded, session: session, into: &out, resumed: resumed) }
        // Wrappers still in the arguments go in place (the session hands over its only
        // reference: no copy of the other arguments), and come back as they were if the command
        // must run again later (what the parser took off stays in `marked` and `tag`).
        let taken = Array(cmd.args[0..<wrappers])
        cmd.args.removeFirst(wrappers)
        let outcome = executeUnwrapped(cmd, tag: tag, retry: retry, forwarded: forwarded, session: session, into: &out, resumed: resumed)
        if outcome == .waiting { cmd.args.insert(contentsOf: taken, at: 0) }
        return outcome
    }

    /// `execute` for a command without its wrappers.
    private func executeUnwrapped(_ cmd: RESPCommand, tag: RequestTag?, retry: Bool, forwarded: Bool, session: ClientSession,
                     into out: inout RESPWriter, resumed: Bool) -> CommandOutcome {
        var args = cmd.args
        let maybeInternal = Wrapper.mayBeWrapper(args[0])
        if maybeInternal, Wrapper.matches(args[0], Wrapper.exec) {
            return execRequest(args, session: session, forwarded: forwarded, into: &out)
        }
        if maybeInternal, Wrapper.matches(args[0], Wrapper.watch) { return watchRequest(args, into: &out) }
        // (A command routed again was queued or run before: a MULTI the connection opened since
        // must not take it.)
        // Looked up once for both (a lookup is about 130 instructions a command).
        let found = CommandID.lookup(args[0])
        if !forwarded, tag == nil, rerouting == nil, let outcome = transactionControl(cmd, args, found, session: session, into: &out) { return outcome }
        if maybeInternal, let outcome = internalCommand(args, session: session, forwarded: forwarded, into: &out) ?? forwardingCommand(args, session: session, into: &out) {
            return outcome
        }
        guard var id = found else {
            if !resumed { metrics.command(nil) }
            if let family = UnsupportedCommands.family(of: args[0]) {
                metrics.error("unsupported_command")
                out.error("ERR chainstore does not support \(family) yet: '\(String(decoding: args[0], as: UTF8.self).uppercased())' is not implemented (Docs/COMPATIBILITY.md)")
                return .answered
            }
            metrics.error("unknown_command")
            let name = String(decoding: args[0].prefix(128), as: UTF8.self)
            out.error("ERR unknown command '\(name)', with args beginning with: \(args.dropFirst().prefix(3).map { "'\(String(decoding: $0.prefix(64), as: UTF8.self))'" }.joined(separator: " "))")
            return .answered
        }
        session.currentCommand = metrics.command(id, counted: !resumed)
        guard id.arityOK(args.count) else {
            metrics.error("wrong_arity")
            out.error("ERR wrong number of arguments for '\(id.name)' command")
            return .answered
        }
        if let why = id.malformed(args) {
            metrics.error("syntax")
            out.error(why)
            return .answered
        }
        if id == .evalsha {
            // Turned into EVAL here, where the client loaded the script; the key's head may be
            // another node, which never saw it.
            guard let body = scripts.body(forSHA: args[1]) else {
                metrics.error("noscript")
                out.error("NOSCRIPT No matching script. Please use EVAL.")
                return .answered
            }
            args[0] = Array("EVAL".utf8)
            args[1] = body
            id = .eval
        }
        if let big = cmd.oversized {
            metrics.error("value_too_large")
            out.error("ERR value too large: argument \(big.index) is \(big.length) bytes, the limit is \(config.maxValueBytes) (--max-value-bytes)")
            return .answered
        }
        if id.isWrite, session.user?.permission == .readOnly {
            metrics.error("noperm")
            out.error("NOPERM User \(session.user!.name) has no permissions to run the '\(id.name)' command")
            return .answered
        }
        if id.isWrite, let e = data.writeError {
            metrics.error("store_unavailable")
            if case .diskFull = e { out.error("ERR store unavailable, writes are refused until the disk has room: \(e)") }
            else if chainNode != nil {
                // The node is leaving its chains (it stopped heartbeating): the write goes through
                // another node once the master has spliced this one out.
                out.error("TRYAGAIN this node's store failed and it is leaving its chains; retry: \(e)")
            } else { out.error("ERR store unavailable (I/O error), writes are refused until the node is restarted: \(e)") }
            return .answered
        }
        if id == .flushall || id == .flushdb {
            // After this connection's earlier commands (a pipelined SET before it is flushed too).
            guard session.order.isEmpty else { return .waiting }
            return flush(args, session: session, into: &out)
        }
        if id == .scan || id == .keys || id == .randomkey {
            // They must see this connection's earlier writes: they wait until those answered.
            guard session.order.isEmpty else { return .waiting }
            switch id {
            case .keys: return matchingKeys(args[1], session: session, into: &out)
            case .scan: return scanKeys(args, session: session, into: &out)
            default: return randomKey(session: session, into: &out)
            }
        }
        if id == .dbsize {
            // It must see this connection's earlier writes: it waits until they have answered.
            guard session.order.isEmpty else { return .waiting }
            return countKeys(for: session)
        }
        if id == .cluster, ["COUNTKEYSINSLOT", "GETKEYSINSLOT"].contains(String(decoding: args[1], as: UTF8.self).uppercased()) {
            return keysInSlot(args, session: session, into: &out)
        }
        if id == .object, args.count == 2 {
            // OBJECT HELP names no key.
            ObjectSortCommands.help(&out)
            return .answered
        }
        guard id.isDataCommand else {
            runConnectionCommand(id, args, session: session, &out)
            return .answered
        }
        // From here on the reply may depend on data (and on updates not persisted yet); the
        // refusals above and the connection commands depend on none, so they are not held back
        // behind a pending write (one waiting for disk room, say).
        defer { session.observed(data.currentSeq) }
        if let node = chainNode {
            return node.handle(id, args, tag: tag, retry: retry, forwarded: forwarded, session: session, into: &out)
        }
        do {
            try StringCommands(data: direct, maxValueBytes: config.maxValueBytes).run(id, args, &out)
        } catch {
            metrics.error("store_read")
            out.error(error.reply)
        }
        return .answered
    }

    /// Whether a command reading the chains named by `chainArgs` (numbers; others are ignored)
    /// here must first wait for this connection's earlier commands to them.
    func mustWait(_ session: ClientSession, forChains chainArgs: ArraySlice<[UInt8]>) -> Bool {
        guard let node = chainNode else { return false }
        return chainArgs.contains { Int(String(decoding: $0, as: UTF8.self)).map { !session.order.mayStart(chain: $0, at: node.me) } ?? false }
    }

    /// Reserves a deferred reply for `session`; with `chain` and `node`, the session's order
    /// counts the command as outstanding there until the reply is filled (`SessionOrder`).
    func reserveSlot(for session: ClientSession, chain: ChainID? = nil, at node: NodeID? = nil) -> UInt64 {
        let id = nextSlot
        nextSlot += 1
        slots.insert((session, node != nil, chain), at: id)
        if let node { session.order.started(chain: chain, at: node) }
        return id
    }

    /// Fills a deferred reply (a no-op if its client went away).
    /// Takes back an ordered client slot whose forwarded request was refused unexecuted (nil
    /// if it is no such slot, or its session went away): the command no longer counts as
    /// outstanding, and its reply's place stays held for its next try.
    func takeForwardedSlot(_ id: UInt64) -> ClientSession? {
        guard let entry = slots[id], entry.ordered, !entry.session.isClosed else { return nil }
        slots.removeValue(forKey: id)
        entry.session.orderedCommandAnswered(chain: entry.chain)
        return entry.session
    }

    func fillSlot(_ id: UInt64, bytes: [UInt8], tag: UInt64 = 0) {
        // (Internal writes are rare: skip the lookup's hashing while there are none.)
        if !internalWaits.isEmpty, let done = internalWaits.removeValue(forKey: id) { return done(bytes) }
        guard let entry = slots.removeValue(forKey: id), !entry.session.isClosed else { return }
        if entry.ordered { entry.session.orderedCommandAnswered(chain: entry.chain) }
        entry.session.fill(slot: id, bytes: bytes, tag: tag)
    }

    /// Updates were applied outside a client read (chain replication): flush them this turn.
    func markStoreDirty() {
        if !endOfTurnQueued {
            endOfTurnQueued = true
            loop.atEndOfTurn(endOfTurnHandler)
        }
    }

    /// A session's waiting command may run now: it does at the end of this loop turn (not
    /// inside whatever filled the reply it waited for).
    func markResumable(_ s: ClientSession) {
        resumable.append(s)
        if !endOfTurnQueued {
            endOfTurnQueued = true
            loop.atEndOfTurn(endOfTurnHandler)
        }
    }

    private var resumable: [ClientSession] = []

    /// A session has replies waiting; they are considered at the end of this loop turn.
    func markPending(_ s: ClientSession) {
        pendingRelease.append(s)
        if !endOfTurnQueued {
            endOfTurnQueued = true
            loop.atEndOfTurn(endOfTurnHandler)
        }
    }

    /// After every read of this turn: hand the turn's updates to the writer as one batch, and
    /// send every reply that does not wait for an update.
    private func endOfTurn() {
        endOfTurnQueued = false
        // Commands that waited for earlier ones of their connection; running them can fill
        // more replies (an error known at once), which can free more.
        while !resumable.isEmpty {
            let list = resumable
            resumable.popAll()
            for s in list { s.process() }
        }
        chainNode?.beforeStoreFlush()
        if data.hasPending && data.writeError == nil {
            metrics.storeWrites.increment()
            metrics.storeEntries.increment(by: Int64(data.pendingEntries))
            if data.flush(to: writer) { persisted(data.currentSeq) }
        }
        let ready = ackableSeq
        swap(&pendingRelease, &releasingNow)
        for i in releasingNow.indices {
            let s = releasingNow[i]
            guard s.hasHeldReplies else { continue }
            s.release(upTo: ready)
            if s.awaitsStore && !s.isClosed && !s.waitsForStore {
                s.waitsForStore = true
                waiting.append(s)
            }
        }
        releasingNow.popAll()
    }

    /// Sessions whose first held reply waits for the writer (or a read floor), not for a commit:
    /// each store write looks at these only (at 12 chains it looked at every session with a
    /// write in flight, ~600 instructions a write and node).
    private var waiting: [ClientSession] = []
    private var releasing: [ClientSession] = []

    private func persisted(_ seq: UInt64) {
        data.persisted(upTo: seq)
        chainNode?.persisted(upTo: seq)
        if config.durability == .fsync { metrics.walSyncs.increment() }
        if let t = retryTimer {
            logger.notice("disk has room again; accepting writes")
            metrics.storeHealthy.set(to: 1)
            t.cancel()
            retryTimer = nil
        }
        releaseHeldReplies()
        if shuttingDown && !data.hasUnpersisted { finishShutdown() }
    }

    /// Sends the replies that waited for the store (or for a commit) and may go now.
    func releaseHeldReplies() {
        let ready = ackableSeq
        // Two lists swapped, so neither is copied or reallocated.
        swap(&waiting, &releasing)
        for s in releasing {
            s.waitsForStore = false
            guard !s.isClosed else { continue }
            s.release(upTo: ready)
            if s.awaitsStore {
                s.waitsForStore = true
                waiting.append(s)
            }
        }
        releasing.popAll()
    }

    /// A write could not be made: refuse new writes (reads go on); the updates not written were
    /// never acknowledged. Short of disk space, the writer tries again every second and writes
    /// resume once there is room; a write RocksDB failed is final (see `StoreWriter`).
    private func storeFailed(_ error: StoreError) {
        data.writeFailed(error)
        metrics.storeHealthy.set(to: 0)
        metrics.error("store_write")
        if case .diskFull = error {
            if retryTimer == nil {
                logger.error("disk almost full; refusing writes until there is room", metadata: ["error": "\(error)"])
                retryTimer = Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in writer.retry() }
            }
            return
        }
        logger.critical("store write failed; refusing writes: fix the disk, then restart this node (the store replays its log)",
                        metadata: ["error": "\(error)"])
        chainNode?.masterLink.withdraw(reason: "store write failed: \(error)")
    }

    /// Retries writes that wait for disk space.
    private var retryTimer: Timer?

    /// Once a second: look for expired keys to delete in the chains this node heads.
    func startExpirySweep() {
        Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in expirySweeper.tick() }
    }

    /// Every 100 ms: how late the loop is (`LoopLagProbe`).
    func startLoopLagProbe() {
        var probe = LoopLagProbe()
        Timer(loop: loop, afterMs: LoopLagProbe.intervalMs, repeating: true) { [unowned self] in
            if let lag = probe.fired(atNanos: monotonicNanos()) { metrics.loopLag.record(lag) }
        }
    }

    /// Once a second: end connections that broke the idle or request timeout.
    func startTimeoutSweep() {
        guard config.idleTimeoutMs > 0 || config.requestTimeoutMs > 0 else { return }
        Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in
            let now = monotonicNanos()
            for s in Array(sessions.values) { s.checkTimeouts(now: now) }
        }
    }

    /// Stops accepting, waits until every update is persisted, sends the replies that were
    /// waiting, and closes the clients; the loop stops once they are gone (at most ~2 s).
    public func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        listener?.close()
        http?.close()
        for s in signals { s.cancel() }
        if data.hasPending && data.flush(to: writer) {
            persisted(data.currentSeq)  // finishes the shutdown
        } else if !data.hasUnpersisted {
            finishShutdown()
        }
        Timer(loop: loop, afterMs: 2000) { [unowned self] in
            if data.hasUnpersisted { logger.error("stopping with updates the store did not accept; their clients got no reply") }
            for s in sessions.values { s.abort(.shutdown) }
            loop.stop()
        }
    }

    private func finishShutdown() {
        retryTimer?.cancel()
        for s in sessions.values {
            s.release(upTo: ackableSeq)
            s.endAfterReply(.shutdown)
            s.release(upTo: ackableSeq)
        }
        if sessions.isEmpty { loop.stop() }
    }

    /// Waits for a store write still running on the writer's thread. Call after the loop
    /// stopped, before closing the store.
    public func drainBackgroundWork() {
        writer.waitUntilIdle()
        // Every store walk ends before the store closes, and no snapshot outlives it.
        Self.storeWalks.sync {}
        backups.removeAll()
    }
}
