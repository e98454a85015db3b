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
    private let writer: StoreWriter
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
        self.writer = StoreWriter(store: store, loop: loop, sync: config.durability == .fsync)
        writer.onPersisted = { [unowned self] seq in persisted(seq) }
        writer.onFailed = { [unowned self] error in storeFailed(error) }
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
    var ackableSeq: UInt64 { data.persistedSeq }

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

    /// After every read of this turn: hand the turn's updates to the writer as one batch, and
    /// send every reply that does not wait for an update.
    private func endOfTurn() {
        endOfTurnQueued = false
        if data.hasPending && data.writeError == nil {
            data.flush(to: writer)
            metrics.storeWrites.increment()
        }
        let ready = ackableSeq
        let list = pendingRelease
        pendingRelease.removeAll(keepingCapacity: true)
        for s in list where s.hasHeldReplies {
            s.release(upTo: ready)
            if s.hasHeldReplies && !s.isClosed { waiting.append(s) }
        }
    }

    /// Sessions whose replies wait for the writer.
    private var waiting: [ClientSession] = []

    private func persisted(_ seq: UInt64) {
        data.persisted(upTo: seq)
        if config.durability == .fsync { metrics.walSyncs.increment() }
        if retryTimer != nil {
            logger.notice("store recovered; accepting writes again")
            metrics.storeHealthy.set(to: 1)
            retryTimer?.cancel()
            retryTimer = nil
        }
        let ready = ackableSeq
        let list = waiting
        waiting.removeAll(keepingCapacity: true)
        for s in list where !s.isClosed {
            s.release(upTo: ready)
            if s.hasHeldReplies { waiting.append(s) }
        }
        if shuttingDown && !data.hasUnpersisted { finishShutdown() }
    }

    /// A write failed (disk full, I/O error): refuse new writes, keep every reply that depends on
    /// unwritten updates, and retry every second until the store takes them.
    private func storeFailed(_ error: StoreError) {
        data.writeFailed(error)
        metrics.storeHealthy.set(to: 0)
        metrics.error("store_write")
        logger.error("store write failed; refusing writes until it recovers", metadata: ["error": "\(error)"])
        guard retryTimer == nil else { return }
        retryTimer = Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in writer.retry() }
    }

    /// Stops accepting, waits until every update is persisted, sends the replies that were
    /// waiting, and closes the clients; the loop stops once they are gone (at most ~2 s).
    public func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        listener?.close()
        http?.close()
        for s in signals { s.cancel() }
        if data.hasPending { data.flush(to: writer) }
        if !data.hasUnpersisted { finishShutdown() }
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
    public func drainBackgroundWork() { writer.waitUntilIdle() }
}
