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
    public static let version = "0.1.0"

    let config: ServerConfig
    let loop: EventLoop
    let data: DataView
    let metrics = ServerMetrics()
    let logger: Logger
    private let committer: GroupCommitter
    private var listener: TCPListener?
    private var http: HTTPServer?
    private var signals: [SignalWatcher] = []
    private(set) var sessions: [UInt64: ClientSession] = [:]
    private var pendingRelease: [ClientSession] = []
    private var endOfTurnQueued = false
    private var nextSessionID: UInt64 = 1
    private var retryTimer: Timer?
    private let startedAt = monotonicNanos()
    private(set) var acceptedTotal = 0
    private(set) var commandsTotal = 0
    private var shuttingDown = false

    public init(config: ServerConfig, store: any KVStore, loop: EventLoop, logger: Logger) {
        self.config = config
        self.loop = loop
        self.logger = logger
        self.data = DataView(store: store, cacheBytes: config.cacheBytes)
        self.committer = GroupCommitter(store: store, loop: loop)
        committer.onSynced = { [unowned self] _ in
            metrics.walSyncs.increment()
            data.clearSyncError()
            releaseAll()
        }
        committer.onFailed = { [unowned self] error in
            storeFailed(error)
        }
    }

    /// Opens the listeners and signal handlers. Call on the loop thread before `loop.run()`.
    public func start() throws(EventLoopError) {
        listener = try TCPListener(loop: loop, address: config.listen) { [unowned self] conn in accept(conn) }
        if let h = config.httpListen {
            http = try HTTPServer(loop: loop, address: h) { [unowned self] req in handleHTTP(req) }
        }
        for sig in [SIGTERM, SIGINT] {
            signals.append(SignalWatcher(loop: loop, signal: sig) { [unowned self] s in
                logger.info("signal \(s): shutting down")
                shutdown()
            })
        }
        signal(SIGPIPE, SIG_IGN)
        logger.info("chainserver \(Server.version) listening", metadata: [
            "resp": "\(listenAddress)", "http": "\(http.map { "\($0.address)" } ?? "off")",
            "durability": "\(config.durability.rawValue)", "data_dir": "\(config.dataDir)"])
    }

    public var listenAddress: SocketAddress { listener?.address ?? config.listen }
    public var httpAddress: SocketAddress? { http?.address }

    var uptimeSeconds: Int { Int((monotonicNanos() - startedAt) / 1_000_000_000) }

    /// The last update whose reply may be sent.
    var ackableSeq: UInt64 {
        config.durability == .fsync ? min(committer.synced, data.writtenSeq) : data.writtenSeq
    }

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

    /// Runs one parsed request and appends its reply.
    func execute(_ cmd: RESPCommand, session: ClientSession, into out: inout RESPWriter) {
        commandsTotal += 1
        guard let id = CommandID.lookup(cmd.args[0]) else {
            metrics.command(nil)
            metrics.error("unknown_command")
            let name = String(decoding: cmd.args[0].prefix(128), as: UTF8.self)
            out.error("ERR unknown command '\(name)', with args beginning with: \(cmd.args.dropFirst().prefix(3).map { "'\(String(decoding: $0.prefix(64), as: UTF8.self))'" }.joined(separator: " "))")
            return
        }
        metrics.command(id)
        guard id.arityOK(cmd.args.count) else {
            metrics.error("wrong_arity")
            out.error("ERR wrong number of arguments for '\(id.name)' command")
            return
        }
        if let big = cmd.oversized {
            metrics.error("value_too_large")
            out.error("ERR value too large: argument \(big.index) is \(big.length) bytes, the limit is \(config.maxValueBytes) (--max-value-bytes)")
            return
        }
        if id.isWrite, let e = data.writeError {
            metrics.error("store_unavailable")
            out.error("ERR store unavailable, writes are refused until it recovers: \(e)")
            return
        }
        switch id {
        case .get, .set, .del, .exists, .mget, .mset, .incr, .incrby, .decr, .decrby, .append, .strlen:
            do {
                try StringCommands(data: data, maxValueBytes: config.maxValueBytes).run(id, cmd.args, &out)
            } catch {
                metrics.error("store_read")
                out.error("ERR store read failed: \(error)")
            }
        default:
            runConnectionCommand(id, cmd.args, session: session, &out)
        }
    }

    /// A session has replies waiting; they are considered at the end of this loop turn.
    func markPending(_ s: ClientSession) {
        pendingRelease.append(s)
        if !endOfTurnQueued {
            endOfTurnQueued = true
            loop.atEndOfTurn { [unowned self] in endOfTurn() }
        }
    }

    /// After every read of this turn: write the turn's updates as one batch, start their fsync
    /// (fsync mode), and send every reply that no longer waits for anything.
    private func endOfTurn() {
        endOfTurnQueued = false
        if data.hasPending {
            if data.flush() {
                metrics.storeWrites.increment()
                if config.durability == .fsync { committer.request(data.writtenSeq) }
            } else if let e = data.writeError {
                storeFailed(e)
            }
        }
        let ready = ackableSeq
        let sessions = pendingRelease
        pendingRelease.removeAll(keepingCapacity: true)
        for s in sessions where s.hasHeldReplies {
            s.release(upTo: ready)
            if s.hasHeldReplies && !s.isClosed { waiting.append(s) }
        }
    }

    /// Sessions whose replies wait for an fsync.
    private var waiting: [ClientSession] = []

    private func releaseAll() {
        let ready = ackableSeq
        let list = waiting
        waiting.removeAll(keepingCapacity: true)
        for s in list where !s.isClosed {
            s.release(upTo: ready)
            if s.hasHeldReplies { waiting.append(s) }
        }
    }

    /// A write or sync failed (disk full, I/O error): refuse new writes, hold every reply that
    /// depends on the failed updates, and retry every second until the store accepts them.
    private func storeFailed(_ error: StoreError) {
        data.markSyncFailed(error)
        metrics.storeHealthy.set(to: 0)
        metrics.error("store_write")
        logger.error("store write failed; refusing writes until it recovers", metadata: ["error": "\(error)"])
        guard retryTimer == nil else { return }
        retryTimer = Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in
            if data.hasPending && !data.flush() { return }
            if config.durability == .fsync {
                committer.request(data.writtenSeq)
                committer.retry()
            } else {
                data.clearSyncError()
            }
            if data.writeError == nil {
                logger.notice("store recovered; accepting writes again")
                metrics.storeHealthy.set(to: 1)
                retryTimer?.cancel()
                retryTimer = nil
                releaseAll()
            }
        }
    }

    /// Stops accepting, makes every update durable, sends the replies that were waiting, and
    /// closes the clients; the loop stops once they are gone (or after a second).
    public func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        listener?.close()
        http?.close()
        for s in signals { s.cancel() }
        retryTimer?.cancel()
        if data.flush() {
            // A last, blocking sync is acceptable here: the loop is about to stop.
            do { try data.store.syncWAL() } catch { logger.error("final WAL sync failed", metadata: ["error": "\(error)"]) }
            for s in sessions.values { s.release(upTo: data.writtenSeq) }
        }
        for s in sessions.values { s.endAfterReply(.shutdown); s.release(upTo: 0) }
        if sessions.isEmpty { loop.stop() }
        Timer(loop: loop, afterMs: 1000) { [unowned self] in
            for s in sessions.values { s.abort(.shutdown) }
            loop.stop()
        }
    }

    /// Waits for a WAL sync still running on the committer's queue. Call after the loop stopped,
    /// before closing the store.
    public func drainBackgroundWork() { committer.drain() }
}
