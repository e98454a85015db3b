import ChainCore
import ChainVersion
import Prometheus

/// The server's Prometheus metrics. Counters are atomics, so incrementing them on the loop is
/// cheap; the registry renders the text format for `/metrics`.
final class ServerMetrics {
    fileprivate static func desc(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "chainstore", metricName: name, unitName: unit, helpText: help)
    }

    let registry = PrometheusCollectorRegistry()
    let connections: Gauge
    let connectionsAccepted: Counter
    let connectionsRejected: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let keysEstimate: Gauge
    let storeHealthy: Gauge
    /// `/healthz` and `/readyz` as gauges (set when `/metrics` is read).
    let serving: Gauge
    let ready: Gauge
    let walSyncs: Counter
    let storeWrites: Counter
    let storeEntries: Counter
    /// A command's counter and latency histogram (`command_duration_seconds{command}`, made on
    /// the command's first reply). A session keeps a command's index (`CommandIndex`) until the
    /// reply goes: a plain number, so queueing it costs no reference counting.
    final class CommandStats {
        let name: String
        let counter: Counter?
        var latency: ValueHistogram?

        init(name: String, counter: Counter?) {
            self.name = name
            self.counter = counter
        }
    }
    /// Index 0 is internal (`CS.*`) and unknown commands; then every `CommandID`.
    typealias CommandIndex = UInt16
    private let commandStats: [CommandStats]
    let readsServed: Counter
    let writesCommitted: Counter
    let forwarded: Counter
    let forwardsRerouted: Counter
    let retriesAnswered: Counter
    let writesTagged: Counter
    let writesHeldFrozen: Counter
    let peerLinksUp: Counter
    let peerAuthFailures: Counter
    let peerTurnFrames: Counter
    let joinsStarted: Counter
    let transferBytes: Counter
    /// Joins completed here, by how they caught up.
    let catchUpSuffix: Counter
    let catchUpSnapshot: Counter
    /// How late the loop ran a timer due every 100 ms (`LoopLagProbe`).
    let loopLag: ValueHistogram
    private let unknownCommands: Counter
    private var errorCounters: [String: Counter] = [:]
    private let closeCounters: [CloseReason: Counter]
    private var chainGauges: [ChainID: ChainGaugeSet] = [:]

    /// The gauges of one chain replica.
    struct ChainGaugeSet {
        let head, tail, applied, uncommitted, unacked, lag: Gauge
        var all: [Gauge] { [head, tail, applied, uncommitted, unacked, lag] }

        init(registry: PrometheusCollectorRegistry, chain: ChainID) {
            let labels = [("chain", "\(chain)")]
            func g(_ name: String, _ unit: String, _ help: String) -> Gauge {
                registry.makeGauge(descriptor: ServerMetrics.desc(name, unit, help), labels: labels)
            }
            head = g("chain_head", "", "1 while this node is the chain's head (takes its writes)")
            tail = g("chain_tail", "", "1 while this node is the chain's tail (commits, serves reads)")
            applied = g("chain_applied_seq", "", "Last update sequence applied here")
            uncommitted = g("chain_uncommitted_updates", "", "Updates applied here that the tail has not confirmed: replication lag in updates")
            unacked = g("chain_unacked_updates", "", "Updates sent to the successor and not acknowledged yet")
            lag = g("chain_replication_lag", "seconds", "Age of the oldest update applied here and not yet committed by the tail (sampled every 100 ms)")
        }
    }

    init() {
        connections = registry.makeGauge(descriptor: Self.desc("connections", "", "Open client connections"))
        connectionsAccepted = registry.makeCounter(descriptor: Self.desc("connections_accepted", "total", "Client connections accepted"))
        connectionsRejected = registry.makeCounter(descriptor: Self.desc("connections_rejected", "total", "Client connections refused because --max-clients was reached"))
        bytesIn = registry.makeCounter(descriptor: Self.desc("net_input", "bytes_total", "Bytes read from clients"))
        bytesOut = registry.makeCounter(descriptor: Self.desc("net_output", "bytes_total", "Bytes of replies sent to clients"))
        keysEstimate = registry.makeGauge(descriptor: Self.desc("keys_estimate", "", "RocksDB's estimate of live keys"))
        storeHealthy = registry.makeGauge(descriptor: Self.desc("store_healthy", "", "1 while the store accepts writes, 0 after a write or sync error"))
        serving = registry.makeGauge(descriptor: Self.desc("serving", "", "1 while /healthz answers 200: store writable and, in a cluster, configured with an unexpired lease"))
        ready = registry.makeGauge(descriptor: Self.desc("ready", "", "1 while /readyz answers 200: serving and a member of every chain it is placed in, no join or barrier pending"))
        registry.makeGauge(descriptor: Self.desc("build_info", "", "Always 1; the labels name the version and the commit"),
                               labels: [("version", BuildInfo.version), ("commit", BuildInfo.commit)]).set(to: 1)
        walSyncs = registry.makeCounter(descriptor: Self.desc("wal_syncs", "total", "Write-ahead log fsyncs (each covers a group of writes)"))
        storeWrites = registry.makeCounter(descriptor: Self.desc("store_write_batches", "total", "Batches written to RocksDB (one per loop turn with writes)"))
        storeEntries = registry.makeCounter(descriptor: Self.desc("store_entries", "total", "Entries written to RocksDB (puts, deletes, range deletions; each a memtable entry)"))
        readsServed = registry.makeCounter(descriptor: Self.desc("reads_served", "total", "Reads this node answered as a chain tail"))
        writesCommitted = registry.makeCounter(descriptor: Self.desc("writes_committed", "total", "Writes this node took as a chain head and answered after commit"))
        forwarded = registry.makeCounter(descriptor: Self.desc("forwarded", "total", "Requests relayed to the node that serves them"))
        forwardsRerouted = registry.makeCounter(descriptor: Self.desc("forwards_rerouted", "total", "Forwarded requests the other node refused without running them (the configuration changed on the way), routed again by this node"))
        retriesAnswered = registry.makeCounter(descriptor: Self.desc("retries_answered", "total", "Tagged writes answered from the recorded first result"))
        writesTagged = registry.makeCounter(descriptor: Self.desc("writes_tagged", "total", "Writes that reached this node as their chain's head with an idempotency tag (CS.REQ, CS.RETRY)"))
        writesHeldFrozen = registry.makeCounter(descriptor: Self.desc("writes_held_frozen", "total", "Client writes held while their chain was frozen for a reorder (answered once it reopened, or TRYAGAIN after a lease)"))
        peerLinksUp = registry.makeCounter(descriptor: Self.desc("peer_links_established", "total", "Authenticated peer connections established"))
        peerAuthFailures = registry.makeCounter(descriptor: Self.desc("peer_auth_failures", "total", "Peer connections refused (bad secret, bad frames, handshake timeout)"))
        peerTurnFrames = registry.makeCounter(descriptor: Self.desc("peer_turn_frames_received", "total", "Frames received that carried a loop turn's messages for several chains at once"))
        joinsStarted = registry.makeCounter(descriptor: Self.desc("chain_joins", "total", "Chains this node started joining (state transfer in)"))
        transferBytes = registry.makeCounter(descriptor: Self.desc("transfer_sent_bytes", "total", "Bytes of chain snapshots streamed to joining nodes"))
        catchUpSuffix = registry.makeCounter(descriptor: Self.desc("chain_catchups", "total", "Joins this node completed, by how it caught up"), labels: [("kind", "suffix")])
        catchUpSnapshot = registry.makeCounter(descriptor: Self.desc("chain_catchups", "total", "Joins this node completed, by how it caught up"), labels: [("kind", "snapshot")])
        loopLag = registry.makeValueHistogram(
            descriptor: Self.desc("event_loop_lag", "seconds", "How late the event loop ran a timer due every 100 ms: time it spent on something else (a long loop turn, waiting for a core)"),
            buckets: [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5])
        var stats = [CommandStats(name: "other", counter: nil)]
        for id in CommandID.allCases {
            precondition(id.rawValue + 1 == stats.count, "CommandID raw values are the declaration order")
            stats.append(CommandStats(name: id.name, counter: registry.makeCounter(descriptor: Self.desc("commands", "total", "Commands executed, by name"), labels: [("cmd", id.name)])))
        }
        commandStats = stats
        unknownCommands = registry.makeCounter(descriptor: Self.desc("commands", "total", "Commands executed, by name"), labels: [("cmd", "unknown")])
        var closes: [CloseReason: Counter] = [:]
        for r in CloseReason.allCases {
            closes[r] = registry.makeCounter(descriptor: Self.desc("client_closes", "total", "Client connections ended, by reason"), labels: [("reason", r.rawValue)])
        }
        closeCounters = closes
        storeHealthy.set(to: 1)
    }

    /// Counts a command (unless `counted`: a command run again after waiting) and returns the
    /// index its latency goes under.
    @discardableResult
    func command(_ id: CommandID?, counted: Bool = true) -> CommandIndex {
        guard let id else {
            if counted { unknownCommands.increment() }
            return 0
        }
        // `commandStats[0]` is "other"; a command's stats follow in declaration order.
        let i = id.rawValue + 1
        if counted { commandStats[i].counter?.increment() }
        return CommandIndex(i)
    }

    /// Counts an error reply by its kind (the first word: ERR, WRONGTYPE, NOPROTO…, or a finer
    /// kind the caller names).
    func error(_ kind: String) {
        if let c = errorCounters[kind] { c.increment(); return }
        let c = registry.makeCounter(descriptor: Self.desc("errors", "total", "Error replies and failures, by kind"), labels: [("kind", kind)])
        errorCounters[kind] = c
        c.increment()
    }

    func closed(_ reason: CloseReason) { closeCounters[reason]!.increment() }

    /// One chain replica held by this node, as `/metrics` reports it.
    struct ChainRow {
        var chain: ChainID
        var role: ChainRole
        var applied: UInt64
        var committed: UInt64
        var unacked: Int
        var lagMs: UInt64
    }

    /// Per-chain gauges, labelled by chain, refreshed when `/metrics` is read. A chain this node
    /// no longer holds loses its series (so a dashboard never shows a stale role or lag).
    func updateChains(_ rows: [ChainRow]) {
        let held = Set(rows.map(\.chain))
        for (chain, gauges) in chainGauges where !held.contains(chain) {
            for g in gauges.all { registry.unregisterGauge(g) }
            chainGauges.removeValue(forKey: chain)
        }
        for r in rows {
            let g = chainGauges[r.chain] ?? ChainGaugeSet(registry: registry, chain: r.chain)
            chainGauges[r.chain] = g
            g.head.set(to: r.role == .head || r.role == .single ? 1 : 0)
            g.tail.set(to: r.role == .tail || r.role == .single ? 1 : 0)
            g.applied.set(to: Double(r.applied))
            g.uncommitted.set(to: Double(r.applied &- min(r.applied, r.committed)))
            g.unacked.set(to: Double(r.unacked))
            g.lag.set(to: Double(r.lagMs) / 1000)
        }
    }

    /// Records one command (`command`: its `CommandIndex`) that took `nanos` from arrival to reply.
    func recordLatency(nanos: UInt64, command: CommandIndex) {
        let stats = commandStats[Int(command)]
        // In seconds as a Double: a duration histogram compares 128-bit durations with a call
        // per bucket, about 600 instructions a command in callgrind; this costs about a third.
        let seconds = Double(nanos) / 1e9
        if let h = stats.latency { return h.record(seconds) }
        let h = makeLatency(stats.name)
        stats.latency = h
        h.record(seconds)
    }

    private func makeLatency(_ name: String) -> ValueHistogram {
        registry.makeValueHistogram(
            descriptor: Self.desc("command_duration", "seconds", "From a command's arrival to its reply being released (includes waiting for commit and fsync), by command"),
            labels: [("command", name)],
            buckets: [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])
    }

    func render() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}
